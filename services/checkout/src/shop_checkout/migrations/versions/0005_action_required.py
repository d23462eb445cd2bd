"""Checkouts waiting for the customer's action (3-D Secure): status action_required, a held status
(hold_expires_at is its deadline, swept with the other holds).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STATUS_CHECK = "checkouts_status_check"
HOLD_CHECK = "checkouts_hold_expiry_check"
HOLD_INDEX = "checkouts_hold_expires_at_idx"
STATUSES = "('action_required', 'compensating', 'completed', 'failed', 'pending_approval', 'pending_review', 'running')"
HELD = "('action_required', 'pending_approval', 'pending_review')"
STATUSES_BEFORE = "('compensating', 'completed', 'failed', 'pending_approval', 'pending_review', 'running')"
HELD_BEFORE = "('pending_approval', 'pending_review')"


def _constraints(statuses: str, held: str) -> None:
    op.drop_constraint(STATUS_CHECK, "checkouts", type_="check")
    op.drop_constraint(HOLD_CHECK, "checkouts", type_="check")
    op.drop_index(HOLD_INDEX, table_name="checkouts")
    op.create_check_constraint(STATUS_CHECK, "checkouts", f"status IN {statuses}")
    op.create_check_constraint(HOLD_CHECK, "checkouts", f"status NOT IN {held} OR hold_expires_at IS NOT NULL")
    op.create_index(HOLD_INDEX, "checkouts", ["hold_expires_at"], postgresql_where=sa.text(f"status IN {held}"))


def upgrade() -> None:
    _constraints(STATUSES, HELD)


def downgrade() -> None:
    # A checkout still waiting for its customer holds a reservation and an authorisation that only this
    # version undoes: let them be answered or expire first.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM checkouts WHERE status = 'action_required') THEN "
        "RAISE EXCEPTION 'checkouts wait for their customers'' action: downgrade once none does'; "
        "END IF; END $$"
    )
    _constraints(STATUSES_BEFORE, HELD_BEFORE)
