"""The purchase path through the gateway, against the REAL services (cart, fraud, payment sandbox,
order, checkout, and the catalog/pricing/inventory of the session), over HTTP and gRPC: the cart,
checkout with a test card, idempotent replays, a declined card (402), a fraud block, a fraud review
decided by an analyst, a B2B approval, pickup, customers kept apart, and guests (a cart without an
account whose id is the guest's token, a purchase with an e-mail address, the merge at sign-in).

Fraud runs with rules only: an e-mail at `throwaway.test` is BLOCKed, a client from `KP` (the
gateway's IP-country header) goes to REVIEW, everything else is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import pytest

from shop.common.v1 import common_pb2
from shop.storefront.v1 import storefront_pb2
from shop_cart.main import build as build_cart
from shop_cart.settings import CartSettings
from shop_checkout.main import build as build_checkout
from shop_checkout.settings import CheckoutSettings
from shop_fraud.main import build as build_fraud
from shop_fraud.settings import FraudSettings
from shop_fraud.testing import predictable
from shop_order.main import build as build_order
from shop_order.settings import OrderSettings
from shop_sandbox.client import SandboxClient
from shop_sandbox.main import build as build_sandbox
from shop_sandbox.settings import SandboxSettings
from shopkit.errors import parse_rpc_error
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, free_port, grpc_address, peer

if TYPE_CHECKING:
    from conftest import Backends, Client, GatewayFactory

CARD_OK, CARD_DECLINED, CARD_3DS = "4242424242424242", "4000000000000002", "4000000000003220"
BLOCKED_DOMAIN, REVIEW_COUNTRY = "throwaway.test", "KP"
COUNTRY_HEADER = "X-Test-Country"
ADDRESS = {"name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


class Shop:
    """The gateway in front of every service, a payment-sandbox client, and purchase helpers."""

    def __init__(self, client: Client, sandbox: SandboxClient):
        self.client = client
        self.http = client.http
        self.sandbox = sandbox

    async def card(self, number: str = CARD_OK) -> str:
        method = await self.sandbox.tokenise(number, 12, datetime.now(UTC).year + 3, "123", billing_country="US")
        return method.id

    async def sku(self, price: int = 1500, stock: int = 20, at: str = "") -> str:
        """A priced SKU with `stock` at the warehouse, or only at the location `at`."""
        seeded = await self.client.seed_product(prices=(price,), stock=(0 if at else stock,))
        if at:
            entries = {"entries": [{"sku": seeded.skus[0], "location_id": at, "on_hand": stock}]}
            response = await self.http.put("/v1/stock", json=entries, headers=await self.client.auth("admin"))
            assert response.status_code == 200, response.text
        return seeded.skus[0]

    async def fill(self, headers: dict[str, str], sku: str, quantity: int = 1) -> dict[str, Any]:
        response = await self.http.post("/v1/cart/items", json={"sku": sku, "quantity": quantity}, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def checkout(
        self, headers: dict[str, str], payment_method: str, key: str = "", **body: Any
    ) -> httpx.Response:
        payload = {"payment_method": payment_method, "shipping_address": ADDRESS, **body}
        return await self.http.post(
            "/v1/checkout",
            json=payload,
            headers={**headers, "Idempotency-Key": key or f"key-{uuid.uuid4()}", "X-Device-Id": "device-1"},
        )

    async def order_becomes(self, headers: dict[str, str], order_id: str, status: str, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while True:
            order = (await self.http.get(f"/v1/orders/{order_id}", headers=headers)).json()
            if order.get("status") == status:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"order {order_id} stayed {order}")
            await asyncio.sleep(0.1)


FRAUD = predictable(blocked_domain=BLOCKED_DOMAIN, review_country=REVIEW_COUNTRY)


@contextlib.asynccontextmanager
async def purchase_shop(
    postgres: Postgres,
    nats_url: str,
    backends: Backends,
    make_gateway: GatewayFactory,
    fraud_addr: str = "",
    **checkout_overrides: Any,
) -> AsyncIterator[Shop]:
    """Every service of the purchase path behind a gateway; with `fraud_addr`, fraud is not started
    (a test starts it there when it wants fraud to be reachable)."""
    known = {f"{name}_addr": grpc_address(rt) for name, rt in backends.runtimes.items()}
    async with contextlib.AsyncExitStack() as stack:

        async def start(build: Callable[..., Awaitable[Runtime]], settings: Any, **overrides: Any) -> str:
            return grpc_address(await stack.enter_async_context(peer(build, settings, postgres, nats_url, **overrides)))

        cart = await start(build_cart, CartSettings, **known, sweeper_enabled=False)
        fraud = fraud_addr or await start(build_fraud, FraudSettings, **FRAUD)
        sandbox_service = await stack.enter_async_context(
            peer(build_sandbox, SandboxSettings, postgres, nats_url, http_host="127.0.0.1", http_port=0)
        )
        order = await start(
            build_order,
            OrderSettings,
            inventory_addr=known["inventory_addr"],
            payment_provider_url=sandbox_service.base_url,
            effects_poll_interval_seconds=0.1,
            completion_enabled=False,
        )
        checkout = await start(
            build_checkout,
            CheckoutSettings,
            cart_addr=cart,
            pricing_addr=known["pricing_addr"],
            inventory_addr=known["inventory_addr"],
            order_addr=order,
            fraud_addr=fraud,
            catalog_addr=known["catalog_addr"],
            customers_addr=known["customers_addr"],
            payment_provider_url=sandbox_service.base_url,
            recovery_interval_seconds=0.2,
            retry_initial_seconds=0.05,
            retry_max_seconds=0.5,
            step_max_attempts=3,
            **checkout_overrides,
        )
        client = await stack.enter_async_context(
            make_gateway(
                cart_addr=cart,
                checkout_addr=checkout,
                order_addr=order,
                fraud_addr=fraud,
                ip_country_header=COUNTRY_HEADER,
                checkout_timeout_seconds=8.0,
            )
        )
        sandbox = SandboxClient(sandbox_service.base_url)
        stack.push_async_callback(sandbox.aclose)
        yield Shop(client, sandbox)


@pytest.fixture(scope="module")
async def shop(
    postgres: Postgres, nats_url: str, backends: Backends, make_gateway: GatewayFactory
) -> AsyncIterator[Shop]:
    async with purchase_shop(postgres, nats_url, backends, make_gateway) as shop:
        yield shop


def grpc_metadata(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((key.lower(), value) for key, value in headers.items())


# --- cart ------------------------------------------------------------------------------------------


async def test_cart_over_http(shop: Shop) -> None:
    headers = await shop.client.auth()
    sku = await shop.sku(price=1500)
    empty = await shop.http.get("/v1/cart", headers=headers)
    assert empty.status_code == 200 and empty.json()["lines"] == [] and empty.json()["cart_id"] == ""

    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    for _ in range(2):  # a retried add adds once
        response = await shop.http.post("/v1/cart/items", json={"sku": sku, "quantity": 2}, headers={**headers, **key})
        assert response.status_code == 200, response.text
    cart = response.json()
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [(sku, 2)]
    assert cart["lines"][0]["unit_price"] == {"amount": 1500, "currency": "USD"}
    assert cart["total"] == {"amount": 3000, "currency": "USD"}
    etag = response.headers["etag"]
    assert etag == f'"{cart["version"]}"'

    updated = await shop.http.patch(
        f"/v1/cart/items/{sku}", json={"quantity": 3}, headers={**headers, "If-Match": etag}
    )
    assert updated.status_code == 200 and updated.json()["total"]["amount"] == 4500
    stale = await shop.http.patch(f"/v1/cart/items/{sku}", json={"quantity": 1}, headers={**headers, "If-Match": etag})
    shop.client.problem(stale, 409, "CART_VERSION_MISMATCH")

    missing = await shop.http.patch("/v1/cart/items/NOT-IN-CART", json={"quantity": 1}, headers=headers)
    shop.client.problem(missing, 404, "NOT_FOUND")
    coupon = await shop.http.post("/v1/cart/coupon", json={"code": "NO-SUCH-CODE"}, headers=headers)
    shop.client.problem(coupon, 409, "COUPON_INVALID")
    unknown = await shop.http.post("/v1/cart/items", json={"sku": "UNKNOWN-SKU-1", "quantity": 1}, headers=headers)
    assert unknown.status_code in (400, 409), unknown.text

    removed = await shop.http.delete(f"/v1/cart/items/{sku}", headers=headers)
    assert removed.status_code == 200 and removed.json()["lines"] == []
    again = await shop.http.delete(f"/v1/cart/items/{sku}", headers=headers)
    assert again.status_code == 200  # idempotent


# --- checkout --------------------------------------------------------------------------------------


async def test_checkout_with_a_test_card_and_idempotent_replays(shop: Shop) -> None:
    headers = await shop.client.auth()
    sku = await shop.sku(price=2000)
    await shop.fill(headers, sku, 2)
    card = await shop.card()
    missing_key = await shop.http.post(
        "/v1/checkout", json={"payment_method": card, "shipping_address": ADDRESS}, headers=headers
    )
    shop.client.problem(missing_key, 400, "IDEMPOTENCY_KEY_REQUIRED")

    key = f"order-{uuid.uuid4()}"
    placed = await shop.checkout(headers, card, key)
    assert placed.status_code == 201, placed.text
    result = placed.json()
    assert result["status"] == "completed" and result["order_id"] and result["checkout_id"]
    assert placed.headers["location"] == f"/v1/checkout/{result['checkout_id']}"

    replay = await shop.checkout(headers, card, key)  # the cart is checked out by now
    assert replay.status_code == 201 and replay.json() == result

    order = (await shop.http.get(f"/v1/orders/{result['order_id']}", headers=headers)).json()
    assert order["status"] == "confirmed" and order["payment_method"] == "card"
    assert order["totals"]["total"] == {"amount": 4000, "currency": "USD"}
    assert (
        order["fulfillment"]["method"] == "ship" and order["fulfillment"]["shipping_address"]["city"] == "Springfield"
    )
    listed = (await shop.http.get("/v1/orders", headers=headers)).json()
    assert [o["order_id"] for o in listed["orders"]] == [result["order_id"]]
    checkout = (await shop.http.get(f"/v1/checkout/{result['checkout_id']}", headers=headers)).json()
    assert checkout["status"] == "completed" and checkout["order_id"] == result["order_id"]
    assert (await shop.http.get("/v1/cart", headers=headers)).json()["lines"] == []


async def test_concurrent_submits_with_one_key_give_one_order(shop: Shop) -> None:
    headers = await shop.client.auth()
    await shop.fill(headers, await shop.sku(price=700))
    card, key = await shop.card(), f"order-{uuid.uuid4()}"
    responses = await asyncio.gather(*(shop.checkout(headers, card, key) for _ in range(8)))
    assert {r.status_code for r in responses} <= {201, 202}, [r.text for r in responses]
    assert len({r.json()["checkout_id"] for r in responses}) == 1
    listed = (await shop.http.get("/v1/orders", headers=headers)).json()
    assert len(listed["orders"]) == 1


async def test_declined_card_is_402_and_stays_402(shop: Shop) -> None:
    headers = await shop.client.auth()
    await shop.fill(headers, await shop.sku(price=999))
    card, key = await shop.card(CARD_DECLINED), f"order-{uuid.uuid4()}"
    for _ in range(2):
        response = await shop.checkout(headers, card, key)
        body = shop.client.problem(response, 402, "PAYMENT_DECLINED")
        assert body["metadata"]["checkout_id"] and body["metadata"]["step"] == "authorise_payment"
        assert body["metadata"].get("decline_code")
    assert (await shop.http.get("/v1/orders", headers=headers)).json()["orders"] == []


async def test_fraud_block_is_422(shop: Shop) -> None:
    headers = await shop.client.auth()
    await shop.fill(headers, await shop.sku())
    response = await shop.checkout(headers, await shop.card(), email=f"someone@{BLOCKED_DOMAIN}")
    shop.client.problem(response, 422, "FRAUD_BLOCKED")


async def test_fraud_review_decided_by_an_analyst(shop: Shop) -> None:
    headers = await shop.client.auth()
    await shop.fill(headers, await shop.sku())
    placed = await shop.http.post(
        "/v1/checkout",
        json={"payment_method": await shop.card(), "shipping_address": ADDRESS},
        headers={**headers, "Idempotency-Key": f"order-{uuid.uuid4()}", COUNTRY_HEADER: REVIEW_COUNTRY},
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "pending_review"
    order_id = placed.json()["order_id"]

    analyst = await shop.client.auth("fraud_analyst")
    queue = (await shop.http.get("/v1/reviews", headers=analyst)).json()["reviews"]
    review = next(r for r in queue if r["checkout_id"] == placed.json()["checkout_id"])
    assert review["status"] == "open" and any(r["code"] == "high_risk_country" for r in review["reasons"])
    shop.client.problem(
        await shop.http.post(f"/v1/reviews/{review['review_id']}/approve", headers=headers), 403, "ROLE_REQUIRED"
    )
    no_note = await shop.http.post(f"/v1/reviews/{review['review_id']}/reject", json={}, headers=analyst)
    assert [e["field"] for e in shop.client.problem(no_note, 400, "INVALID_ARGUMENT")["errors"]] == ["note"]
    approved = await shop.http.post(
        f"/v1/reviews/{review['review_id']}/approve", json={"note": "known customer"}, headers=analyst
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    await shop.order_becomes(headers, order_id, "confirmed")


async def test_b2b_order_over_the_limit_waits_for_an_approver_of_the_account(shop: Shop) -> None:
    account = f"acct-{uuid.uuid4().hex[:8]}"
    buyer = await shop.client.auth("b2b_buyer", account_id=account, approval_limit={"amount": 1000, "currency": "USD"})
    approver = await shop.client.auth("b2b_approver", account_id=account)
    outsider = await shop.client.auth("b2b_approver", account_id="another-account")
    await shop.fill(buyer, await shop.sku(price=5000))
    placed = await shop.checkout(buyer, "invoice", purchase_order_number="PO-4711")
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "pending_approval"
    order_id = placed.json()["order_id"]

    pending = (await shop.http.get("/v1/approvals", headers=approver)).json()["orders"]
    assert order_id in {o["order_id"] for o in pending}
    assert (await shop.http.get("/v1/approvals", headers=outsider)).json()["orders"] == []
    shop.client.problem(await shop.http.post(f"/v1/orders/{order_id}/approve", headers=buyer), 403, "ROLE_REQUIRED")
    shop.client.problem(await shop.http.post(f"/v1/orders/{order_id}/approve", headers=outsider), 404, "NOT_FOUND")
    approved = await shop.http.post(f"/v1/orders/{order_id}/approve", json={"note": "ok"}, headers=approver)
    assert approved.status_code == 200, approved.text
    await shop.order_becomes(buyer, order_id, "confirmed")
    order = (await shop.http.get(f"/v1/orders/{order_id}", headers=buyer)).json()
    assert order["payment_method"] == "invoice" and order["approval"]["status"] == "approved"
    [step] = order["approval"]["steps"]  # the buyer's limit alone: one step any approver decides
    assert (step["name"], step["state"], step["approvers"]) == ("spending limit", "approved", [])
    assert [(d["decision"], d["note"]) for d in step["decisions"]] == [("approve", "ok")]


async def test_pickup_at_a_store(shop: Shop) -> None:
    store = shop.client.backends.locations[1]
    stores = (await shop.http.get("/v1/stores")).json()["stores"]
    assert store in {s["store_id"] for s in stores}
    headers = await shop.client.auth()
    await shop.fill(headers, await shop.sku(stock=5, at=store))
    response = await shop.http.post(
        "/v1/checkout",
        json={
            "payment_method": await shop.card(),
            "billing_address": ADDRESS,
            "fulfillment": {"method": "pickup", "store_id": store},
        },
        headers={**headers, "Idempotency-Key": f"order-{uuid.uuid4()}"},
    )
    assert response.status_code == 201, response.text
    order = (await shop.http.get(f"/v1/orders/{response.json()['order_id']}", headers=headers)).json()
    assert order["fulfillment"] == {"method": "pickup", "store_id": store, "shipping_address": None}


async def test_customers_are_kept_apart(shop: Shop) -> None:
    alice, bob = await shop.client.auth(), await shop.client.auth()
    await shop.fill(alice, await shop.sku())
    placed = (await shop.checkout(alice, await shop.card())).json()
    order_id, checkout_id = placed["order_id"], placed["checkout_id"]
    shop.client.problem(await shop.http.get(f"/v1/orders/{order_id}", headers=bob), 404, "NOT_FOUND")
    shop.client.problem(await shop.http.post(f"/v1/orders/{order_id}/cancel", headers=bob), 404, "NOT_FOUND")
    shop.client.problem(await shop.http.get(f"/v1/checkout/{checkout_id}", headers=bob), 404, "NOT_FOUND")
    assert (await shop.http.get("/v1/orders", headers=bob)).json()["orders"] == []
    assert (await shop.http.get("/v1/cart", headers=bob)).json()["lines"] == []
    # Alice's order is still there, and hers to cancel.
    cancelled = await shop.http.post(f"/v1/orders/{order_id}/cancel", json={"note": "changed my mind"}, headers=alice)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancellation_reason"] == "customer_request"


async def test_purchase_over_grpc(shop: Shop) -> None:
    metadata = grpc_metadata(await shop.client.auth())
    sku = await shop.sku(price=1200)
    stub = shop.client.grpc
    cart = (await stub.AddCartItem(storefront_pb2.AddCartItemRequest(sku=sku, quantity=2), metadata=metadata)).cart
    assert cart.total.amount == 2400 and cart.lines[0].sku == sku
    request = storefront_pb2.PlaceOrderRequest(
        idempotency_key=f"grpc-{uuid.uuid4()}", payment_method=await shop.card(), device_id="grpc-device"
    )
    request.shipping_address.CopyFrom(common_pb2.Address(**ADDRESS))
    placed = await stub.PlaceOrder(request, metadata=metadata, timeout=30)
    assert placed.status == "completed" and placed.order_id
    order = (await stub.GetOrder(storefront_pb2.GetOrderRequest(order_id=placed.order_id), metadata=metadata)).order
    assert order.status == "confirmed" and order.totals.total.amount == 2400
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        declined = storefront_pb2.PlaceOrderRequest(
            idempotency_key=f"grpc-{uuid.uuid4()}", payment_method=await shop.card(CARD_DECLINED)
        )
        declined.shipping_address.CopyFrom(request.shipping_address)
        await stub.AddCartItem(storefront_pb2.AddCartItemRequest(sku=sku, quantity=1), metadata=metadata)
        await stub.PlaceOrder(declined, metadata=metadata, timeout=30)
    error = parse_rpc_error(failed.value)
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_DECLINED")


async def test_an_accepted_quote_is_ordered_over_grpc_at_its_prices(shop: Shop) -> None:
    account = unique_account()
    buyer = await shop.client.auth("b2b_buyer", account_id=account)
    sales = await shop.client.auth("sales")
    sku = await shop.sku(price=2000)
    await shop.fill(buyer, sku, 3)
    asked = await shop.http.post("/v1/quotes", json={}, headers={**buyer, "Idempotency-Key": f"rfq-{uuid.uuid4()}"})
    assert asked.status_code == 201, asked.text
    quote_id = asked.json()["quote_id"]
    offer = {
        "lines": [{"sku": sku, "unit_price": {"amount": 1500, "currency": "USD"}}],
        "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
    }
    offered = await shop.http.post(f"/v1/admin/quotes/{quote_id}/offers", json=offer, headers=sales)
    assert offered.status_code == 201, offered.text
    accepted = await shop.http.post(f"/v1/quotes/{quote_id}/accept", json={"version": 2}, headers=buyer)
    assert accepted.status_code == 200, accepted.text

    request = storefront_pb2.PlaceOrderRequest(
        idempotency_key=f"grpc-{uuid.uuid4()}", payment_method=await shop.card(), quote_id=quote_id
    )
    request.shipping_address.CopyFrom(common_pb2.Address(**ADDRESS))
    placed = await shop.client.grpc.PlaceOrder(request, metadata=grpc_metadata(buyer), timeout=30)

    assert placed.status == "completed", placed
    got = storefront_pb2.GetOrderRequest(order_id=placed.order_id)
    order = (await shop.client.grpc.GetOrder(got, metadata=grpc_metadata(buyer))).order
    assert order.quote_id == quote_id
    assert [(line.sku, line.quantity, line.unit_price.amount) for line in order.lines] == [(sku, 3, 1500)]


async def challenge(action: dict[str, Any], authenticated: bool = True) -> None:
    """The shopper's browser at the payment sandbox (its public face): the client secret alone."""
    async with httpx.AsyncClient(timeout=10) as browser:
        body = {"client_secret": action["client_secret"], "authenticated": authenticated}
        response = await browser.post(action["url"], json=body)
    assert response.status_code == 200, response.text


