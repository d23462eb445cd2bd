"""Orders for staff through the gateway, against the REAL order service (and the session's inventory):
search by status, customer, number and date range with cursor pages; partial and full fulfilment with
carrier and tracking; refunds by amount with a reason; the Idempotency-Key; customers refused.

The orders are invoice orders created as checkout creates them (CreateOrder with the service identity):
fulfilment and an invoice's refund (a credit) need no payment provider.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.storefront.v1 import backoffice_pb2, backoffice_pb2_grpc
from shop_order.main import build as build_order
from shop_order.settings import OrderSettings
from shopkit.auth import metadata_for
from shopkit.testing import Postgres, free_port, grpc_address, peer

if TYPE_CHECKING:
    from conftest import Backends, Client, GatewayFactory

SERVICE = metadata_for("service")


def invoice_order(customer_id: str, quantities: tuple[int, ...] = (3, 1)) -> order_pb2.CreateOrderRequest:
    def money(amount: int) -> common_pb2.Money:
        return common_pb2.Money(amount=amount, currency="USD")

    lines = [(f"BO-{uuid.uuid4().hex[:8]}".upper(), quantity) for quantity in quantities]
    subtotal = sum(quantity * 1000 for _, quantity in lines)
    request = order_pb2.CreateOrderRequest(
        checkout_id=str(uuid.uuid4()),
        customer=common_pb2.CustomerContext(
            customer_id=customer_id, account_id=f"acct-{customer_id}", channel="b2b", country="US", currency="USD"
        ),
        email="staff-test@example.com",
        lines=[
            order_pb2.OrderLine(
                sku=sku,
                product_id=f"prod-{sku}",
                name=sku,
                quantity=quantity,
                unit_price=money(1000),
                discount=money(0),
                line_total=money(quantity * 1000),
            )
            for sku, quantity in lines
        ],
        totals=order_pb2.OrderTotals(
            subtotal=money(subtotal),
            discount_total=money(0),
            shipping_total=money(0),
            tax_total=money(0),
            total=money(subtotal),
        ),
        billing_address=common_pb2.Address(
            name="Ada", line1="1 Main St", city="Springfield", postal_code="62701", country="US"
        ),
    )
    request.fulfilment_method.ship.address.CopyFrom(request.billing_address)
    request.payment.kind = order_pb2.PAYMENT_METHOD_KIND_INVOICE
    return request


class Staff:
    def __init__(self, client: Client, orders: order_pb2_grpc.OrderServiceAsyncStub):
        self.client = client
        self.http = client.http
        self.orders = orders

    async def order(self, customer_id: str, quantities: tuple[int, ...] = (3, 1)) -> order_pb2.Order:
        response = await self.orders.CreateOrder(invoice_order(customer_id, quantities), metadata=SERVICE)
        return response.order


@pytest.fixture(scope="module")
async def staff(
    postgres: Postgres, nats_url: str, backends: Backends, make_gateway: GatewayFactory
) -> AsyncIterator[Staff]:
    inventory = grpc_address(backends.runtimes["inventory"])
    async with peer(
        build_order,
        OrderSettings,
        postgres,
        nats_url,
        inventory_addr=inventory,
        payment_provider_url=f"http://127.0.0.1:{free_port()}",
        completion_enabled=False,
    ) as order:
        channel = grpc.aio.insecure_channel(grpc_address(order))
        stub = order_pb2_grpc.OrderServiceStub(channel)  # type: ignore[no-untyped-call]
        async with make_gateway(order_addr=grpc_address(order)) as client:
            yield Staff(client, stub)
        await channel.close(grace=None)


async def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_search_by_customer_status_number_and_pages(staff: Staff) -> None:
    admin = await staff.client.auth("admin")
    customer = f"cus-{uuid.uuid4().hex[:8]}"
    placed = [await staff.order(customer) for _ in range(3)]
    body = await _json(await staff.http.get("/v1/admin/orders", params={"customer_id": customer}, headers=admin))
    assert [o["order_id"] for o in body["orders"]] == [o.order_id for o in reversed(placed)]
    first = body["orders"][0]
    assert first["status"] == "confirmed" and first["payment_status"] == "invoiced"
    assert first["lines"][0]["unit_price"] == {"amount": 1000, "currency": "USD"}

    seen: list[str] = []
    token = ""
    while True:
        params: dict[str, str | int] = {"customer_id": customer, "page_size": 2, "page_token": token}
        page = await _json(await staff.http.get("/v1/admin/orders", params=params, headers=admin))
        seen += [o["order_id"] for o in page["orders"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == [o.order_id for o in reversed(placed)]

    by_number = await _json(
        await staff.http.get("/v1/admin/orders", params={"number": placed[1].number}, headers=admin)
    )
    assert [o["order_id"] for o in by_number["orders"]] == [placed[1].order_id]
    none = {"number": placed[1].number, "status": "cancelled"}
    assert (await _json(await staff.http.get("/v1/admin/orders", params=none, headers=admin)))["orders"] == []
    unknown = await _json(await staff.http.get("/v1/admin/orders", params={"number": "SO-999999999"}, headers=admin))
    assert unknown["orders"] == []
    confirmed = {"customer_id": customer, "status": "confirmed"}
    assert len((await _json(await staff.http.get("/v1/admin/orders", params=confirmed, headers=admin)))["orders"]) == 3


async def test_search_by_date_range(staff: Staff) -> None:
    admin = await staff.client.auth("admin")
    customer = f"cus-{uuid.uuid4().hex[:8]}"
    order = await staff.order(customer)
    created = order.created_at.ToDatetime(tzinfo=UTC)
    around = {"customer_id": customer, "created_after": (created - timedelta(minutes=1)).isoformat()}
    found = await _json(await staff.http.get("/v1/admin/orders", params=around, headers=admin))
    assert [o["order_id"] for o in found["orders"]] == [order.order_id] and found["next_page_token"] == ""
    later = {"customer_id": customer, "created_after": (created + timedelta(seconds=1)).isoformat()}
    assert (await _json(await staff.http.get("/v1/admin/orders", params=later, headers=admin)))["orders"] == []
    before = {"customer_id": customer, "created_before": created.isoformat()}
    assert (await _json(await staff.http.get("/v1/admin/orders", params=before, headers=admin)))["orders"] == []
    naive = {"created_after": datetime(2026, 1, 1).isoformat()}  # without an offset: refused
    response = await staff.http.get("/v1/admin/orders", params=naive, headers=admin)
    body = staff.client.problem(response, 400, "INVALID_ARGUMENT")
    assert [e["field"] for e in body["errors"]] == ["created_after"]


async def test_partial_then_full_fulfilment_with_tracking(staff: Staff) -> None:
    admin = await staff.client.auth("admin")
    order = await staff.order(f"cus-{uuid.uuid4().hex[:8]}", (3, 1))
    first_line = order.lines[0].line_id
    key = {"Idempotency-Key": f"ship-{uuid.uuid4()}"}
    body = {"lines": [{"line_id": first_line, "quantity": 2}], "carrier": "DHL", "tracking_number": "JD0001"}
    for _ in range(2):  # the same key records one fulfilment
        result = await _json(
            await staff.http.post(f"/v1/admin/orders/{order.order_id}/fulfilments", json=body, headers={**admin, **key})
        )
    assert result["order"]["status"] == "partially_fulfilled"
    assert len(result["order"]["fulfilments"]) == 1
    assert result["fulfilment"]["carrier"] == "DHL" and result["fulfilment"]["tracking_number"] == "JD0001"
    assert result["fulfilment"]["lines"] == [{"line_id": first_line, "quantity": 2}]

    rest = {"Idempotency-Key": f"ship-{uuid.uuid4()}"}
    done = await _json(
        await staff.http.post(
            f"/v1/admin/orders/{order.order_id}/fulfilments", json={"carrier": "UPS"}, headers={**admin, **rest}
        )
    )
    assert done["order"]["status"] == "fulfilled" and done["order"]["fulfilment_status"] == "fulfilled"
    assert sorted((q["line_id"], q["quantity"]) for q in done["fulfilment"]["lines"]) == sorted(
        [(first_line, 1), (order.lines[1].line_id, 1)]
    )
    full = await _json(await staff.http.get(f"/v1/admin/orders/{order.order_id}", headers=admin))
    assert [h["change"] for h in full["history"]] == ["created", "fulfilled", "fulfilled"]


async def test_refund_by_amount_with_a_reason_once_per_key(staff: Staff) -> None:
    admin = await staff.client.auth("admin")
    order = await staff.order(f"cus-{uuid.uuid4().hex[:8]}", (1,))
    key = {"Idempotency-Key": f"refund-{uuid.uuid4()}"}
    body = {"reason": "damaged in transit", "amount": {"amount": 250, "currency": "USD"}}
    for _ in range(2):
        result = await _json(
            await staff.http.post(f"/v1/admin/orders/{order.order_id}/refunds", json=body, headers={**admin, **key})
        )
    assert result["refund"]["amount"] == {"amount": 250, "currency": "USD"}
    assert result["refund"]["reason"] == "damaged in transit"
    assert len(result["order"]["refunds"]) == 1


async def test_bad_requests_name_their_fields_and_change_nothing(staff: Staff) -> None:
    admin = await staff.client.auth("admin")
    order = await staff.order(f"cus-{uuid.uuid4().hex[:8]}", (1,))
    url = f"/v1/admin/orders/{order.order_id}"
    no_key = await staff.http.post(f"{url}/refunds", json={"reason": "x"}, headers=admin)
    staff.client.problem(no_key, 400, "IDEMPOTENCY_KEY_REQUIRED")
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    no_reason = await staff.http.post(f"{url}/refunds", json={"reason": " "}, headers={**admin, **key})
    assert [e["field"] for e in staff.client.problem(no_reason, 400, "INVALID_ARGUMENT")["errors"]] == ["reason"]
    too_many = {"lines": [{"line_id": order.lines[0].line_id, "quantity": 5}]}
    response = await staff.http.post(f"{url}/fulfilments", json=too_many, headers={**admin, **key})
    assert response.status_code == 400, response.text
    zero = {"lines": [{"line_id": order.lines[0].line_id, "quantity": 0}]}
    response = await staff.http.post(f"{url}/fulfilments", json=zero, headers={**admin, **key})
    assert [e["field"] for e in staff.client.problem(response, 400, "INVALID_ARGUMENT")["errors"]] == [
        "lines[0].quantity"
    ]
    after = await _json(await staff.http.get(url, headers=admin))
    assert after["status"] == "confirmed" and after["fulfilments"] == [] and after["refunds"] == []
    big = await staff.http.get("/v1/admin/orders", params={"page_size": 101}, headers=admin)
    staff.client.problem(big, 400, "INVALID_ARGUMENT")


async def test_customers_and_analysts_are_refused_anonymous_is_401(staff: Staff) -> None:
    order = await staff.order(f"cus-{uuid.uuid4().hex[:8]}", (1,))
    for role in ("customer", "fraud_analyst"):
        headers = {**await staff.client.auth(role), "Idempotency-Key": f"k-{uuid.uuid4()}"}
        for response in (
            await staff.http.get("/v1/admin/orders", headers=headers),
            await staff.http.get(f"/v1/admin/orders/{order.order_id}", headers=headers),
            await staff.http.post(f"/v1/admin/orders/{order.order_id}/fulfilments", json={}, headers=headers),
            await staff.http.post(f"/v1/admin/orders/{order.order_id}/refunds", json={"reason": "x"}, headers=headers),
        ):
            staff.client.problem(response, 403, "ROLE_REQUIRED")
    staff.client.problem(await staff.http.get("/v1/admin/orders"), 401, "TOKEN_REQUIRED")


async def test_search_and_fulfil_over_grpc(staff: Staff) -> None:
    admin = (("authorization", f"Bearer {await staff.client.token(role='admin')}"),)
    customer_id = f"cus-{uuid.uuid4().hex[:8]}"
    order = await staff.order(customer_id, (2,))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{staff.client.runtime.grpc_port}") as channel:
        office = backoffice_pb2_grpc.BackOfficeServiceStub(channel)  # type: ignore[no-untyped-call]
        found = await office.SearchOrders(backoffice_pb2.SearchOrdersRequest(customer_id=customer_id), metadata=admin)
        assert [o.order_id for o in found.orders] == [order.order_id]
        request = backoffice_pb2.FulfilOrderRequest(
            order_id=order.order_id, idempotency_key=f"ship-{uuid.uuid4()}", carrier="DHL", tracking_number="T-1"
        )
        shipped = await office.FulfilOrder(request, metadata=admin)
        assert shipped.order.status == order_pb2.ORDER_STATUS_FULFILLED and shipped.fulfilment.carrier == "DHL"
        customer = (("authorization", f"Bearer {await staff.client.token()}"),)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await office.GetStaffOrder(backoffice_pb2.GetStaffOrderRequest(order_id=order.order_id), metadata=customer)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
