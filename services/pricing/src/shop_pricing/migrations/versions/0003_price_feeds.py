"""ERP price-list feeds: the feed jobs (status, counts, the worker's lease) and their lines (the uploaded
line, then its outcome), as shopkit.feeds declares them (prefix "price_feed").

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

"""

from typing import Sequence, Union

from alembic import op

from shopkit.feeds import create_feed_tables, drop_feed_tables

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    create_feed_tables(op.get_bind(), "price_feed")


def downgrade() -> None:
    drop_feed_tables(op.get_bind(), "price_feed")
