"""Sales quotes (request for quote) as a pure state machine.

A B2B buyer asks for a quote on a basket (version 1, REQUESTED); a sales user answers the current
version with a unit price per line and an expiry (a new version, OFFERED); the buyer accepts the
current offer, declines, or asks for a revision (a new version, REQUESTED again). An accepted quote
is ordered once, through checkout (ORDERED; the saga's compensation makes it ACCEPTED again).
Versions are appended, never rewritten. Expiry is computed on read: an offered or accepted quote
past its expires_at *is* expired, whatever its stored status says (no sweep has to run first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shopkit.money import Money

MAX_OFFER_DAYS = 90
MAX_NOTE = 2000


class Status(StrEnum):
    REQUESTED = "requested"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    ORDERED = "ordered"
    DECLINED = "declined"
    EXPIRED = "expired"  # never stored: what an offered or accepted quote past its expiry reads as


class VersionKind(StrEnum):
    REQUEST = "request"
    OFFER = "offer"
    REVISION = "revision"


# Who may act on a quote: the account's buyers, and the shop's sales users (admins act as sales).
BUYER_ROLES = ("b2b_buyer", "b2b_approver")
SALES_ROLES = ("sales", "admin", "service")


class QuoteRefused(Exception):
    """The quote is not in a state the operation needs (FAILED_PRECONDITION with `reason`)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    unit_amount: int | None  # an offer's price; a request's reference price (None: the SKU had none)


@dataclass(frozen=True)
class Version:
    number: int
    kind: VersionKind
    lines: tuple[Line, ...]
    note: str
    author_id: str
    author_role: str
    created_at: datetime
    expires_at: datetime | None = None  # offers only

    def total(self, currency: str) -> Money:
        amounts = (line.unit_amount * line.quantity for line in self.lines if line.unit_amount is not None)
        return Money(sum(amounts), currency)


@dataclass(frozen=True)
class SalesQuote:
    quote_id: str
    number: str
    account_id: str
    buyer_id: str
    currency: str
    status: Status  # as stored (see status_at)
    current_version: int
    cart_id: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    checkout_id: str = ""
    versions: tuple[Version, ...] = ()

    def status_at(self, now: datetime) -> Status:
        expired = self.expires_at is not None and self.expires_at <= now
        if expired and self.status in (Status.OFFERED, Status.ACCEPTED):
            return Status.EXPIRED
        return self.status

    @property
    def current(self) -> Version:
        return self.versions[-1]


def _require_current(quote: SalesQuote, version: int) -> None:
    if version != quote.current_version:
        raise QuoteRefused(
            "QUOTE_VERSION_STALE",
            f"version {version} is not the current version of quote {quote.number} ({quote.current_version})",
        )


def _require_status(quote: SalesQuote, now: datetime, wanted: Status, reason: str) -> None:
    status = quote.status_at(now)
    if status is Status.EXPIRED:
        raise QuoteRefused("QUOTE_EXPIRED", f"the offer of quote {quote.number} expired at {quote.expires_at}")
    if status is not wanted:
        raise QuoteRefused(reason, f"quote {quote.number} is {status.value}, not {wanted.value}")


def offer_problems(
    requested: Version, prices: Mapping[str, int], expires_at: datetime, now: datetime
) -> list[tuple[str, str]]:
    """(field, description) for an offer that does not price exactly the requested lines, or whose
    expiry is not within (now, now + MAX_OFFER_DAYS]."""
    problems: list[tuple[str, str]] = []
    wanted = {line.sku for line in requested.lines}
    missing = sorted(wanted - set(prices))
    if missing:
        problems.append(("lines", f"every requested line needs a price; missing: {', '.join(missing)}"))
    extra = sorted(set(prices) - wanted)
    if extra:
        problems.append(("lines", f"not lines of version {requested.number}: {', '.join(extra)}"))
    if expires_at <= now:
        problems.append(("expires_at", "must be in the future"))
    elif expires_at > now + timedelta(days=MAX_OFFER_DAYS):
        problems.append(("expires_at", f"must be at most {MAX_OFFER_DAYS} days ahead"))
    return problems