async def test_a_card_that_needs_3ds_waits_for_the_shoppers_challenge_then_becomes_an_order(shop: Shop) -> None:
    headers = await shop.client.auth()
    await shop.fill(headers, await shop.sku(price=900), 2)
    card, key = await shop.card(CARD_3DS), f"order-{uuid.uuid4()}"

    placed = await shop.checkout(headers, card, key)

    assert placed.status_code == 202, placed.text
    result = placed.json()
    assert (result["status"], result["order_id"]) == ("action_required", "")
    action = result["next_action"]
    assert action["type"] == "three_d_secure" and action["url"].endswith("/challenge") and action["client_secret"]
    assert datetime.fromisoformat(action["expires_at"]) > datetime.now(UTC)
    followed = (await shop.http.get(f"/v1/checkout/{result['checkout_id']}", headers=headers)).json()
    assert (followed["status"], followed["next_action"]) == ("action_required", action)
    assert (await shop.checkout(headers, card, key)).json() == result  # not yet: the same answer

    await challenge(action)
    done = await shop.checkout(headers, card, key)

    assert done.status_code == 201, done.text
    assert (done.json()["checkout_id"], done.json()["status"]) == (result["checkout_id"], "completed")
    assert done.json()["order_id"] and done.json()["next_action"] is None


