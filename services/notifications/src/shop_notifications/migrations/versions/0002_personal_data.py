"""A customer's mails: their customer id (what an erasure finds them by), the log of erasures, and
the outbox of the one event the service publishes (shop.notifications.customer_erased).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from shopkit.outbox import outbox_table
from shopkit.personal_data import create_erasures_table

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("mails", sa.Column("customer_id", sa.Text(), nullable=False, server_default=""))
    op.create_index(
        "mails_customer_idx", "mails", ["customer_id"], postgresql_where=sa.text("customer_id <> ''")
    )
    create_erasures_table(op)
    outbox_table(sa.MetaData()).create(op.get_bind())


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("customer_erasures")
    op.drop_index("mails_customer_idx", table_name="mails")
    op.drop_column("mails", "customer_id")
