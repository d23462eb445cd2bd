"""Tax of each line and whether prices include it: where they do (EU VAT) the tax is part of the total,
not added to it.

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

AMOUNTS = "subtotal >= 0 AND discount_total >= 0 AND shipping_total >= 0 AND tax_total >= 0 AND total >= 0"


def upgrade() -> None:
    op.add_column("orders", sa.Column("tax_included", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.drop_constraint("orders_totals_check", "orders", type_="check")
    op.create_check_constraint(
        "orders_totals_check",
        "orders",
        f"{AMOUNTS} AND total = subtotal - discount_total + shipping_total "
        "+ CASE WHEN tax_included THEN 0 ELSE tax_total END",
    )
    op.add_column("order_lines", sa.Column("tax", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_check_constraint("order_lines_tax_check", "order_lines", "tax >= 0")


def downgrade() -> None:
    op.drop_constraint("order_lines_tax_check", "order_lines", type_="check")
    op.drop_column("order_lines", "tax")
    op.drop_constraint("orders_totals_check", "orders", type_="check")
    op.execute("DELETE FROM orders WHERE tax_included AND tax_total > 0")  # cannot hold the old rule
    op.create_check_constraint(
        "orders_totals_check", "orders", f"{AMOUNTS} AND total = subtotal - discount_total + shipping_total + tax_total"
    )
    op.drop_column("orders", "tax_included")