async def test_a_failed_3ds_challenge_is_402_authentication_failed(shop: Shop) -> None:
    headers = await shop.client.auth()
    await shop.fill(headers, await shop.sku(price=900))
    card, key = await shop.card(CARD_3DS), f"order-{uuid.uuid4()}"
    placed = await shop.checkout(headers, card, key)
    assert placed.status_code == 202, placed.text

    await challenge(placed.json()["next_action"], authenticated=False)
    failed = await shop.checkout(headers, card, key)

    problem = shop.client.problem(failed, 402, "PAYMENT_DECLINED")
    assert problem["metadata"]["decline_code"] == "authentication_failed"


async def test_3ds_over_grpc_says_what_the_shopper_must_do(shop: Shop) -> None:
    metadata = grpc_metadata(await shop.client.auth())
    stub = shop.client.grpc
    await stub.AddCartItem(storefront_pb2.AddCartItemRequest(sku=await shop.sku(), quantity=1), metadata=metadata)
    request = storefront_pb2.PlaceOrderRequest(
        idempotency_key=f"grpc-{uuid.uuid4()}", payment_method=await shop.card(CARD_3DS)
    )
    request.shipping_address.CopyFrom(common_pb2.Address(**ADDRESS))

    placed = await stub.PlaceOrder(request, metadata=metadata, timeout=30)

    assert (placed.status, placed.order_id) == ("action_required", "")
    assert placed.next_action.type == "three_d_secure" and placed.next_action.expires_at.seconds > 0
    read = await stub.GetCheckout(storefront_pb2.GetCheckoutRequest(checkout_id=placed.checkout_id), metadata=metadata)
    assert read.checkout.status == "action_required" and read.checkout.next_action == placed.next_action
    await challenge({"url": placed.next_action.url, "client_secret": placed.next_action.client_secret})
    done = await stub.PlaceOrder(request, metadata=metadata, timeout=30)
    assert done.status == "completed" and done.order_id and not done.HasField("next_action")


