"""An index for the retention sweep of AddCartLine request ids.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("cart_requests_created_at_idx", "cart_requests", ["created_at"], postgresql_using="brin")


def downgrade() -> None:
    op.drop_index("cart_requests_created_at_idx", table_name="cart_requests")
