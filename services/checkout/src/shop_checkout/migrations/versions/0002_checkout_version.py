"""A version per checkout row, bumped by every write of its state.

The saga runner keeps the checkout in memory while it holds the lease and writes each step with one
conditional UPDATE (its lease and the version it read); an event handler's write in between bumps
the version, so the runner notices and re-applies its step to the row as it is now.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("checkouts", sa.Column("version", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("checkouts", "version")
