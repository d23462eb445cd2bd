"""Invoices of invoice orders, the payments recorded against them, and one row per B2B account that
CreateOrder locks while it weighs an invoice order against the account's credit limit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE invoice_number_seq")
    op.execute(
        """
        CREATE FUNCTION next_invoice_number() RETURNS text LANGUAGE sql VOLATILE AS $$
          SELECT 'INV-' || lpad(n::text, greatest(6, length(n::text)), '0') FROM nextval('invoice_number_seq') AS n
        $$
        """
    )
    op.create_table(
        "invoices",
        sa.Column("number", sa.Text, primary_key=True, server_default=sa.text("next_invoice_number()")),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("order_id", UUID(as_uuid=False), sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("order_number", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terms_days", sa.Integer, nullable=False),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("subtotal", sa.BigInteger, nullable=False),
        sa.Column("discount_total", sa.BigInteger, nullable=False),
        sa.Column("shipping_total", sa.BigInteger, nullable=False),
        sa.Column("tax_total", sa.BigInteger, nullable=False),
        sa.Column("tax_included", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("billing_address", JSONB, nullable=False),
        sa.Column("purchase_order_number", sa.Text, nullable=False, server_default=""),
        sa.Column("amount_paid", sa.BigInteger, nullable=False, server_default="0"),
        sa.UniqueConstraint("order_id", name="invoices_order_id_key"),
        sa.CheckConstraint("terms_days >= 0 AND due_at >= issued_at", name="invoices_due_check"),
        sa.CheckConstraint("amount_paid BETWEEN 0 AND total", name="invoices_amount_paid_check"),
    )
    op.create_index("invoices_account_idx", "invoices", ["account_id", sa.text("seq DESC")])
    op.create_table(
        "invoice_payments",
        sa.Column("invoice_number", sa.Text, sa.ForeignKey("invoices.number", ondelete="CASCADE"), primary_key=True),
        sa.Column("idempotency_key", sa.Text, primary_key=True),
        sa.Column("payment_id", UUID(as_uuid=False), nullable=False, unique=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.Text, nullable=False, server_default=""),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_role", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Text, nullable=False, server_default=""),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.CheckConstraint("amount > 0", name="invoice_payments_amount_check"),
    )
    op.create_table(
        "credit_accounts",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("credit_accounts")
    op.drop_table("invoice_payments")
    op.drop_table("invoices")
    op.execute("DROP FUNCTION next_invoice_number()")
    op.execute("DROP SEQUENCE invoice_number_seq")
