"""Customers, their saved addresses and payment methods; the outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from shopkit.outbox import create_messaging_tables

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _times() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        sa.Column("email", sa.Text, nullable=False, server_default=""),
        sa.Column("phone", sa.Text, nullable=False, server_default=""),
        sa.Column("locale", sa.Text, nullable=False, server_default=""),
        sa.Column("currency", sa.Text, nullable=False, server_default=""),
        sa.Column("country", sa.Text, nullable=False, server_default=""),
        sa.Column("marketing_consent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("marketing_consent_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        *_times(),
        sa.PrimaryKeyConstraint("customer_id", name="customers_pkey"),
    )
    op.create_table(
        "addresses",
        sa.Column("address_id", UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("line1", sa.Text, nullable=False),
        sa.Column("line2", sa.Text, nullable=False, server_default=""),
        sa.Column("city", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False, server_default=""),
        sa.Column("postal_code", sa.Text, nullable=False, server_default=""),
        sa.Column("country", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False, server_default=""),
        sa.Column("default_shipping", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("default_billing", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        *_times(),
        sa.PrimaryKeyConstraint("address_id", name="addresses_pkey"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.customer_id"], name="addresses_customer_id_fkey", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("customer_id", "request_id", name="addresses_request_key"),
    )
    op.create_index("addresses_customer_idx", "addresses", ["customer_id", "created_at"])
    op.create_index(
        "addresses_default_shipping_key", "addresses", ["customer_id"], unique=True,
        postgresql_where=sa.text("default_shipping"),
    )
    op.create_index(
        "addresses_default_billing_key", "addresses", ["customer_id"], unique=True,
        postgresql_where=sa.text("default_billing"),
    )
    op.create_table(
        "payment_methods",
        sa.Column("payment_method_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("brand", sa.Text, nullable=False),
        sa.Column("last4", sa.Text, nullable=False),
        sa.Column("exp_month", sa.Integer, nullable=False),
        sa.Column("exp_year", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("payment_method_id", name="payment_methods_pkey"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.customer_id"], name="payment_methods_customer_id_fkey", ondelete="CASCADE"
        ),
        sa.CheckConstraint("last4 ~ '^[0-9]{4}$'", name="payment_methods_last4_check"),
    )
    op.create_index("payment_methods_customer_idx", "payment_methods", ["customer_id", "created_at"])
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
    op.drop_table("payment_methods")
    op.drop_table("addresses")
    op.drop_table("customers")
