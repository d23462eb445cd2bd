"""Products: return window (days after delivery) and whether they may be returned at all.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "products", sa.Column("return_window_days", sa.Integer, nullable=False, server_default=sa.text("30"))
    )
    op.add_column("products", sa.Column("returnable", sa.Boolean, nullable=False, server_default=sa.true()))
    op.create_check_constraint(
        "products_return_window_days_check", "products", "return_window_days BETWEEN 0 AND 365"
    )


def downgrade() -> None:
    op.drop_constraint("products_return_window_days_check", "products", type_="check")
    op.drop_column("products", "returnable")
    op.drop_column("products", "return_window_days")
