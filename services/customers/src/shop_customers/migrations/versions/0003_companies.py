"""B2B companies: their cost centres and members (buyers, approvers, company admins).

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


def _times() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("tax_id", sa.Text, nullable=False, server_default=""),
        sa.Column("payment_terms_days", sa.Integer, nullable=False, server_default="0"),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("credit_limit", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        *_times(),
        sa.CheckConstraint("status IN ('active', 'suspended')", name="companies_status_check"),
        sa.CheckConstraint("credit_limit >= 0 AND payment_terms_days >= 0", name="companies_amounts_check"),
        sa.PrimaryKeyConstraint("account_id", name="companies_pkey"),
    )
    op.create_table(
        "cost_centres",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "code", name="cost_centres_pkey"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["companies.account_id"], name="cost_centres_account_id_fkey", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "company_members",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("cost_centre", sa.Text, nullable=False, server_default=""),
        sa.Column("order_limit", sa.BigInteger),
        sa.Column("period_limit", sa.BigInteger),
        sa.Column("limit_period", sa.Text, nullable=False, server_default=""),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        *_times(),
        sa.CheckConstraint("role IN ('buyer', 'approver', 'company_admin')", name="company_members_role_check"),
        sa.CheckConstraint(
            "limit_period IN ('', 'day', 'week', 'month')", name="company_members_limit_period_check"
        ),
        sa.PrimaryKeyConstraint("account_id", "user_id", name="company_members_pkey"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["companies.account_id"], name="company_members_account_id_fkey", ondelete="CASCADE"
        ),
    )
    op.create_index("company_members_user_idx", "company_members", ["user_id"])


def downgrade() -> None:
    op.drop_table("company_members")
    op.drop_table("cost_centres")
    op.drop_table("companies")