# --- an outage ----------------------------------------------------------------------------------


async def test_a_checkout_failed_by_an_outage_is_503_with_retry_after_and_the_same_key_runs_it_again(
    postgres: Postgres, nats_url: str, backends: Backends, make_gateway: GatewayFactory
) -> None:
    port = free_port()
    fraud_down = f"127.0.0.1:{port}"
    async with purchase_shop(
        postgres, nats_url, backends, make_gateway, fraud_addr=fraud_down, step_retry_budget_seconds=1.0
    ) as shop:
        headers = await shop.client.auth()
        sku = await shop.sku(price=1500, stock=3)
        await shop.fill(headers, sku)
        card, key = await shop.card(), f"order-{uuid.uuid4()}"

        failed = await shop.checkout(headers, card, key)
        problem = shop.client.problem(failed, 503, "UNAVAILABLE")
        assert failed.headers["retry-after"] == "5"
        assert problem["metadata"]["step"] == "assess_fraud" and "nothing was charged" in problem["detail"]

        async with peer(build_fraud, FraudSettings, postgres, nats_url, grpc_port=port, **FRAUD):
            placed = await shop.checkout(headers, card, key)
            assert placed.status_code == 201, placed.text
            body = placed.json()
            assert body["status"] == "completed" and body["order_id"]
            assert body["checkout_id"] != problem["metadata"]["checkout_id"]
            replay = await shop.checkout(headers, card, key)
            assert replay.status_code == 201 and replay.json()["order_id"] == body["order_id"]


