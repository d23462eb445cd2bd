"""3-D Secure challenges: authorizations that require action (status requires_action, a client secret,
a capture asked for until the challenge is passed).

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

STATUS_CHECK = "authorizations_status_check"
SECRET_CHECK = "authorizations_client_secret_check"
BEFORE = "('authorized', 'declined', 'failed', 'captured', 'voided')"
AFTER = "('requires_action', 'authorized', 'declined', 'failed', 'captured', 'voided')"


def upgrade() -> None:
    op.add_column("authorizations", sa.Column("client_secret", sa.Text))
    op.add_column(
        "authorizations",
        sa.Column("capture_when_authenticated", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.drop_constraint(STATUS_CHECK, "authorizations", type_="check")
    op.create_check_constraint(STATUS_CHECK, "authorizations", f"status IN {AFTER}")
    op.create_check_constraint(
        SECRET_CHECK, "authorizations", "status <> 'requires_action' OR client_secret IS NOT NULL"
    )


def downgrade() -> None:
    # Authorizations still waiting for their challenge are cancelled, as a void would.
    op.execute("UPDATE authorizations SET status = 'voided' WHERE status = 'requires_action'")
    op.drop_constraint(SECRET_CHECK, "authorizations", type_="check")
    op.drop_constraint(STATUS_CHECK, "authorizations", type_="check")
    op.create_check_constraint(STATUS_CHECK, "authorizations", f"status IN {BEFORE}")
    op.drop_column("authorizations", "capture_when_authenticated")
    op.drop_column("authorizations", "client_secret")
