"""The notifications service's tables (SQLAlchemy Core).

`mails` is both the record of what was told to whom and the send queue: a consumed event writes
its mail here (rendered, with its Message-ID) in the transaction that records the event in the
inbox, and the sender works through the rows that are due. `event_id` is UNIQUE, so an event
redelivered past the inbox (or the same event from two consumers) makes one mail at most.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from shopkit.outbox import inbox_table, outbox_table
from shopkit.personal_data import erasures_table

metadata = sa.MetaData(
    naming_convention={
        "pk": "%(table_name)s_pkey",
        "fk": "%(table_name)s_%(column_0_name)s_fkey",
        "ck": "%(table_name)s_%(constraint_name)s_check",
        "uq": "%(table_name)s_%(column_0_name)s_key",
        "ix": "%(table_name)s_%(column_0_name)s_idx",
    }
)

KINDS = "('order_confirmation', 'shipment', 'refund', 'return_received', 'approval_needed')"
STATUSES = "('pending', 'sent', 'failed')"

mails = sa.Table(
    "mails",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False, unique=True),
    sa.Column("order_id", sa.Text, nullable=False),
    # The order's customer (empty for a guest's order): whose mails an erasure deletes (migration 0002).
    sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False, unique=True),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(f"kind IN {KINDS}", name="kind"),
    sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
    sa.CheckConstraint("attempts >= 0", name="attempts"),
    sa.CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="sent_at"),
    # The sender's queue: only pending rows, by when they are due.
    sa.Index("mails_due_idx", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
    sa.Index("mails_order_idx", "order_id", sa.text("created_at DESC")),
    sa.Index("mails_created_idx", sa.text("created_at DESC"), sa.text("id DESC")),
    sa.Index("mails_customer_idx", "customer_id", postgresql_where=sa.text("customer_id <> ''")),
)

WEBHOOK_STATUSES = "('pending', 'delivered', 'dead')"

# Outbound webhooks (`webhooks`): the subscriptions, one delivery per (webhook, event) — the queue of
# the webhook sender, like `mails` — and the log of every HTTP attempt.
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", ARRAY(sa.Text), nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    # The creator's request id: a retried create answers the webhook it made (NULL: none given).
    sa.Column("request_id", sa.Text, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("webhooks_created_idx", sa.text("created_at DESC"), sa.text("id DESC")),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("webhook_id", UUID(as_uuid=True), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # the JSON body, fixed when the event arrived
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    # One delivery per webhook and event, whatever the event stream redelivers.
    sa.UniqueConstraint("webhook_id", "event_id", name="webhook_deliveries_event_key"),
    sa.CheckConstraint(f"status IN {WEBHOOK_STATUSES}", name="status"),
    sa.CheckConstraint("attempts >= 0", name="attempts"),
    sa.Index("webhook_deliveries_due_idx", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
    sa.Index("webhook_deliveries_webhook_idx", "webhook_id", sa.text("created_at DESC"), sa.text("id DESC")),
    sa.Index("webhook_deliveries_created_idx", "created_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "delivery_id",
        UUID(as_uuid=True),
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),  # 0: no answer
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("response_body", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

inbox = inbox_table(metadata)
# Only for shop.notifications.customer_erased: the service publishes nothing else.
outbox = outbox_table(metadata)
customer_erasures = erasures_table(metadata)