# --- shipping and tax -------------------------------------------------------------------------------

MEXICO = {**ADDRESS, "country": "MX", "region": "CMX", "postal_code": "06000"}


async def _mexico(shop: Shop) -> None:
    """A zone of its own (MX, in USD) so that the other tests' US orders stay unshipped and untaxed:
    standard 7.00, express 12.00; 16 % added in CMX, shipping taxed, B2B tax ids exempt."""
    from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc

    channel = grpc.aio.insecure_channel(grpc_address(shop.client.backends.runtimes["pricing"]))
    stub = pricing_pb2_grpc.PricingServiceStub(channel)  # type: ignore[no-untyped-call]
    admin = (("x-shop-role", "admin"),)
    for code, price in (("standard", 700), ("express", 1200)):
        method = pricing_pb2.ShippingMethod(
            id=f"mx-{code}",
            code=code,
            name=code.title(),
            zone=pricing_pb2.ShippingZone(countries=["MX"]),
            min_delivery_days=1,
            max_delivery_days=5,
            rate_kind=pricing_pb2.SHIPPING_RATE_KIND_FLAT,
            flat_price=common_pb2.Money(amount=price, currency="USD"),
            active=True,
        )
        await stub.PutShippingMethod(pricing_pb2.PutShippingMethodRequest(method=method), metadata=admin)
    rule = pricing_pb2.TaxRule(
        country="MX", region="CMX", name="IVA", rate_bp=1600, tax_shipping=True, exempt_with_tax_id=True
    )
    await stub.PutTaxRule(pricing_pb2.PutTaxRuleRequest(rule=rule), metadata=admin)
    await channel.close(grace=None)


