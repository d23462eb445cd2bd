"""The sales quote an order was placed at (pricing's accepted quote; empty for none).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("sales_quote_id", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("orders", "sales_quote_id")
