"""A stock version per SKU: the counter StockLevelChanged and ListStockTotals carry, so that a reader
(catalog's search projection) orders a read of the totals against the events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A constant default: no table rewrite, the column is added at once whatever the number of SKUs.
    op.add_column("skus", sa.Column("stock_version", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("skus", "stock_version")