async def test_shipping_options_and_a_shipped_taxed_order(shop: Shop) -> None:
    await _mexico(shop)
    headers = await shop.client.auth()
    await shop.fill(headers, await shop.sku(price=2500), 2)
    query = {"country": "MX", "region": "CMX", "postal_code": "06000"}
    options = await shop.http.get("/v1/cart/shipping-options", params=query, headers=headers)
    assert options.status_code == 200, options.text
    body = options.json()
    assert [(o["code"], o["price"]["amount"]) for o in body["options"]] == [("standard", 700), ("express", 1200)]
    assert body["shipping_method"] == "standard" and body["tax_name"] == "IVA" and body["tax_rate_bp"] == 1600
    # 50.00 + 7.00; 16 % of each: 8.00 + 1.12.
    totals = body["totals"]
    assert (totals["shipping_total"]["amount"], totals["tax_total"]["amount"], totals["total"]["amount"]) == (
        700,
        912,
        5000 + 700 + 912,
    )
    express = await shop.http.get(
        "/v1/cart/shipping-options", params={**query, "shipping_method": "express"}, headers=headers
    )
    assert express.json()["totals"]["total"]["amount"] == 5000 + 1200 + 800 + 192
    unknown = await shop.http.get(
        "/v1/cart/shipping-options", params={**query, "shipping_method": "overnight"}, headers=headers
    )
    assert [e["field"] for e in shop.client.problem(unknown, 400, "INVALID_ARGUMENT")["errors"]] == ["shipping_method"]
    pickup = (
        await shop.http.get("/v1/cart/shipping-options", params={**query, "pickup": "true"}, headers=headers)
    ).json()
    assert pickup["options"] == [] and pickup["totals"]["shipping_total"]["amount"] == 0

    wrong = await shop.checkout(headers, await shop.card(), shipping_address=MEXICO, shipping_method="overnight")
    assert [e["field"] for e in shop.client.problem(wrong, 400, "INVALID_ARGUMENT")["errors"]] == ["shipping_method"]
    placed = await shop.checkout(headers, await shop.card(), shipping_address=MEXICO, shipping_method="express")
    assert placed.status_code == 201, placed.text
    order = (await shop.http.get(f"/v1/orders/{placed.json()['order_id']}", headers=headers)).json()
    assert order["totals"]["total"]["amount"] == 5000 + 1200 + 992
    assert (order["totals"]["shipping_total"]["amount"], order["totals"]["tax_total"]["amount"]) == (1200, 992)
    assert order["totals"]["tax_included"] is False and order["lines"][0]["tax"]["amount"] == 800
    checkout = (await shop.http.get(f"/v1/checkout/{placed.json()['checkout_id']}", headers=headers)).json()
    assert checkout["totals"] == order["totals"]


