"""The sales-quote RPCs (request for quote), mixed into the PricingService servicer.

Buyers (b2b_buyer, b2b_approver) act on their own account's quotes: another account's quote is
NOT_FOUND to them. Sales users (sales) and admins answer every account's. Ordering a quote (checkout's
Quote, redemption and release) is `sales_quote_orders`. Each change locks the quote row, appends a
version when it makes one, and stages its event in the same transaction. The state rules are
domain.sales_quotes'.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc

from shop.pricing.v1 import pricing_pb2
from shop_pricing import mapping
from shop_pricing import sales_quote_mapping as sqm
from shop_pricing.domain import sales_quotes as domain
from shop_pricing.domain.sales_quotes import BUYER_ROLES, SALES_ROLES, QuoteRefused, SalesQuote, Status
from shop_pricing.domain.selection import CustomerScope, SelectedPrice
from shop_pricing.paging import cursor_value, split_page
from shop_pricing.settings import PricingSettings
from shop_pricing.store import sales_quotes as quote_store
from shopkit.auth import Caller, require_role
from shopkit.db import Database, DriverConnection
from shopkit.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound, Violations
from shopkit.pagination import page_size

Context = grpc.aio.ServicerContext[Any, Any]
EVERYONE = (*BUYER_ROLES, *SALES_ROLES)


def _author(who: Caller) -> tuple[str, str]:
    return who.customer_id or who.identity or who.role, who.role


def _visible(quote: SalesQuote | None, who: Caller, quote_id: str) -> SalesQuote:
    """The quote, if the caller may see it: buyers only their account's (others: NOT_FOUND)."""
    if quote is None or (who.role in BUYER_ROLES and quote.account_id != who.account_id):
        raise NotFound("sales_quote", quote_id)
    return quote


