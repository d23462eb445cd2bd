"""Locations, SKUs, stock, reservations, stock adjustments, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shopkit.outbox import create_messaging_tables

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("country", sa.Text, nullable=False),
        sa.Column("address", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("priority", sa.Integer, nullable=False, server_default="100"),
        sa.Column("click_and_collect", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="locations_pkey"),
        sa.CheckConstraint("type IN ('warehouse', 'store')", name="locations_type_check"),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name="locations_country_check"),
        sa.CheckConstraint("NOT click_and_collect OR type = 'store'", name="locations_click_and_collect_store_check"),
    )
    op.create_table(
        "skus",
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("low_stock_threshold", sa.BigInteger),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("sku", name="skus_pkey"),
        sa.CheckConstraint("low_stock_threshold >= 0", name="skus_low_stock_threshold_check"),
    )
    op.create_table(
        "stock",
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("location_id", sa.Text, nullable=False),
        sa.Column("on_hand", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("sku", "location_id", name="stock_pkey"),
        sa.ForeignKeyConstraint(["sku"], ["skus.sku"], name="stock_sku_fkey"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="stock_location_id_fkey"),
        sa.CheckConstraint("on_hand >= 0", name="stock_on_hand_check"),
        sa.CheckConstraint("reserved >= 0", name="stock_reserved_check"),
        sa.CheckConstraint("reserved <= on_hand", name="stock_reserved_le_on_hand_check"),
    )
    op.create_index("stock_location_id_idx", "stock", ["location_id"])
    op.create_table(
        "reservations",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("pickup_store_id", sa.Text),
        sa.Column("ship_country", sa.Text, nullable=False, server_default=""),
        sa.Column("allow_split", sa.Boolean, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("release_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="reservations_pkey"),
        sa.ForeignKeyConstraint(["pickup_store_id"], ["locations.id"], name="reservations_pickup_store_id_fkey"),
        sa.CheckConstraint("status IN ('active', 'committed', 'released', 'expired')", name="reservations_status_check"),
    )
    op.create_index("reservations_due_idx", "reservations", ["expires_at"],
                    postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "reservation_allocations",
        sa.Column("reservation_id", sa.Text, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("location_id", sa.Text, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("reservation_id", "sku", "location_id", name="reservation_allocations_pkey"),
        sa.ForeignKeyConstraint(["reservation_id"], ["reservations.id"], ondelete="CASCADE",
                                name="reservation_allocations_reservation_id_fkey"),
        sa.ForeignKeyConstraint(["sku", "location_id"], ["stock.sku", "stock.location_id"],
                                name="reservation_allocations_stock_fkey"),
        sa.CheckConstraint("quantity > 0", name="reservation_allocations_quantity_check"),
    )
    op.create_table(
        "stock_adjustments",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="stock_adjustments_pkey"),
        sa.CheckConstraint("kind IN ('adjust', 'restock')", name="stock_adjustments_kind_check"),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("stock_adjustments")
    op.drop_table("reservation_allocations")
    op.drop_table("reservations")
    op.drop_table("stock")
    op.drop_table("skus")
    op.drop_table("locations")
