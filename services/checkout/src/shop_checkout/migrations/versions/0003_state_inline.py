"""Keep the saga state in the row (compressed) instead of a TOAST table.

A checkout's state is about 5 kB of JSON, 2-3 kB compressed: just over the size at which PostgreSQL
moves a value out of line. Out of line, each of the saga's writes inserts new TOAST chunks and
deletes the old ones; inline (storage MAIN) it is one row version. MAIN still moves a value out of
line when the row would not fit a page otherwise.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("ALTER TABLE checkouts ALTER COLUMN state SET STORAGE MAIN")


def downgrade() -> None:
    op.execute("ALTER TABLE checkouts ALTER COLUMN state SET STORAGE EXTENDED")
