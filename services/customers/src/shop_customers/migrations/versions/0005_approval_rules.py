"""Approval rules of B2B companies: which orders wait for whom.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "approval_rules",
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("min_total_amount", sa.BigInteger),
        sa.Column("min_total_currency", sa.Text),
        sa.Column("cost_centre", sa.Text, nullable=False, server_default=""),
        sa.Column("category_id", sa.Text, nullable=False, server_default=""),
        sa.Column("approvers", ARRAY(sa.Text), nullable=False),
        sa.Column("quorum", sa.Integer, nullable=False),
        sa.Column("hold_days", sa.Integer, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("rule_id", name="approval_rules_pkey"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["companies.account_id"], name="approval_rules_account_id_fkey", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("account_id", "request_id", name="approval_rules_request_key"),
        sa.CheckConstraint(
            "(min_total_amount IS NULL) = (min_total_currency IS NULL)", name="approval_rules_min_total_check"
        ),
        sa.CheckConstraint("quorum >= 1 AND hold_days BETWEEN 1 AND 92", name="approval_rules_step_check"),
    )
    op.create_index("approval_rules_account_idx", "approval_rules", ["account_id", "position"])


def downgrade() -> None:
    op.drop_table("approval_rules")
