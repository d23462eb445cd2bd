"""The search projection's backfill: a stock version on `sku_stock` (inventory's per-SKU counter, which
orders a read of the totals against the events) and the backfill's one-row state (which run was asked
for, which one runs and how far it got, which one finished). A catalog that never ran one asks for the
first: the first replica that starts runs it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 17:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_stock", sa.Column("stock_version", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "search_backfill",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("requested", sa.BigInteger, nullable=False),
        sa.Column("started", sa.BigInteger, nullable=False),
        sa.Column("completed", sa.BigInteger, nullable=False),
        sa.Column("prices_token", sa.Text, nullable=False, server_default=""),
        sa.Column("prices_done", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("stock_token", sa.Text, nullable=False, server_default=""),
        sa.Column("stock_done", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("id = 1", name="search_backfill_one_row"),
        sa.CheckConstraint("completed <= started AND started <= requested", name="search_backfill_runs_ordered"),
    )
    op.execute("INSERT INTO search_backfill (id, requested, started, completed) VALUES (1, 1, 0, 0)")


def downgrade() -> None:
    op.drop_table("search_backfill")
    op.drop_column("sku_stock", "stock_version")
