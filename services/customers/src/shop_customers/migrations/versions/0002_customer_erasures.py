"""The log of customer erasures (EraseCustomer is idempotent by request id).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

"""
from typing import Sequence, Union

from alembic import op

from shopkit.personal_data import create_erasures_table

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    create_erasures_table(op)


def downgrade() -> None:
    op.drop_table("customer_erasures")
