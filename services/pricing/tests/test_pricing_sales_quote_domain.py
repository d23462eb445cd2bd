"""Sales quotes as a state machine: versions appended, the current version answered, expiry on read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shop_pricing.domain import sales_quotes as q
from shop_pricing.domain.sales_quotes import Line, QuoteRefused, SalesQuote, Status, Version, VersionKind

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BUYER = ("buyer-1", "b2b_buyer")
SALES = ("seller-1", "sales")


def requested() -> SalesQuote:
    first = Version(1, VersionKind.REQUEST, (Line("A-1", 10, 500), Line("B-1", 2, None)), "please", *BUYER, NOW)
    return SalesQuote(
        "q1", "Q-000001", "acme", "buyer-1", "USD", Status.REQUESTED, 1, "cart-1", NOW, NOW, versions=(first,)
    )


def offered(expires_at: datetime = NOW + timedelta(days=30)) -> SalesQuote:
    quote = requested()
    version = q.offer(quote, 1, {"A-1": 450, "B-1": 900}, expires_at, "deal", SALES, NOW)
    return SalesQuote(
        **{
            **quote.__dict__,
            "status": Status.OFFERED,
            "current_version": 2,
            "expires_at": expires_at,
            "versions": (*quote.versions, version),
        }
    )


def test_an_offer_is_a_new_version_that_prices_every_line() -> None:
    quote = offered()
    assert [v.kind for v in quote.versions] == [VersionKind.REQUEST, VersionKind.OFFER]
    assert quote.current.lines == (Line("A-1", 10, 450), Line("B-1", 2, 900))
    assert quote.current.total("USD").amount == 10 * 450 + 2 * 900
    assert quote.versions[0].lines[0].unit_amount == 500  # the request keeps its reference price


def test_an_offer_must_price_exactly_the_requested_lines_and_expire_within_90_days() -> None:
    quote = requested()
    problems = q.offer_problems(quote.current, {"A-1": 1, "Z-9": 2}, NOW + timedelta(days=91), NOW)
    assert [field for field, _ in problems] == ["lines", "lines", "expires_at"]
    assert "B-1" in problems[0][1] and "Z-9" in problems[1][1]
    assert q.offer_problems(quote.current, {"A-1": 0, "B-1": 0}, NOW - timedelta(seconds=1), NOW)[0][0] == "expires_at"
    assert q.offer_problems(quote.current, {"A-1": 0, "B-1": 0}, NOW + timedelta(days=90), NOW) == []


def test_answering_a_version_that_is_not_current_is_stale() -> None:
    quote = offered()
    with pytest.raises(QuoteRefused) as refused:
        q.accept(quote, 1, NOW)
    assert refused.value.reason == "QUOTE_VERSION_STALE"
    with pytest.raises(QuoteRefused) as refused:
        q.offer(quote, 2, {"A-1": 1, "B-1": 1}, NOW + timedelta(days=1), "", SALES, NOW)
    assert refused.value.reason == "QUOTE_NOT_REQUESTED"


def test_a_revision_changes_quantities_and_asks_again() -> None:
    quote = offered()
    revision = q.revise(quote, 2, {"A-1": 20, "B-1": 0}, "more A", BUYER, {"A-1": 480}, NOW)
    assert revision.number == 3 and revision.kind is VersionKind.REVISION
    assert revision.lines == (Line("A-1", 20, 480),)
    with pytest.raises(QuoteRefused) as refused:
        q.revise(quote, 2, {"Z-9": 1}, "", BUYER, {}, NOW)
    assert refused.value.reason == "QUOTE_LINE_UNKNOWN"
    with pytest.raises(QuoteRefused):
        q.revise(quote, 2, {"A-1": 0, "B-1": 0}, "", BUYER, {}, NOW)


def test_expiry_is_computed_on_read_and_refuses_acceptance() -> None:
    quote = offered(expires_at=NOW + timedelta(hours=1))
    later = NOW + timedelta(hours=2)
    assert quote.status_at(NOW) is Status.OFFERED and quote.status_at(later) is Status.EXPIRED
    with pytest.raises(QuoteRefused) as refused:
        q.accept(quote, 2, later)
    assert refused.value.reason == "QUOTE_EXPIRED"
    assert q.accept(quote, 2, NOW) is True


def test_an_accepted_quote_is_orderable_once_and_a_repeat_accept_changes_nothing() -> None:
    quote = offered()
    accepted = SalesQuote(**{**quote.__dict__, "status": Status.ACCEPTED})
    assert q.accept(accepted, 2, NOW) is False
    q.orderable(accepted, NOW)
    ordered = SalesQuote(**{**accepted.__dict__, "status": Status.ORDERED, "checkout_id": "co-1"})
    with pytest.raises(QuoteRefused) as refused:
        q.orderable(ordered, NOW)
    assert refused.value.reason == "QUOTE_ALREADY_ORDERED"
    with pytest.raises(QuoteRefused) as refused:
        q.orderable(quote, NOW)
    assert refused.value.reason == "QUOTE_NOT_ACCEPTED"
    with pytest.raises(QuoteRefused):
        q.decline(ordered, NOW)


def test_a_basket_must_be_the_quotes_line_for_line() -> None:
    quote = offered()
    assert q.mismatches(quote, [("A-1", 10), ("B-1", 2)]) == []
    assert q.mismatches(quote, [("A-1", 4), ("A-1", 6), ("B-1", 2)]) == []  # a SKU over two lines counts once
    assert q.mismatches(quote, [("A-1", 9), ("C-1", 1)]) == [
        "A-1: quantity 9, quoted 10",
        "B-1: missing (quoted 2)",
        "C-1: not on the quote",
    ]
