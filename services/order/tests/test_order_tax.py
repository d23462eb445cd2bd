"""Tax in an order's totals: added on top, or included in the prices (EU VAT), and each line's tax."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shopkit.auth import metadata_for
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Shop

SERVICE = metadata_for("service")


def _taxed(request: order_pb2.CreateOrderRequest, line_tax: int, shipping_tax: int, *, included: bool) -> None:
    """Give the request's lines `line_tax` each and its totals the tax, added or included."""
    currency = request.totals.total.currency
    for line in request.lines:
        line.tax.CopyFrom(common_pb2.Money(amount=line_tax, currency=currency))
    tax = line_tax * len(request.lines) + shipping_tax
    request.totals.tax_total.amount = tax
    request.totals.tax_included = included
    if not included:
        request.totals.total.amount += tax
        request.payment.authorised_amount.amount += tax


async def test_included_tax_is_part_of_the_total_and_each_line_keeps_its_tax(shop: Shop) -> None:
    request = shop.request(lines={"VAT-1": (1, 11900)}, shipping=490)
    _taxed(request, 1900, 78, included=True)
    order = (await shop.stub.CreateOrder(request, metadata=SERVICE)).order
    assert (order.totals.total.amount, order.totals.tax_total.amount, order.totals.tax_included) == (12390, 1978, True)
    assert order.lines[0].tax.amount == 1900
    again = (await shop.stub.GetOrder(order_pb2.GetOrderRequest(order_id=order.order_id), metadata=SERVICE)).order
    assert again.lines[0].tax.amount == 1900 and again.totals.tax_included
    repeat = (await shop.stub.CreateOrder(request, metadata=SERVICE)).order
    assert repeat.order_id == order.order_id


async def test_added_tax_is_on_top_and_totals_that_do_not_add_up_are_refused(shop: Shop) -> None:
    request = shop.request(lines={"TAX-1": (2, 1000)}, shipping=500)
    _taxed(request, 145, 0, included=False)
    order = (await shop.stub.CreateOrder(request, metadata=SERVICE)).order
    assert (order.totals.total.amount, order.totals.tax_total.amount) == (2000 + 500 + 145, 145)
    wrong = shop.request(lines={"TAX-2": (1, 1000)}, shipping=0)
    _taxed(wrong, 100, 0, included=True)
    wrong.totals.total.amount += 100  # included tax added on top
    wrong.totals.tax_total.amount = 50  # less than the lines' tax
    try:
        await shop.stub.CreateOrder(wrong, metadata=SERVICE)
    except grpc.aio.AioRpcError as error:
        info = parse_rpc_error(error)
    else:
        raise AssertionError("created")
    assert info.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {"totals.total", "totals.tax_total"} <= {v.field for v in info.violations}
