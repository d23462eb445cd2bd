"""Attempts of one idempotency key: a checkout that failed for a retryable reason (a service stayed
unreachable past the retry budget) runs again under the same key as a new row, attempt 2, 3, ...

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CONSTRAINT = "checkouts_idempotency_key"


def upgrade() -> None:
    op.add_column("checkouts", sa.Column("attempt", sa.Integer, nullable=False, server_default="1"))
    op.drop_constraint(CONSTRAINT, "checkouts", type_="unique")
    op.create_unique_constraint(CONSTRAINT, "checkouts", ["customer_key", "idempotency_key", "attempt"])


def downgrade() -> None:
    op.execute("DELETE FROM checkouts WHERE attempt > 1")
    op.drop_constraint(CONSTRAINT, "checkouts", type_="unique")
    op.create_unique_constraint(CONSTRAINT, "checkouts", ["customer_key", "idempotency_key"])
    op.drop_column("checkouts", "attempt")
