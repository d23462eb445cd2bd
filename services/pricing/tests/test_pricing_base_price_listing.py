"""ListBasePrices: every base price by (sku, currency) with the audit id its PriceChanged carried,
so that catalog's search-projection backfill orders a read against the events by one number."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2 as pb
from shopkit.auth import metadata_for
from shopkit.errors import parse_rpc_error

SERVICE = metadata_for("service")


async def set_base(stub: Any, *prices: tuple[str, int, str]) -> None:
    request = pb.SetBasePricesRequest(
        prices=[pb.BasePrice(sku=s, price=common_pb2.Money(amount=a, currency=c)) for s, a, c in prices]
    )
    await stub.SetBasePrices(request, metadata=SERVICE)


async def list_all(stub: Any, page_size: int) -> list[pb.BasePriceEntry]:
    found: list[pb.BasePriceEntry] = []
    token = ""
    while True:
        request = pb.ListBasePricesRequest(page=common_pb2.PageRequest(page_size=page_size, page_token=token))
        response = await stub.ListBasePrices(request, metadata=SERVICE)
        assert len(response.prices) <= page_size
        found.extend(response.prices)
        token = response.page.next_page_token
        if not token:
            return found


async def test_pages_hold_every_price_once_in_key_order_with_its_newest_audit_id(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    await set_base(stub, (f"{unique}-A", 1000, "USD"), (f"{unique}-A", 900, "EUR"), (f"{unique}-B", 500, "USD"))
    await set_base(stub, (f"{unique}-A", 1100, "USD"))
    log = await stub.ListPriceChanges(pb.ListPriceChangesRequest(sku=f"{unique}-A"), metadata=SERVICE)
    newest: dict[str, int] = {}
    for change in log.changes:  # newest first
        newest.setdefault(change.new_price.currency, change.id)

    listed = [p for p in await list_all(stub, 2) if p.sku.startswith(unique)]
    assert [(p.sku, p.price.currency, p.price.amount) for p in listed] == [
        (f"{unique}-A", "EUR", 900),
        (f"{unique}-A", "USD", 1100),
        (f"{unique}-B", "USD", 500),
    ]
    assert listed[0].audit_id == newest["EUR"] and listed[1].audit_id == newest["USD"]
    assert listed[1].audit_id > listed[0].audit_id > 0
    everything = await list_all(stub, 1)
    keys = [(p.sku, p.price.currency) for p in everything]
    assert keys == sorted(keys) and len(keys) == len(set(keys))


async def test_a_token_it_did_not_issue_is_invalid_argument(pricing: Any) -> None:
    stub = pricing.stub
    for token in ("garbage!", "eyJhZnRlciI6MX0"):  # not base64 JSON; {"after":1}
        request = pb.ListBasePricesRequest(page=common_pb2.PageRequest(page_token=token))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ListBasePrices(request, metadata=SERVICE)
        info = parse_rpc_error(raised.value)
        assert info.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in info.violations] == ["page.page_token"]


async def test_a_customer_may_not_list_base_prices(pricing: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await pricing.stub.ListBasePrices(pb.ListBasePricesRequest(), metadata=metadata_for("customer", "c1"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
