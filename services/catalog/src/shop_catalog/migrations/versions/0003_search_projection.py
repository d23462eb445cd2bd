"""The search projection: base prices and stock levels per SKU (from pricing's and inventory's events)
and what search filters, sorts and counts by per product (lowest price per currency, in stock or not).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 13:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sku_prices",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("audit_id", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount >= 0", name="sku_prices_amount_non_negative"),
    )
    op.create_table(
        "sku_stock",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("total_available", sa.BigInteger, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "product_prices",
        sa.Column(
            "product_id", UUID(as_uuid=True), sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
    )
    op.create_index("product_prices_currency_amount", "product_prices", ["currency", "amount", "product_id"])
    op.create_table(
        "product_stock",
        sa.Column(
            "product_id", UUID(as_uuid=True), sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("in_stock", sa.Boolean, nullable=False),
    )
    # The sort orders' keysets (the slug order has products_status_slug and the unique slug).
    op.create_index("products_created_id", "products", ["created_at", "id"])
    op.create_index("products_name_id", "products", ["name", "id"])
    # Products that exist already: in stock when a variant is not stock-tracked (no event will come).
    op.execute(
        "INSERT INTO product_stock (product_id, in_stock)"
        " SELECT p.id, coalesce(bool_or(NOT v.track_inventory), false)"
        " FROM products p LEFT JOIN variants v ON v.product_id = p.id GROUP BY p.id"
    )


def downgrade() -> None:
    op.drop_index("products_name_id", "products")
    op.drop_index("products_created_id", "products")
    op.drop_table("product_stock")
    op.drop_table("product_prices")
    op.drop_table("sku_stock")
    op.drop_table("sku_prices")