class SalesQuotes:
    """RequestSalesQuote, OfferSalesQuote, RequestSalesQuoteRevision, AcceptSalesQuote, DeclineSalesQuote,
    GetSalesQuote and ListSalesQuotes."""

    db: Database
    settings: PricingSettings

    def _published(self) -> None:
        raise NotImplementedError

    async def _select(
        self, conn: DriverConnection, quantities: dict[str, int], customer: CustomerScope, now: datetime
    ) -> dict[str, SelectedPrice]:
        raise NotImplementedError

    async def _reference(self, quantities: dict[str, int], customer: CustomerScope, now: datetime) -> dict[str, int]:
        """Today's unit prices of the lines for the buyer (for reference on a request version)."""
        async with self.db.driver() as conn:
            selected = await self._select(conn, quantities, customer, now)
        return {sku: price.unit_price.amount for sku, price in selected.items()}

    async def RequestSalesQuote(
        self, request: pricing_pb2.RequestSalesQuoteRequest, context: Context
    ) -> pricing_pb2.RequestSalesQuoteResponse:
        who = require_role(context, BUYER_ROLES)
        violations = Violations()
        sqm.check_request_id(request.request_id, violations)
        sqm.check_quote_id(request.cart_id, violations, "cart_id")
        lines = mapping.quantities(
            [(line.sku, line.quantity) for line in request.lines],
            "lines",
            violations,
            self.settings.max_lines,
            zero_means_one=False,
        )
        skus = [sku for sku, _ in lines]
        for index, sku in enumerate(skus):
            violations.check(sku not in skus[:index], f"lines[{index}].sku", "is listed twice")
        note = sqm.check_note(request.note, violations)
        customer = mapping.customer_scope(request.context, self.settings.default_currency, violations)
        violations.check(bool(who.account_id), "context.account_id", "a B2B buyer's account is required")
        violations.raise_if_any()
        customer = CustomerScope(
            customer.currency,
            customer.customer_group,
            who.account_id,
            customer.channel,
            customer.country,
            who.customer_id,
        )
        fingerprint = sqm.fingerprint(request.cart_id, lines, customer.currency, note)
        now = datetime.now(UTC)
        async with self.db.transaction() as conn:
            found = await quote_store.by_request(conn, who.account_id, request.request_id)
            if found is None:
                reference = await self._reference(dict(lines), customer, now)
                first = domain.Version(
                    1,
                    domain.VersionKind.REQUEST,
                    tuple(domain.Line(sku, quantity, reference.get(sku)) for sku, quantity in lines),
                    note,
                    *_author(who),
                    now,
                )
                quote = await quote_store.create(
                    conn,
                    account_id=who.account_id,
                    buyer_id=who.customer_id,
                    currency=customer.currency,
                    cart_id=request.cart_id,
                    request_id=request.request_id,
                    fingerprint=fingerprint,
                    first=first,
                )
                if quote is not None:
                    await sqm.publish_requested(conn, quote)
                    found = quote, fingerprint
                else:  # the same request id committed concurrently
                    found = await quote_store.by_request(conn, who.account_id, request.request_id)
            assert found is not None  # made now, or by the concurrent request that took the id
            quote, stored = found
            if stored != fingerprint:
                raise AlreadyExists(
                    "this request id asked for another quote",
                    reason="REQUEST_ID_REUSED",
                    metadata={"resource": "sales_quote", "key": request.request_id},
                )
        self._published()
        return pricing_pb2.RequestSalesQuoteResponse(quote=sqm.quote_to_pb(quote, now))

    async def OfferSalesQuote(
        self, request: pricing_pb2.OfferSalesQuoteRequest, context: Context
    ) -> pricing_pb2.OfferSalesQuoteResponse:
        who = require_role(context, SALES_ROLES)
        violations = Violations()
        sqm.check_quote_id(request.quote_id, violations)
        sqm.check_version(request.version, violations)
        violations.check(request.HasField("expires_at"), "expires_at", "is required")
        note = sqm.check_note(request.note, violations)
        violations.raise_if_any()
        expires_at = request.expires_at.ToDatetime(tzinfo=UTC)
        now = datetime.now(UTC)
        async with self.db.transaction() as conn:
            quote = _visible(await quote_store.get(conn, request.quote_id, lock=True), who, request.quote_id)
            prices = sqm.offered_prices(request.lines, quote.currency, violations)
            if request.version < quote.current_version and not violations.items:  # a retried offer: the quote as it is
                made = quote.versions[request.version] if request.version < len(quote.versions) else None
                if made is not None and domain.same_offer(made, prices, expires_at, _author(who)[0]):
                    return pricing_pb2.OfferSalesQuoteResponse(quote=sqm.quote_to_pb(quote, now))
            if request.version == quote.current_version:  # lines and expiry judged against what it answers
                for field, description in domain.offer_problems(quote.current, prices, expires_at, now):
                    violations.check(False, field, description)
            violations.raise_if_any()
            try:
                version = domain.offer(quote, request.version, prices, expires_at, note, _author(who), now)
            except QuoteRefused as error:
                raise sqm.refused(error, quote) from None
            quote = await quote_store.append(conn, quote.quote_id, version, Status.OFFERED)
            await sqm.publish_offered(conn, quote)
        self._published()
        return pricing_pb2.OfferSalesQuoteResponse(quote=sqm.quote_to_pb(quote, now))

    async def RequestSalesQuoteRevision(
        self, request: pricing_pb2.RequestSalesQuoteRevisionRequest, context: Context
    ) -> pricing_pb2.RequestSalesQuoteRevisionResponse:
        who = require_role(context, BUYER_ROLES)
        violations = Violations()
        sqm.check_quote_id(request.quote_id, violations)
        sqm.check_version(request.version, violations)
        note = sqm.check_note(request.note, violations)
        quantities = sqm.revised_quantities(request.lines, violations)
        violations.raise_if_any()
        now = datetime.now(UTC)
        async with self.db.transaction() as conn:
            quote = _visible(await quote_store.get(conn, request.quote_id, lock=True), who, request.quote_id)
            if request.version < quote.current_version:
                made = quote.versions[request.version] if request.version < len(quote.versions) else None
                if made is not None and made.kind is domain.VersionKind.REVISION and made.note == note:
                    return pricing_pb2.RequestSalesQuoteRevisionResponse(quote=sqm.quote_to_pb(quote, now))
            wanted = {line.sku: quantities.get(line.sku, line.quantity) for line in quote.current.lines}
            customer = CustomerScope(quote.currency, account_id=quote.account_id, customer_id=who.customer_id)
            reference = await self._reference({s: q for s, q in wanted.items() if q > 0} or wanted, customer, now)
            try:
                version = domain.revise(quote, request.version, quantities, note, _author(who), reference, now)
            except QuoteRefused as error:
                raise sqm.refused(error, quote) from None
            quote = await quote_store.append(conn, quote.quote_id, version, Status.REQUESTED)
            await sqm.publish_requested(conn, quote)
        self._published()
        return pricing_pb2.RequestSalesQuoteRevisionResponse(quote=sqm.quote_to_pb(quote, now))

    async def AcceptSalesQuote(
        self, request: pricing_pb2.AcceptSalesQuoteRequest, context: Context
    ) -> pricing_pb2.AcceptSalesQuoteResponse:
        who = require_role(context, BUYER_ROLES)
        violations = Violations()
        sqm.check_version(request.version, violations)
        quote = await self._settle(
            request.quote_id, who, violations, lambda q, now: domain.accept(q, request.version, now), Status.ACCEPTED
        )
        return pricing_pb2.AcceptSalesQuoteResponse(quote=quote)

    async def DeclineSalesQuote(
        self, request: pricing_pb2.DeclineSalesQuoteRequest, context: Context
    ) -> pricing_pb2.DeclineSalesQuoteResponse:
        who = require_role(context, EVERYONE)
        violations = Violations()
        sqm.check_note(request.note, violations)
        quote = await self._settle(
            request.quote_id, who, violations, domain.decline, Status.DECLINED, note=request.note
        )
        return pricing_pb2.DeclineSalesQuoteResponse(quote=quote)

    async def _settle(
        self,
        quote_id: str,
        who: Caller,
        violations: Violations,
        decide: Callable[[SalesQuote, datetime], bool],
        status: Status,
        note: str = "",
    ) -> pricing_pb2.SalesQuote:
        """Accept or decline: the domain decides whether the quote changes (a repeat changes nothing);
        the change is published (a decline with the buyer's note)."""
        sqm.check_quote_id(quote_id, violations)
        violations.raise_if_any()
        now = datetime.now(UTC)
        async with self.db.transaction() as conn:
            quote = _visible(await quote_store.get(conn, quote_id, lock=True), who, quote_id)
            try:
                changes = decide(quote, now)
            except QuoteRefused as error:
                raise sqm.refused(error, quote) from None
            if changes:
                quote = await quote_store.set_state(conn, quote.quote_id, now, status=status)
                if status is Status.ACCEPTED:
                    await sqm.publish_accepted(conn, quote, who.customer_id)
                else:
                    await sqm.publish_declined(conn, quote, who.customer_id, note)
        self._published()
        return sqm.quote_to_pb(quote, now)

    async def GetSalesQuote(
        self, request: pricing_pb2.GetSalesQuoteRequest, context: Context
    ) -> pricing_pb2.GetSalesQuoteResponse:
        who = require_role(context, EVERYONE)
        async with self.db.connect() as conn:
            quote = _visible(await quote_store.get(conn, request.quote_id), who, request.quote_id)
        return pricing_pb2.GetSalesQuoteResponse(quote=sqm.quote_to_pb(quote, datetime.now(UTC)))

    async def ListSalesQuotes(
        self, request: pricing_pb2.ListSalesQuotesRequest, context: Context
    ) -> pricing_pb2.ListSalesQuotesResponse:
        who = require_role(context, EVERYONE)
        statuses = sqm.statuses(request.statuses)
        limit = page_size(request.page.page_size)
        before = cursor_value(request.page.page_token, "before", list)
        if before is not None and (len(before) != 2 or not all(isinstance(part, str) for part in before)):
            raise InvalidArgument([FieldViolation("page.page_token", "is not a token this service issued")])
        account_id = who.account_id if who.role in BUYER_ROLES else request.account_id
        now = datetime.now(UTC)
        async with self.db.connect() as conn:
            quotes = await quote_store.list_quotes(
                conn,
                account_id=account_id,
                statuses=statuses,
                now=now,
                before=(before[0], before[1]) if before else None,
                limit=limit + 1,
            )
        page, token = split_page(quotes, limit, lambda q: {"before": [q.created_at.isoformat(), q.quote_id]})
        response = pricing_pb2.ListSalesQuotesResponse(quotes=[sqm.quote_to_pb(q, now) for q in page])
        response.page.next_page_token = token
        return response