async def test_shipping_options_over_grpc_and_a_b2b_tax_id_exempts(shop: Shop) -> None:
    await _mexico(shop)
    headers = await shop.client.auth("b2b_buyer", account_id=unique_account(), tax_id="MX-RFC-123")
    await shop.fill(headers, await shop.sku(price=1000))
    request = storefront_pb2.GetShippingOptionsRequest(country="MX", region="CMX")
    response = await shop.client.grpc.GetShippingOptions(request, metadata=grpc_metadata(headers))
    assert response.tax_exempt and response.totals.tax_total.amount == 0
    assert response.totals.total.amount == 1000 + 700 and response.shipping_method == "standard"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await shop.client.grpc.GetShippingOptions(
            storefront_pb2.GetShippingOptionsRequest(country="MX", shipping_method="nope"),
            metadata=grpc_metadata(headers),
        )
    info = parse_rpc_error(raised.value)
    assert info.code is grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in info.violations] == ["shipping_method"]


def unique_account() -> str:
    return f"acct-{uuid.uuid4().hex[:8]}"


# --- guests: a cart without an account, its purchase, and the merge at sign-in -----------------------

TOKEN = "X-Cart-Token"


async def guest_cart(shop: Shop, **body: Any) -> dict[str, str]:
    """A new guest cart: the headers that name it."""
    response = await shop.http.post("/v1/guest-carts", json=body or None)
    assert response.status_code == 201, response.text
    assert response.headers[TOKEN] == response.json()["cart_id"]
    return {TOKEN: response.json()["cart_id"]}


def fields(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem["errors"]]


async def lines_of(shop: Shop, headers: dict[str, str]) -> dict[str, int]:
    cart = (await shop.http.get("/v1/cart", headers=headers)).json()
    return {line["sku"]: line["quantity"] for line in cart["lines"]}


async def test_a_guest_buys_with_its_cart_token_and_an_email(shop: Shop) -> None:
    shop.client.problem(await shop.http.get("/v1/cart"), 401, "TOKEN_REQUIRED")
    headers = await guest_cart(shop)
    sku = await shop.sku(price=1800)
    await shop.fill(headers, sku, 2)
    assert (await shop.http.get("/v1/cart", headers=headers)).json()["total"] == {"amount": 3600, "currency": "USD"}
    card, key = await shop.card(), f"guest-{uuid.uuid4()}"

    no_email = await shop.checkout(headers, card, key)
    assert fields(shop.client.problem(no_email, 400, "INVALID_ARGUMENT")) == ["email"]
    placed = await shop.checkout(headers, card, key, email="guest@example.com")
    assert placed.status_code == 201, placed.text
    result = placed.json()
    assert result["status"] == "completed" and result["order_id"]
    replay = await shop.checkout(headers, card, key, email="guest@example.com")
    assert replay.status_code == 201 and replay.json() == result

    checkout = (await shop.http.get(f"/v1/checkout/{result['checkout_id']}", headers=headers)).json()
    assert checkout["status"] == "completed" and checkout["totals"]["total"]["amount"] == 3600
    cart = (await shop.http.get("/v1/cart", headers=headers)).json()
    assert cart["status"] == "checked_out"
    # Another guest, a customer and an anonymous caller do not see this guest's checkout.
    other = await guest_cart(shop)
    shop.client.problem(await shop.http.get(f"/v1/checkout/{result['checkout_id']}", headers=other), 404, "NOT_FOUND")
    customer = await shop.client.auth()
    shop.client.problem(
        await shop.http.get(f"/v1/checkout/{result['checkout_id']}", headers=customer), 404, "NOT_FOUND"
    )
    shop.client.problem(await shop.http.get(f"/v1/checkout/{result['checkout_id']}"), 401, "TOKEN_REQUIRED")


