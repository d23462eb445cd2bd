"""Orders, lines, fulfilments, refunds, history, owed effects, outbox and inbox; the state machine
as a trigger.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shopkit.outbox import create_messaging_tables

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ORDER_STATUSES = "('pending_review', 'pending_approval', 'confirmed', 'partially_fulfilled', 'fulfilled', " \
                 "'completed', 'cancelled', 'refunded')"
PAYMENT_STATUSES = "('authorised', 'captured', 'voided', 'refunded', 'partially_refunded', 'invoiced')"
FULFILMENT_STATUSES = "('unfulfilled', 'partially_fulfilled', 'fulfilled', 'not_required')"
CANCELLATION_REASONS = "('customer_request', 'merchant', 'fraud_rejected', 'approval_rejected', 'hold_expired', " \
                       "'checkout_failed')"
CHANGES = "('created', 'fraud_hold_released', 'approved', 'rejected', 'cancelled', 'payment_captured', " \
          "'payment_voided', 'fulfilled', 'refunded', 'completed')"

# The transition tables of shop_order.domain.machine (a test compares the two).
TRANSITIONS = [
    ("order", "pending_review", "pending_approval"),
    ("order", "pending_review", "confirmed"),
    ("order", "pending_review", "cancelled"),
    ("order", "pending_approval", "confirmed"),
    ("order", "pending_approval", "cancelled"),
    ("order", "confirmed", "partially_fulfilled"),
    ("order", "confirmed", "fulfilled"),
    ("order", "confirmed", "cancelled"),
    ("order", "partially_fulfilled", "fulfilled"),
    ("order", "fulfilled", "completed"),
    ("order", "fulfilled", "refunded"),
    ("order", "completed", "refunded"),
    ("payment", "authorised", "captured"),
    ("payment", "authorised", "voided"),
    ("payment", "captured", "partially_refunded"),
    ("payment", "captured", "refunded"),
    ("payment", "partially_refunded", "refunded"),
    ("payment", "invoiced", "partially_refunded"),
    ("payment", "invoiced", "refunded"),
    ("fulfilment", "unfulfilled", "partially_fulfilled"),
    ("fulfilment", "unfulfilled", "fulfilled"),
    ("fulfilment", "unfulfilled", "not_required"),
    ("fulfilment", "partially_fulfilled", "fulfilled"),
]


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.execute("CREATE SEQUENCE order_number_seq")
    op.execute(
        """
        CREATE FUNCTION next_order_number() RETURNS text LANGUAGE sql VOLATILE AS $$
          SELECT 'SO-' || lpad(n::text, greatest(6, length(n::text)), '0') FROM nextval('order_number_seq') AS n
        $$
        """
    )
    pairs = ",\n            ".join(f"('{kind}', '{a}', '{b}')" for kind, a, b in TRANSITIONS)
    op.execute(
        f"""
        CREATE FUNCTION order_transition_allowed(kind text, from_status text, to_status text)
        RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
          SELECT from_status = to_status
              OR (kind = 'payment' AND from_status = 'partially_refunded' AND to_status = 'partially_refunded')
              OR (kind, from_status, to_status) IN (VALUES
            {pairs})
        $$
        """
    )
    op.create_table(
        "orders",
        sa.Column("id", UUID(as_uuid=False), nullable=False),
        sa.Column("number", sa.Text, nullable=False, server_default=sa.text("next_order_number()")),
        sa.Column("checkout_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
        sa.Column("account_id", sa.Text, nullable=False, server_default=""),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("payment_status", sa.Text, nullable=False),
        sa.Column("fulfilment_status", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("subtotal", sa.BigInteger, nullable=False),
        sa.Column("discount_total", sa.BigInteger, nullable=False),
        sa.Column("shipping_total", sa.BigInteger, nullable=False),
        sa.Column("tax_total", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("coupon_code", sa.Text, nullable=False, server_default=""),
        sa.Column("ship_to", JSONB),
        sa.Column("pickup_store_id", sa.Text),
        sa.Column("billing_address", JSONB, nullable=False),
        sa.Column("payment_kind", sa.Text, nullable=False),
        sa.Column("payment_method_id", sa.Text, nullable=False, server_default=""),
        sa.Column("authorisation_id", sa.Text, nullable=False, server_default=""),
        sa.Column("purchase_order_number", sa.Text, nullable=False, server_default=""),
        sa.Column("authorised_amount", sa.BigInteger, nullable=False),
        sa.Column("captured_amount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("refunded_amount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("approval_status", sa.Text, nullable=False),
        sa.Column("approval_limit", sa.BigInteger),
        sa.Column("approval_decided_by", sa.Text, nullable=False, server_default=""),
        sa.Column("approval_note", sa.Text, nullable=False, server_default=""),
        sa.Column("approval_decided_at", sa.DateTime(timezone=True)),
        sa.Column("fraud_review_id", sa.Text, nullable=False, server_default=""),
        sa.Column("fraud_hold_released", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("cancellation_reason", sa.Text),
        sa.Column("reservation_id", sa.Text, nullable=False, server_default=""),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        *_timestamps(),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="orders_pkey"),
        sa.UniqueConstraint("number", name="orders_number_key"),
        sa.UniqueConstraint("checkout_id", name="orders_checkout_id_key"),
        sa.CheckConstraint(f"status IN {ORDER_STATUSES}", name="orders_status_check"),
        sa.CheckConstraint(f"payment_status IN {PAYMENT_STATUSES}", name="orders_payment_status_check"),
        sa.CheckConstraint(f"fulfilment_status IN {FULFILMENT_STATUSES}", name="orders_fulfilment_status_check"),
        sa.CheckConstraint("version >= 1", name="orders_version_check"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="orders_currency_check"),
        sa.CheckConstraint(
            "subtotal >= 0 AND discount_total >= 0 AND shipping_total >= 0 AND tax_total >= 0 AND total >= 0 "
            "AND total = subtotal - discount_total + shipping_total + tax_total",
            name="orders_totals_check",
        ),
        sa.CheckConstraint("(ship_to IS NULL) <> (pickup_store_id IS NULL)", name="orders_fulfilment_method_check"),
        # Money: nothing captured beyond the authorisation, nothing refunded beyond what was paid.
        sa.CheckConstraint(
            "authorised_amount >= 0 AND captured_amount BETWEEN 0 AND authorised_amount AND refunded_amount >= 0 "
            "AND refunded_amount <= CASE WHEN payment_kind = 'invoice' THEN total ELSE captured_amount END",
            name="orders_amounts_check",
        ),
        sa.CheckConstraint(
            "(payment_kind = 'card' AND payment_status IN ('authorised', 'captured', 'voided', "
            "'partially_refunded', 'refunded') AND (captured_amount > 0) = (payment_status IN ('captured', "
            "'partially_refunded', 'refunded'))) OR (payment_kind = 'invoice' AND payment_status IN ('invoiced', "
            "'partially_refunded', 'refunded') AND captured_amount = 0)",
            name="orders_payment_kind_check",
        ),
        sa.CheckConstraint(
            "(payment_status = 'refunded') = (refunded_amount > 0 AND refunded_amount = "
            "CASE WHEN payment_kind = 'invoice' THEN total ELSE captured_amount END)",
            name="orders_refunded_check",
        ),
        # The three statuses fit together (see shop_order.domain.machine.consistent).
        sa.CheckConstraint(
            "CASE status "
            "WHEN 'partially_fulfilled' THEN fulfilment_status = 'partially_fulfilled' "
            "WHEN 'cancelled' THEN fulfilment_status = 'not_required' "
            "WHEN 'fulfilled' THEN fulfilment_status = 'fulfilled' "
            "WHEN 'completed' THEN fulfilment_status = 'fulfilled' "
            "WHEN 'refunded' THEN fulfilment_status = 'fulfilled' AND payment_status = 'refunded' "
            "ELSE fulfilment_status = 'unfulfilled' END",
            name="orders_status_fulfilment_check",
        ),
        sa.CheckConstraint(
            "(status = 'cancelled' OR payment_status <> 'voided') "
            "AND (status <> 'cancelled' OR payment_status NOT IN ('authorised', 'captured')) "
            "AND (status NOT IN ('pending_review', 'pending_approval') OR payment_status IN ('authorised', 'invoiced'))",
            name="orders_status_payment_check",
        ),
        sa.CheckConstraint(
            f"(status = 'cancelled') = (cancellation_reason IS NOT NULL) "
            f"AND (cancellation_reason IS NULL OR cancellation_reason IN {CANCELLATION_REASONS})",
            name="orders_cancellation_reason_check",
        ),
        sa.CheckConstraint(
            "approval_status IN ('not_required', 'pending', 'approved', 'rejected') "
            "AND (status <> 'pending_approval' OR approval_status = 'pending') "
            "AND (approval_status = 'not_required' OR account_id <> '')",
            name="orders_approval_check",
        ),
        sa.CheckConstraint(
            "(status <> 'pending_review' OR fraud_review_id <> '') AND (NOT fraud_hold_released OR fraud_review_id <> '')",
            name="orders_fraud_review_check",
        ),
        sa.CheckConstraint("(status = 'fulfilled') <= (fulfilled_at IS NOT NULL)", name="orders_fulfilled_at_check"),
    )
    op.create_index(
        "orders_customer_idx", "orders", ["customer_id", sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("customer_id <> ''"),
    )
    op.create_index(
        "orders_account_idx", "orders", ["account_id", sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("account_id <> ''"),
    )
    op.create_index("orders_created_idx", "orders", [sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("orders_fulfilled_idx", "orders", ["fulfilled_at"], postgresql_where=sa.text("status = 'fulfilled'"))
    op.execute(
        """
        CREATE FUNCTION orders_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NOT order_transition_allowed('order', OLD.status, NEW.status) THEN
            RAISE EXCEPTION 'order status cannot go from % to %', OLD.status, NEW.status
              USING ERRCODE = 'check_violation';
          END IF;
          IF NOT order_transition_allowed('payment', OLD.payment_status, NEW.payment_status) THEN
            RAISE EXCEPTION 'payment status cannot go from % to %', OLD.payment_status, NEW.payment_status
              USING ERRCODE = 'check_violation';
          END IF;
          IF NOT order_transition_allowed('fulfilment', OLD.fulfilment_status, NEW.fulfilment_status) THEN
            RAISE EXCEPTION 'fulfilment status cannot go from % to %', OLD.fulfilment_status, NEW.fulfilment_status
              USING ERRCODE = 'check_violation';
          END IF;
          IF NEW.version <> OLD.version + 1 THEN
            RAISE EXCEPTION 'an order update must increase its version by one (% -> %)', OLD.version, NEW.version
              USING ERRCODE = 'check_violation';
          END IF;
          RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER orders_transition BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION orders_check_transition()"
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", UUID(as_uuid=False), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("line_id", UUID(as_uuid=False), nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("product_id", sa.Text, nullable=False, server_default=""),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("discount", sa.BigInteger, nullable=False),
        sa.Column("line_total", sa.BigInteger, nullable=False),
        sa.Column("fulfilled_quantity", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("refunded_quantity", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("order_id", "position", name="order_lines_pkey"),
        sa.UniqueConstraint("line_id", name="order_lines_line_id_key"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE", name="order_lines_order_id_fkey"),
        sa.CheckConstraint("quantity >= 1", name="order_lines_quantity_check"),
        sa.CheckConstraint("fulfilled_quantity BETWEEN 0 AND quantity", name="order_lines_fulfilled_quantity_check"),
        sa.CheckConstraint(
            "refunded_quantity BETWEEN 0 AND fulfilled_quantity", name="order_lines_refunded_quantity_check"
        ),
        sa.CheckConstraint("unit_price >= 0 AND discount >= 0", name="order_lines_prices_check"),
        sa.CheckConstraint(
            "line_total = unit_price * quantity - discount AND line_total >= 0", name="order_lines_line_total_check"
        ),
    )
    op.create_table(
        "fulfilments",
        sa.Column("order_id", UUID(as_uuid=False), nullable=False),
        sa.Column("fulfilment_id", sa.Text, nullable=False),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("location_id", sa.Text, nullable=False, server_default=""),
        sa.Column("carrier", sa.Text, nullable=False, server_default=""),
        sa.Column("tracking_number", sa.Text, nullable=False, server_default=""),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "fulfilment_id", name="fulfilments_pkey"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE", name="fulfilments_order_id_fkey"),
    )
    op.create_table(
        "refunds",
        sa.Column("order_id", UUID(as_uuid=False), nullable=False),
        sa.Column("refund_id", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("provider_refund_id", sa.Text, nullable=False, server_default=""),
        sa.Column("fingerprint", sa.Text, nullable=False, server_default=""),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "refund_id", name="refunds_pkey"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE", name="refunds_order_id_fkey"),
        sa.CheckConstraint("amount > 0", name="refunds_amount_check"),
    )
    op.create_table(
        "order_history",
        sa.Column("order_id", UUID(as_uuid=False), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("change", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("previous_status", sa.Text),
        sa.Column("payment_status", sa.Text, nullable=False),
        sa.Column("fulfilment_status", sa.Text, nullable=False),
        sa.Column("actor_role", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Text, nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "sequence", name="order_history_pkey"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE", name="order_history_order_id_fkey"),
        sa.CheckConstraint("sequence >= 1", name="order_history_sequence_check"),
        sa.CheckConstraint(f"change IN {CHANGES}", name="order_history_change_check"),
        sa.CheckConstraint(f"status IN {ORDER_STATUSES}", name="order_history_status_check"),
        sa.CheckConstraint(
            f"previous_status IS NULL OR previous_status IN {ORDER_STATUSES}", name="order_history_previous_status_check"
        ),
        sa.CheckConstraint(f"payment_status IN {PAYMENT_STATUSES}", name="order_history_payment_status_check"),
        sa.CheckConstraint(
            f"fulfilment_status IN {FULFILMENT_STATUSES}", name="order_history_fulfilment_status_check"
        ),
    )
    op.create_table(
        "order_effects",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("order_id", UUID(as_uuid=False), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("refund_id", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("reference", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="order_effects_pkey"),
        sa.UniqueConstraint("idempotency_key", name="order_effects_idempotency_key_key"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE", name="order_effects_order_id_fkey"),
        sa.CheckConstraint("kind IN ('capture', 'void', 'refund', 'release_stock')", name="order_effects_kind_check"),
        sa.CheckConstraint("target IN ('payment', 'inventory')", name="order_effects_target_check"),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'superseded')", name="order_effects_status_check"
        ),
        sa.CheckConstraint("amount >= 0 AND attempts >= 0", name="order_effects_counts_check"),
    )
    op.create_index(
        "order_effects_due_idx", "order_effects", ["next_attempt_at"], postgresql_where=sa.text("status = 'pending'")
    )
    op.create_index(
        "order_effects_pending_idx", "order_effects", ["order_id", "target", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("order_effects")
    op.drop_table("order_history")
    op.drop_table("refunds")
    op.drop_table("fulfilments")
    op.drop_table("order_lines")
    op.drop_table("orders")
    op.execute("DROP FUNCTION orders_check_transition()")
    op.execute("DROP FUNCTION order_transition_allowed(text, text, text)")
    op.execute("DROP FUNCTION next_order_number()")
    op.execute("DROP SEQUENCE order_number_seq")
