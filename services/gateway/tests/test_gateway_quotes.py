"""B2B sales quotes through the gateway: a sales user's queue and offers (/v1/admin/quotes), a buyer's
revision requests and acceptance (/v1/quotes), the same over gRPC (QuotesService), versions kept,
stale versions refused, the account's quotes only, and the roles each route admits. (Requests on a
cart and ordering a quote run in the system test: this gateway has no cart or checkout behind it.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop.storefront.v1 import quotes_pb2, quotes_pb2_grpc
from shopkit.auth import metadata_for
from shopkit.errors import parse_rpc_error
from shopkit.testing import grpc_address

if TYPE_CHECKING:
    from conftest import Client


async def _requested(gateway: Client, account: str, buyer: str, skus: list[str]) -> str:
    """A quote the buyer asked pricing for (as the gateway does for POST /v1/quotes)."""
    async with grpc.aio.insecure_channel(grpc_address(gateway.backends.runtimes["pricing"])) as channel:
        stub = pricing_pb2_grpc.PricingServiceStub(channel)  # type: ignore[no-untyped-call]
        response = await stub.RequestSalesQuote(
            pricing_pb2.RequestSalesQuoteRequest(
                request_id=f"rfq-{uuid.uuid4()}",
                cart_id=str(uuid.uuid4()),
                lines=[pricing_pb2.QuoteLine(sku=sku, quantity=10) for sku in skus],
                context=common_pb2.CustomerContext(currency="USD"),
                note="volume order",
            ),
            metadata=metadata_for("b2b_buyer", customer_id=buyer, account_id=account),
        )
    quote_id: str = response.quote.quote_id
    return quote_id


def _offer(skus: list[str], amount: int, **fields: Any) -> dict[str, Any]:
    expires = (datetime.now(UTC) + timedelta(days=14)).isoformat()
    lines = [{"sku": sku, "unit_price": {"amount": amount, "currency": "USD"}} for sku in skus]
    return {"lines": lines, "expires_at": expires, "note": "our best", **fields}


async def test_sales_offer_buyers_revise_and_accept_with_every_version_kept(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(1000, 2000))
    account, buyer_name = gateway.unique("acme"), gateway.unique("buyer")
    buyer = await gateway.auth("b2b_buyer", buyer_name, account_id=account)
    sales = await gateway.auth("sales")
    quote_id = await _requested(gateway, account, buyer_name, seeded.skus)

    queue = await gateway.http.get(
        "/v1/admin/quotes", params={"status": "requested", "account_id": account}, headers=sales
    )
    assert queue.status_code == 200, queue.text
    assert [(q["quote_id"], q["status"]) for q in queue.json()["quotes"]] == [(quote_id, "requested")]
    assert queue.json()["quotes"][0]["versions"][0]["lines"][0]["unit_price"] == {"amount": 1000, "currency": "USD"}

    offered = await gateway.http.post(
        f"/v1/admin/quotes/{quote_id}/offers", json=_offer(seeded.skus, 900), headers=sales
    )
    assert offered.status_code == 201, offered.text
    assert (offered.json()["status"], offered.json()["current_version"]) == ("offered", 2)
    revised = await gateway.http.post(
        f"/v1/quotes/{quote_id}/revision-requests",
        json={"version": 2, "note": "20 of the first?", "lines": [{"sku": seeded.skus[0], "quantity": 20}]},
        headers=buyer,
    )
    assert revised.status_code == 200, revised.text
    assert (revised.json()["status"], revised.json()["current_version"]) == ("requested", 3)
    again = await gateway.http.post(f"/v1/admin/quotes/{quote_id}/offers", json=_offer(seeded.skus, 850), headers=sales)
    assert again.status_code == 201, again.text

    stale = await gateway.http.post(f"/v1/quotes/{quote_id}/accept", json={"version": 2}, headers=buyer)
    gateway.problem(stale, 409, "QUOTE_VERSION_STALE")
    accepted = await gateway.http.post(f"/v1/quotes/{quote_id}/accept", json={"version": 4}, headers=buyer)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted" and body["number"].startswith("Q-")
    assert [v["kind"] for v in body["versions"]] == ["request", "offer", "revision", "offer"]
    assert [line["quantity"] for line in body["versions"][3]["lines"]] == [20, 10]
    assert body["versions"][3]["total"] == {"amount": 30 * 850, "currency": "USD"}
    mine = await gateway.http.get("/v1/quotes", params={"status": "accepted"}, headers=buyer)
    assert [q["quote_id"] for q in mine.json()["quotes"]] == [quote_id]


async def test_only_the_accounts_buyers_and_sales_users_reach_a_quote(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(1000,), stock=(5,))
    account, buyer_name = gateway.unique("acme"), gateway.unique("buyer")
    quote_id = await _requested(gateway, account, buyer_name, seeded.skus)
    other_account = await gateway.auth("b2b_buyer", account_id=gateway.unique("globex"))
    gateway.problem(await gateway.http.get(f"/v1/quotes/{quote_id}", headers=other_account), 404, "NOT_FOUND")
    customer = await gateway.auth("customer")
    gateway.problem(await gateway.http.get(f"/v1/quotes/{quote_id}", headers=customer), 403, "ROLE_REQUIRED")
    gateway.problem(await gateway.http.get(f"/v1/quotes/{quote_id}"), 401, "TOKEN_REQUIRED")
    buyer = await gateway.auth("b2b_buyer", buyer_name, account_id=account)
    offer = _offer(seeded.skus, 1)
    gateway.problem(
        await gateway.http.post(f"/v1/admin/quotes/{quote_id}/offers", json=offer, headers=buyer), 403, "ROLE_REQUIRED"
    )
    admin = await gateway.auth("admin")  # admins may act as sales
    assert (await gateway.http.get(f"/v1/admin/quotes/{quote_id}", headers=admin)).status_code == 200
    no_key = await gateway.http.post("/v1/quotes", json={"note": "x"}, headers=buyer)
    gateway.problem(no_key, 400, "IDEMPOTENCY_KEY_REQUIRED")


async def test_a_bad_offer_names_every_field_and_changes_nothing(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(1000, 2000))
    account, buyer_name = gateway.unique("acme"), gateway.unique("buyer")
    quote_id = await _requested(gateway, account, buyer_name, seeded.skus)
    sales = await gateway.auth("sales")
    bad = _offer(seeded.skus[:1], -5, expires_at=(datetime.now(UTC) + timedelta(days=200)).isoformat())
    refused = await gateway.http.post(f"/v1/admin/quotes/{quote_id}/offers", json=bad, headers=sales)
    fields = {e["field"] for e in gateway.problem(refused, 400, "INVALID_ARGUMENT")["errors"]}
    assert fields == {"lines[0].unit_price.amount", "lines", "expires_at"}
    status = gateway.http.get(f"/v1/admin/quotes/{quote_id}", headers=sales)
    assert (await status).json()["status"] == "requested"
    typo = await gateway.http.post(f"/v1/admin/quotes/{quote_id}/offers", json={**bad, "expiry": 1}, headers=sales)
    assert typo.status_code == 400, typo.text
    unknown = await gateway.http.get("/v1/admin/quotes", params={"status": "pending"}, headers=sales)
    gateway.problem(unknown, 400, "INVALID_ARGUMENT")


async def test_the_quotes_over_grpc_follow_the_same_rules(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(1000,), stock=(5,))
    account, buyer_name = gateway.unique("acme"), gateway.unique("buyer")
    buyer = (("authorization", f"Bearer {await gateway.token(buyer_name, 'b2b_buyer', account_id=account)}"),)
    sales = (("authorization", f"Bearer {await gateway.token(role='sales')}"),)
    customer = (("authorization", f"Bearer {await gateway.token(role='customer')}"),)
    quote_id = await _requested(gateway, account, buyer_name, seeded.skus)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}") as channel:
        stub = quotes_pb2_grpc.QuotesServiceStub(channel)  # type: ignore[no-untyped-call]
        queue = await stub.ListQuotes(
            pricing_pb2.ListSalesQuotesRequest(statuses=[pricing_pb2.SALES_QUOTE_STATUS_REQUESTED], account_id=account),
            metadata=sales,
        )
        assert [q.quote_id for q in queue.quotes] == [quote_id]
        offer = pricing_pb2.OfferSalesQuoteRequest(
            quote_id=quote_id,
            version=1,
            lines=[
                pricing_pb2.OfferedPrice(sku=seeded.skus[0], unit_price=common_pb2.Money(amount=700, currency="USD"))
            ],
        )
        offer.expires_at.FromDatetime(datetime.now(UTC) + timedelta(days=3))
        assert (await stub.OfferQuote(offer, metadata=sales)).quote.current_version == 2
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.OfferQuote(offer, metadata=buyer)
        assert parse_rpc_error(refused.value).reason == "ROLE_REQUIRED"
        accept = pricing_pb2.AcceptSalesQuoteRequest(quote_id=quote_id, version=2)
        accepted = await stub.AcceptQuote(accept, metadata=buyer)
        assert accepted.quote.status == pricing_pb2.SALES_QUOTE_STATUS_ACCEPTED
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.GetQuote(pricing_pb2.GetSalesQuoteRequest(quote_id=quote_id), metadata=customer)
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as no_key:
            await stub.RequestQuote(quotes_pb2.RequestQuoteRequest(note="x"), metadata=buyer)
        assert parse_rpc_error(no_key.value).reason == "IDEMPOTENCY_KEY_REQUIRED"