def offer(
    quote: SalesQuote,
    version: int,
    prices: Mapping[str, int],
    expires_at: datetime,
    note: str,
    author: tuple[str, str],
    now: datetime,
) -> Version:
    """The offer answering the current, requested version (prices checked by `offer_problems`)."""
    _require_current(quote, version)
    _require_status(quote, now, Status.REQUESTED, "QUOTE_NOT_REQUESTED")
    lines = tuple(Line(line.sku, line.quantity, prices[line.sku]) for line in quote.current.lines)
    return Version(version + 1, VersionKind.OFFER, lines, note, author[0], author[1], now, expires_at)


def same_offer(made: Version, prices: Mapping[str, int], expires_at: datetime, author_id: str) -> bool:
    """Whether `made` is the offer a repeated OfferSalesQuote asks for (a retry answers the quote)."""
    return (
        made.kind is VersionKind.OFFER
        and made.author_id == author_id
        and made.expires_at == expires_at
        and {line.sku: line.unit_amount for line in made.lines} == dict(prices)
    )


def revise(
    quote: SalesQuote,
    version: int,
    quantities: Mapping[str, int],
    note: str,
    author: tuple[str, str],
    reference: Mapping[str, int],
    now: datetime,
) -> Version:
    """The buyer's revision request on the current offer: quantities changed as asked (0 drops a
    line), each line at today's `reference` price."""
    _require_current(quote, version)
    _require_status(quote, now, Status.OFFERED, "QUOTE_NOT_OFFERED")
    unknown = sorted(set(quantities) - {line.sku for line in quote.current.lines})
    if unknown:
        raise QuoteRefused("QUOTE_LINE_UNKNOWN", f"not lines of quote {quote.number}: {', '.join(unknown)}")
    lines = tuple(
        Line(line.sku, quantities.get(line.sku, line.quantity), reference.get(line.sku))
        for line in quote.current.lines
        if quantities.get(line.sku, line.quantity) > 0
    )
    if not lines:
        raise QuoteRefused("QUOTE_EMPTY", "a revision must keep at least one line")
    return Version(version + 1, VersionKind.REVISION, lines, note, author[0], author[1], now)


def accept(quote: SalesQuote, version: int, now: datetime) -> bool:
    """Whether accepting changes anything: False for a repeat on the accepted version."""
    if quote.status_at(now) in (Status.ACCEPTED, Status.ORDERED) and version == quote.current_version:
        return False
    _require_current(quote, version)
    _require_status(quote, now, Status.OFFERED, "QUOTE_NOT_OFFERED")
    return True


def decline(quote: SalesQuote, now: datetime) -> bool:
    """Whether declining changes anything (False: already declined). Ordered quotes stay ordered."""
    status = quote.status_at(now)
    if status is Status.DECLINED:
        return False
    if status is Status.ORDERED:
        raise QuoteRefused("QUOTE_ALREADY_ORDERED", f"quote {quote.number} was ordered")
    return True


def orderable(quote: SalesQuote, now: datetime) -> None:
    """An accepted, unexpired quote (what Quote and RedeemSalesQuote need)."""
    status = quote.status_at(now)
    if status is Status.ORDERED:
        raise QuoteRefused("QUOTE_ALREADY_ORDERED", f"quote {quote.number} was already ordered")
    _require_status(quote, now, Status.ACCEPTED, "QUOTE_NOT_ACCEPTED")


def mismatches(quote: SalesQuote, lines: Sequence[tuple[str, int]]) -> list[str]:
    """How a basket differs from the accepted lines (SKU and quantity); empty when it is the quote's."""
    wanted = {line.sku: line.quantity for line in quote.current.lines}
    have: dict[str, int] = {}
    for sku, quantity in lines:
        have[sku] = have.get(sku, 0) + quantity
    found = []
    for sku in sorted(set(wanted) | set(have)):
        if sku not in have:
            found.append(f"{sku}: missing (quoted {wanted[sku]})")
        elif sku not in wanted:
            found.append(f"{sku}: not on the quote")
        elif have[sku] != wanted[sku]:
            found.append(f"{sku}: quantity {have[sku]}, quoted {wanted[sku]}")
    return found
