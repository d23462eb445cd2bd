"""Payment methods, authorizations, captures, refunds and stored idempotent responses.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("brand", sa.Text, nullable=False),
        sa.Column("last4", sa.Text, nullable=False),
        sa.Column("exp_month", sa.SmallInteger, nullable=False),
        sa.Column("exp_year", sa.SmallInteger, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("country", sa.Text, nullable=False),
        sa.Column("billing_country", sa.Text),
        sa.Column("behaviour", sa.Text, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="payment_methods_pkey"),
        sa.CheckConstraint("last4 ~ '^[0-9]{4}$'", name="payment_methods_last4_check"),
        sa.CheckConstraint("exp_month BETWEEN 1 AND 12", name="payment_methods_exp_month_check"),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name="payment_methods_country_check"),
        sa.CheckConstraint("billing_country ~ '^[A-Z]{2}$'", name="payment_methods_billing_country_check"),
        sa.CheckConstraint(
            "behaviour IN ('succeed', 'card_declined', 'insufficient_funds', 'require_3ds', 'processing_error')",
            name="payment_methods_behaviour_check",
        ),
    )
    op.create_table(
        "authorizations",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("payment_method_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("amount_captured", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("amount_refunded", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("decline_code", sa.Text),
        sa.Column("failure_code", sa.Text),
        sa.Column("three_d_secure_authenticated", sa.Boolean),
        sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("idempotency_key", sa.Text),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="authorizations_pkey"),
        sa.ForeignKeyConstraint(["payment_method_id"], ["payment_methods.id"],
                                name="authorizations_payment_method_id_fkey"),
        sa.CheckConstraint("status IN ('authorized', 'declined', 'failed', 'captured', 'voided')",
                           name="authorizations_status_check"),
        sa.CheckConstraint("amount > 0", name="authorizations_amount_check"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="authorizations_currency_check"),
        sa.CheckConstraint("amount_captured BETWEEN 0 AND amount", name="authorizations_amount_captured_check"),
        sa.CheckConstraint("amount_refunded BETWEEN 0 AND amount_captured",
                           name="authorizations_amount_refunded_check"),
        sa.CheckConstraint("(status = 'captured') = (amount_captured > 0)", name="authorizations_captured_check"),
        sa.CheckConstraint("(status = 'declined') = (decline_code IS NOT NULL)",
                           name="authorizations_decline_code_check"),
        sa.CheckConstraint("(status = 'failed') = (failure_code IS NOT NULL)",
                           name="authorizations_failure_code_check"),
    )
    op.create_index("authorizations_idempotency_key_idx", "authorizations", ["idempotency_key"],
                    postgresql_where=sa.text("idempotency_key IS NOT NULL"))
    op.create_table(
        "captures",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("authorization_id", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="captures_pkey"),
        sa.ForeignKeyConstraint(["authorization_id"], ["authorizations.id"], name="captures_authorization_id_fkey"),
        sa.UniqueConstraint("authorization_id", name="captures_authorization_id_key"),
        sa.CheckConstraint("amount > 0", name="captures_amount_check"),
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("authorization_id", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="refunds_pkey"),
        sa.ForeignKeyConstraint(["authorization_id"], ["authorizations.id"], name="refunds_authorization_id_fkey"),
        sa.CheckConstraint("amount > 0", name="refunds_amount_check"),
    )
    op.create_index("refunds_authorization_id_idx", "refunds", ["authorization_id", "created_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.SmallInteger, nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("key", "endpoint", name="idempotency_keys_pkey"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("refunds")
    op.drop_table("captures")
    op.drop_index("authorizations_idempotency_key_idx", table_name="authorizations")
    op.drop_table("authorizations")
    op.drop_table("payment_methods")
