"""Sales quotes: protobuf <-> domain, request validation (every problem at once) and their events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from shop.pricing.v1 import events_pb2, pricing_pb2
from shop_pricing import store
from shop_pricing.domain.sales_quotes import MAX_NOTE, QuoteRefused, SalesQuote, Status, Version, VersionKind
from shop_pricing.mapping import MAX_TEXT, money, timestamp
from shopkit import identifiers
from shopkit.errors import FailedPrecondition, FieldViolation, InvalidArgument, Violations
from shopkit.money import is_currency
from shopkit.outbox import add_event

SALES_QUOTE_REQUESTED = "shop.pricing.sales_quote_requested"
SALES_QUOTE_OFFERED = "shop.pricing.sales_quote_offered"
SALES_QUOTE_ACCEPTED = "shop.pricing.sales_quote_accepted"
SALES_QUOTE_DECLINED = "shop.pricing.sales_quote_declined"

STATUS_PB = {
    Status.REQUESTED: pricing_pb2.SALES_QUOTE_STATUS_REQUESTED,
    Status.OFFERED: pricing_pb2.SALES_QUOTE_STATUS_OFFERED,
    Status.ACCEPTED: pricing_pb2.SALES_QUOTE_STATUS_ACCEPTED,
    Status.ORDERED: pricing_pb2.SALES_QUOTE_STATUS_ORDERED,
    Status.DECLINED: pricing_pb2.SALES_QUOTE_STATUS_DECLINED,
    Status.EXPIRED: pricing_pb2.SALES_QUOTE_STATUS_EXPIRED,
}
STATUS_FROM_PB = {value: key for key, value in STATUS_PB.items()}
KIND_PB = {
    VersionKind.REQUEST: pricing_pb2.SALES_QUOTE_VERSION_KIND_REQUEST,
    VersionKind.OFFER: pricing_pb2.SALES_QUOTE_VERSION_KIND_OFFER,
    VersionKind.REVISION: pricing_pb2.SALES_QUOTE_VERSION_KIND_REVISION,
}


def refused(error: QuoteRefused, quote: SalesQuote) -> FailedPrecondition:
    return FailedPrecondition(
        error.message, reason=error.reason, metadata={"quote_id": quote.quote_id, "number": quote.number}
    )


def version_to_pb(version: Version, currency: str) -> pricing_pb2.SalesQuoteVersion:
    message = pricing_pb2.SalesQuoteVersion(
        version=version.number,
        kind=KIND_PB[version.kind],
        note=version.note,
        author_id=version.author_id,
        author_role=version.author_role,
        created_at=timestamp(version.created_at),
        expires_at=timestamp(version.expires_at),
        total=money(version.total(currency).amount, currency),
    )
    for line in version.lines:
        item = message.lines.add(sku=line.sku, quantity=line.quantity)
        if line.unit_amount is not None:
            item.unit_price.CopyFrom(money(line.unit_amount, currency))
    return message


def quote_to_pb(quote: SalesQuote, now: datetime) -> pricing_pb2.SalesQuote:
    return pricing_pb2.SalesQuote(
        quote_id=quote.quote_id,
        number=quote.number,
        account_id=quote.account_id,
        buyer_id=quote.buyer_id,
        currency=quote.currency,
        status=STATUS_PB[quote.status_at(now)],
        current_version=quote.current_version,
        expires_at=timestamp(quote.expires_at),
        cart_id=quote.cart_id,
        checkout_id=quote.checkout_id,
        versions=[version_to_pb(v, quote.currency) for v in quote.versions],
        created_at=timestamp(quote.created_at),
        updated_at=timestamp(quote.updated_at),
    )


# --- validation -----------------------------------------------------------------------------------


def check_note(note: str, violations: Violations, field: str = "note") -> str:
    violations.check(len(note) <= MAX_NOTE, field, f"must be at most {MAX_NOTE} characters")
    return note.strip()


def check_request_id(value: str, violations: Violations, field: str = "request_id") -> None:
    violations.check(
        8 <= len(value) <= 128 and value.isprintable(), field, "must be 8-128 printable characters (an idempotency key)"
    )


def check_quote_id(value: str, violations: Violations, field: str = "quote_id") -> None:
    violations.check(0 < len(value) <= MAX_TEXT, field, f"must be 1-{MAX_TEXT} characters")


def check_version(value: int, violations: Violations, field: str = "version") -> None:
    violations.check(value >= 1, field, "must be the quote's current version (1 or more)")


def offered_prices(lines: Sequence[pricing_pb2.OfferedPrice], currency: str, violations: Violations) -> dict[str, int]:
    prices: dict[str, int] = {}
    violations.check(len(lines) > 0, "lines", "must price every line of the requested version")
    for index, line in enumerate(lines):
        field = f"lines[{index}]"
        identifiers.check_sku(violations, line.sku, f"{field}.sku")
        violations.check(line.sku not in prices, f"{field}.sku", "is priced twice")
        violations.check(line.HasField("unit_price"), f"{field}.unit_price", "is required")
        violations.check(line.unit_price.amount >= 0, f"{field}.unit_price.amount", "must not be negative")
        violations.check(
            line.unit_price.currency == currency,
            f"{field}.unit_price.currency",
            f"must be the quote's currency {currency}",
        )
        prices[line.sku] = line.unit_price.amount
    return prices


def revised_quantities(lines: Sequence[pricing_pb2.RevisedLine], violations: Violations) -> dict[str, int]:
    quantities: dict[str, int] = {}
    for index, line in enumerate(lines):
        field = f"lines[{index}]"
        identifiers.check_sku(violations, line.sku, f"{field}.sku")
        violations.check(line.sku not in quantities, f"{field}.sku", "is listed twice")
        violations.check(
            0 <= line.quantity <= 1_000_000, f"{field}.quantity", "must be between 0 (drop the line) and 1000000"
        )
        quantities[line.sku] = line.quantity
    return quantities


def statuses(values: Sequence[int]) -> list[Status]:
    by_number = {int(number): status for number, status in STATUS_FROM_PB.items()}
    unknown = [index for index, value in enumerate(values) if value not in by_number]
    if unknown:
        raise InvalidArgument([FieldViolation(f"statuses[{unknown[0]}]", "is not a sales quote status")])
    return [by_number[value] for value in values]


def fingerprint(cart_id: str, lines: Sequence[tuple[str, int]], currency: str, note: str) -> str:
    """What a request id asked for: the same id with another basket is a reuse, not a retry."""
    body = json.dumps({"cart": cart_id, "lines": sorted(lines), "currency": currency, "note": note})
    return hashlib.sha256(body.encode()).hexdigest()


def currency_of(context_currency: str, default: str, violations: Violations) -> str:
    currency = context_currency or default
    violations.check(is_currency(currency), "context.currency", "must be an ISO-4217 code like USD")
    return currency


# --- events ---------------------------------------------------------------------------------------


async def publish_requested(conn: AsyncConnection, quote: SalesQuote) -> None:
    version = quote.current
    message = events_pb2.SalesQuoteRequested(
        quote_id=quote.quote_id,
        number=quote.number,
        account_id=quote.account_id,
        buyer_id=quote.buyer_id,
        version=version.number,
        note=version.note,
    )
    await add_event(conn, store.outbox, SALES_QUOTE_REQUESTED, message, quote.quote_id)


async def publish_offered(conn: AsyncConnection, quote: SalesQuote) -> None:
    version = quote.current
    message = events_pb2.SalesQuoteOffered(
        quote_id=quote.quote_id,
        number=quote.number,
        account_id=quote.account_id,
        version=version.number,
        total=version.total(quote.currency).to_proto(),
        expires_at=timestamp(version.expires_at),
        offered_by=version.author_id,
    )
    await add_event(conn, store.outbox, SALES_QUOTE_OFFERED, message, quote.quote_id)


async def publish_accepted(conn: AsyncConnection, quote: SalesQuote, accepted_by: str) -> None:
    version = quote.current
    message = events_pb2.SalesQuoteAccepted(
        quote_id=quote.quote_id,
        number=quote.number,
        account_id=quote.account_id,
        version=version.number,
        total=version.total(quote.currency).to_proto(),
        expires_at=timestamp(quote.expires_at),
        accepted_by=accepted_by,
    )
    await add_event(conn, store.outbox, SALES_QUOTE_ACCEPTED, message, quote.quote_id)


async def publish_declined(conn: AsyncConnection, quote: SalesQuote, declined_by: str, note: str) -> None:
    message = events_pb2.SalesQuoteDeclined(
        quote_id=quote.quote_id,
        number=quote.number,
        account_id=quote.account_id,
        version=quote.current.number,
        declined_by=declined_by,
        note=note,
    )
    await add_event(conn, store.outbox, SALES_QUOTE_DECLINED, message, quote.quote_id)
