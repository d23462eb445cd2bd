"""Sales quotes (request for quote): the quotes, their versions (appended, never updated: a trigger
refuses changes) and the checkouts' redemptions; quote numbers from a sequence ("Q-000001").

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _stamp(name: str) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def upgrade() -> None:
    op.execute("CREATE SEQUENCE sales_quote_number_seq")
    op.create_table(
        "sales_quotes",
        sa.Column("quote_id", sa.Text(), primary_key=True),
        sa.Column("number", sa.Text(), nullable=False, unique=True),
        sa.Column("account_id", sa.Text(), nullable=False),
        sa.Column("buyer_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("cart_id", sa.Text(), nullable=False),
        sa.Column("checkout_id", sa.Text(), nullable=False, server_default=""),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("request_fingerprint", sa.Text(), nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('requested', 'offered', 'accepted', 'ordered', 'declined')", name="sales_quotes_status"
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="sales_quotes_currency_code"),
        sa.CheckConstraint("current_version >= 1", name="sales_quotes_version_positive"),
        sa.CheckConstraint("(status = 'ordered') = (checkout_id <> '')", name="sales_quotes_ordered_by_checkout"),
        sa.CheckConstraint(
            "status NOT IN ('offered', 'accepted', 'ordered') OR expires_at IS NOT NULL",
            name="sales_quotes_offer_expiry",
        ),
        sa.UniqueConstraint("account_id", "request_id", name="sales_quotes_request_once"),
    )
    op.create_index("sales_quotes_by_account", "sales_quotes", ["account_id", "created_at"])
    op.create_index("sales_quotes_by_status", "sales_quotes", ["status", "created_at"])
    op.create_table(
        "sales_quote_versions",
        sa.Column("quote_id", sa.Text(), sa.ForeignKey("sales_quotes.quote_id"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("lines", JSONB(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("author_id", sa.Text(), nullable=False),
        sa.Column("author_role", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        _stamp("created_at"),
        sa.CheckConstraint("kind IN ('request', 'offer', 'revision')", name="sales_quote_versions_kind"),
        sa.CheckConstraint("(kind = 'offer') = (expires_at IS NOT NULL)", name="sales_quote_versions_offer_expiry"),
    )
    op.create_table(
        "sales_quote_redemptions",
        sa.Column("checkout_id", sa.Text(), primary_key=True),
        sa.Column("quote_id", sa.Text(), sa.ForeignKey("sales_quotes.quote_id")),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True)),
        sa.Column("released_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('active', 'released')", name="sales_quote_redemptions_status"),
        sa.CheckConstraint(
            "status = 'released' OR quote_id IS NOT NULL", name="sales_quote_redemptions_active_quote"
        ),
    )
    op.execute(
        """
        CREATE FUNCTION sales_quote_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'sales quote versions are never rewritten' USING ERRCODE = 'integrity_constraint_violation';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER sales_quote_versions_append_only BEFORE UPDATE OR DELETE ON sales_quote_versions"
        " FOR EACH ROW EXECUTE FUNCTION sales_quote_versions_append_only()"
    )


def downgrade() -> None:
    op.drop_table("sales_quote_redemptions")
    op.drop_table("sales_quote_versions")
    op.execute("DROP FUNCTION sales_quote_versions_append_only()")
    op.drop_table("sales_quotes")
    op.execute("DROP SEQUENCE sales_quote_number_seq")