async def test_a_guest_cart_is_created_once_per_key_in_the_currency_asked_for(shop: Shop) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await shop.http.post("/v1/guest-carts", json={"currency": "EUR", "country": "DE"}, headers=key)
    again = await shop.http.post("/v1/guest-carts", json={"currency": "EUR", "country": "DE"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["cart_id"] == again.json()["cart_id"] and first.json()["currency"] == "EUR"
    bad = await shop.http.post(
        "/v1/guest-carts", json={"currency": "EURO", "country": "Germany"}, headers={"Idempotency-Key": "order-1"}
    )
    assert set(fields(shop.client.problem(bad, 400, "INVALID_ARGUMENT"))) == {"currency", "country", "idempotency_key"}
    signed_in = await shop.http.post("/v1/guest-carts", headers=await shop.client.auth())
    shop.client.problem(signed_in, 409, "SIGNED_IN")


async def test_a_cart_token_opens_only_a_guest_cart(shop: Shop) -> None:
    customer = await shop.client.auth()
    customer_cart = await shop.fill(customer, await shop.sku(price=900))
    stolen = await shop.http.get("/v1/cart", headers={TOKEN: customer_cart["cart_id"]})
    shop.client.problem(stolen, 404, "NOT_FOUND")
    unknown = await shop.http.post(
        "/v1/cart/items", json={"sku": "X-1", "quantity": 1}, headers={TOKEN: str(uuid.uuid4())}
    )
    shop.client.problem(unknown, 404, "NOT_FOUND")
    malformed = await shop.http.get("/v1/cart", headers={TOKEN: "not-a-cart"})
    assert fields(shop.client.problem(malformed, 400, "INVALID_ARGUMENT")) == [TOKEN]


async def test_signing_in_merges_the_guest_cart_into_the_customers_once(shop: Shop) -> None:
    kept, added = await shop.sku(price=500), await shop.sku(price=700)
    guest = await guest_cart(shop)
    await shop.fill(guest, kept, 2)
    await shop.fill(guest, added, 1)
    customer = await shop.client.auth()
    await shop.fill(customer, kept, 1)

    merged = await shop.http.post("/v1/cart/merge", headers={**customer, **guest})
    assert merged.status_code == 200, merged.text
    assert {line["sku"]: line["quantity"] for line in merged.json()["lines"]} == {kept: 3, added: 1}
    assert await lines_of(shop, customer) == {kept: 3, added: 1}
    assert (await shop.http.get("/v1/cart", headers=guest)).json()["status"] == "merged"
    late = await shop.http.post("/v1/cart/items", json={"sku": kept, "quantity": 1}, headers=guest)
    shop.client.problem(late, 409, "CART_NOT_ACTIVE")
    again = await shop.http.post("/v1/cart/merge", headers={**customer, **guest})
    assert again.status_code == 200 and await lines_of(shop, customer) == {kept: 3, added: 1}
    shop.client.problem(await shop.http.post("/v1/cart/merge", headers=guest), 401, "TOKEN_REQUIRED")

    newcomer, theirs = await shop.client.auth(), await guest_cart(shop)
    await shop.fill(theirs, kept, 1)
    adopted = await shop.http.post("/v1/cart/merge", headers={**newcomer, **theirs})
    assert adopted.status_code == 200 and adopted.json()["cart_id"] == theirs[TOKEN]
    assert await lines_of(shop, newcomer) == {kept: 1}


async def test_a_guest_over_grpc(shop: Shop) -> None:
    stub = shop.client.grpc
    cart = (await stub.CreateGuestCart(storefront_pb2.CreateGuestCartRequest())).cart
    guest = ((TOKEN.lower(), cart.cart_id),)
    sku = await shop.sku(price=1100)
    added = await stub.AddCartItem(storefront_pb2.AddCartItemRequest(sku=sku, quantity=1), metadata=guest)
    assert added.cart.cart_id == cart.cart_id and added.cart.total.amount == 1100
    request = storefront_pb2.PlaceOrderRequest(
        idempotency_key=f"grpc-guest-{uuid.uuid4()}", payment_method=await shop.card(), email="g@example.com"
    )
    request.shipping_address.CopyFrom(common_pb2.Address(**ADDRESS))
    placed = await stub.PlaceOrder(request, metadata=guest, timeout=30)
    assert placed.status == "completed" and placed.order_id

    other = (await stub.CreateGuestCart(storefront_pb2.CreateGuestCartRequest())).cart
    await stub.AddCartItem(
        storefront_pb2.AddCartItemRequest(sku=sku, quantity=2), metadata=((TOKEN.lower(), other.cart_id),)
    )
    customer = grpc_metadata(await shop.client.auth())
    merged = await stub.MergeGuestCart(
        storefront_pb2.MergeGuestCartRequest(cart_token=other.cart_id), metadata=customer
    )
    assert [(line.sku, line.quantity) for line in merged.cart.lines] == [(sku, 2)]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.MergeGuestCart(storefront_pb2.MergeGuestCartRequest(cart_token="nope"), metadata=customer)
    assert parse_rpc_error(refused.value).code is grpc.StatusCode.INVALID_ARGUMENT
