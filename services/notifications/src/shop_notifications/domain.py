"""What a notification is and how its delivery proceeds: plain data and pure functions, no I/O."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr

from shopkit.money import Money, minor_units


class MailKind(enum.StrEnum):
    ORDER_CONFIRMATION = "order_confirmation"
    SHIPMENT = "shipment"
    REFUND = "refund"
    RETURN_RECEIVED = "return_received"
    APPROVAL_NEEDED = "approval_needed"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def format_money(money: Money) -> str:
    """`1,234.50 USD`: the currency's own minor units (JPY none, KWD three), grouped thousands, the
    ISO code after the amount (unambiguous in any language, unlike `$`)."""
    digits = minor_units(money.currency)
    sign = "-" if money.amount < 0 else ""
    major, minor = divmod(abs(money.amount), 10**digits)
    fraction = f".{minor:0{digits}d}" if digits else ""
    return f"{sign}{major:,}{fraction} {money.currency}"


@dataclass(frozen=True)
class Line:
    name: str
    sku: str
    quantity: int
    total: Money


@dataclass(frozen=True)
class OrderFacts:
    """What the mails tell about an order, as the order service holds it."""

    order_id: str
    number: str
    email: str
    account_id: str
    customer_id: str
    lines: tuple[Line, ...]
    subtotal: Money
    shipping: Money
    tax: Money
    discount: Money
    total: Money
    ship_to: tuple[str, ...] = ()  # address lines; empty for a pickup
    pickup_store: str = ""


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_number: str
    lines: tuple[tuple[str, int], ...]  # (line name, quantity shipped)


@dataclass(frozen=True)
class RefundFacts:
    amount: Money
    reason: str
    lines: tuple[tuple[str, int], ...]  # (line name, quantity returned); empty for a goodwill refund


@dataclass(frozen=True)
class ReturnFacts:
    lines: tuple[tuple[str, int], ...]  # (line name, quantity sent back)
    location: str  # where it was received (a store or a warehouse)


@dataclass(frozen=True)
class ApprovalStep:
    """The step of an order's approval chain that waits: which of how many, and who decides it."""

    number: int  # 1-based
    of: int
    name: str
    approvers: tuple[str, ...]  # empty: any approver of the account but the buyer
    quorum: int


@dataclass(frozen=True)
class ApprovalFacts:
    buyer: str  # the buyer's customer id
    limit: Money | None
    step: ApprovalStep | None = None  # None: the order carries no chain


@dataclass(frozen=True)
class Notice:
    """One mail to write: its kind, who gets it, and what its template is given."""

    kind: MailKind
    recipient: str
    order: OrderFacts
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def message_id(mail_id: uuid.UUID, sender: str) -> str:
    """The Message-ID header: fixed when the mail is written, so every attempt (and a resend after a
    crash between sending and recording it) carries the same one and mail clients show one mail."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "shop.invalid"
    return f"<{mail_id}@{domain}>"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base: timedelta
    ceiling: timedelta

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """After `attempts` failed attempts: when to try again (doubling pauses up to the ceiling),
        or None when the mail is to be given up."""
        if attempts >= self.max_attempts:
            return None
        pause: timedelta = min(self.ceiling, self.base * (2 ** max(0, attempts - 1)))
        return now + pause


def approval_recipient(account_id: str, approvers: dict[str, str], fallback: str) -> str:
    """Who decides a B2B order over the buyer's limit: the account's approvers' address when one is
    configured, else the shop's approvals desk. The order carries only the buyer's e-mail, and the
    buyer cannot approve their own order."""
    return approvers.get(account_id) or fallback
