"""Carts, cart lines, AddCartLine request ids, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

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

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "carts",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", sa.Text),
        sa.Column("customer_group", sa.Text, nullable=False, server_default=""),
        sa.Column("account_id", sa.Text, nullable=False, server_default=""),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("country", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("coupon_code", sa.Text),
        sa.Column("coupon_applied", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("coupon_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("coupon_description", sa.Text, nullable=False, server_default=""),
        sa.Column("coupon_discount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("subtotal", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("discount_total", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("total", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("priced_at", TS, nullable=False),
        sa.Column("price_expires_at", TS, nullable=False),
        sa.Column("merged_into_cart_id", UUID(as_uuid=True)),
        sa.Column("checkout_id", sa.Text),
        sa.Column("order_id", sa.Text),
        sa.Column("guest_request_id", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_activity_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="carts_pkey"),
        sa.ForeignKeyConstraint(["merged_into_cart_id"], ["carts.id"], name="carts_merged_into_cart_id_fkey"),
        sa.UniqueConstraint("guest_request_id", name="carts_guest_request_id_key"),
        sa.CheckConstraint("status IN ('active', 'checked_out', 'merged', 'abandoned')", name="carts_status_check"),
        sa.CheckConstraint("version >= 1", name="carts_version_check"),
        sa.CheckConstraint("customer_id <> ''", name="carts_customer_id_check"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="carts_currency_check"),
        sa.CheckConstraint("coupon_code <> ''", name="carts_coupon_code_check"),
        sa.CheckConstraint("(status = 'merged') = (merged_into_cart_id IS NOT NULL)", name="carts_merged_into_check"),
        sa.CheckConstraint(
            "status <> 'checked_out' OR (checkout_id IS NOT NULL AND order_id IS NOT NULL)",
            name="carts_checked_out_check",
        ),
    )
    op.create_index(
        "carts_active_customer_key", "carts", ["customer_id"], unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("carts_idle_idx", "carts", ["last_activity_at"], postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "cart_lines",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("cart_id", UUID(as_uuid=True), nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("product_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sellability", sa.Text, nullable=False),
        sa.Column("tracks_stock", sa.Boolean, nullable=False),
        sa.Column("available", sa.BigInteger),
        sa.Column("unit_price", sa.BigInteger),
        sa.Column("original_price", sa.BigInteger),
        sa.Column("discount", sa.BigInteger),
        sa.Column("line_total", sa.BigInteger),
        sa.Column("shown_unit_price", sa.BigInteger),
        sa.Column("added_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="cart_lines_pkey"),
        sa.ForeignKeyConstraint(["cart_id"], ["carts.id"], ondelete="CASCADE", name="cart_lines_cart_id_fkey"),
        sa.UniqueConstraint("cart_id", "sku", name="cart_lines_cart_id_sku_key"),
        sa.UniqueConstraint("cart_id", "position", name="cart_lines_cart_id_position_key"),
        sa.CheckConstraint("quantity > 0", name="cart_lines_quantity_check"),
        sa.CheckConstraint(
            "sellability IN ('sellable', 'discontinued', 'not_sellable')", name="cart_lines_sellability_check"
        ),
        sa.CheckConstraint(
            "(unit_price IS NULL) = (original_price IS NULL) AND (unit_price IS NULL) = (discount IS NULL)"
            " AND (unit_price IS NULL) = (line_total IS NULL)",
            name="cart_lines_price_check",
        ),
    )
    op.create_table(
        "cart_requests",
        sa.Column("cart_id", UUID(as_uuid=True), nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("line_id", UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("cart_id", "request_id", name="cart_requests_pkey"),
        sa.ForeignKeyConstraint(["cart_id"], ["carts.id"], ondelete="CASCADE", name="cart_requests_cart_id_fkey"),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("cart_requests")
    op.drop_table("cart_lines")
    op.drop_table("carts")
