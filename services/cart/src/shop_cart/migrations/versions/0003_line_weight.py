"""Cart lines keep the catalog's shipping weight of their variant (pricing rates shipping by weight).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("cart_lines", sa.Column("weight_grams", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("cart_lines", "weight_grams")
