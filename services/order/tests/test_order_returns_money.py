"""The money rules of returns (pure): what units refund, with order discounts, tax and shipping."""

from __future__ import annotations

import dataclasses

from shop_order.domain.model import (
    Address,
    FulfilmentMethod,
    FulfilmentStatus,
    Line,
    Order,
    OrderStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Totals,
)
from shop_order.domain.returns import (
    Return,
    ReturnMethod,
    ReturnReason,
    ReturnStatus,
    paid_per_line,
    shipping_paid,
    shipping_refund,
    units_amount,
)
from shopkit.money import Money


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def with_lines(lines: list[Line], totals: Totals) -> Order:
    return Order(
        order_id="o-1",
        number="SO-000001",
        checkout_id="c-1",
        customer_id="c",
        account_id="",
        email="a@example.com",
        channel="web",
        status=OrderStatus.FULFILLED,
        payment_status=PaymentStatus.CAPTURED,
        fulfilment_status=FulfilmentStatus.FULFILLED,
        currency="EUR",
        lines=tuple(lines),
        totals=totals,
        fulfilment_method=FulfilmentMethod(ship_to=Address(country="DE")),
        billing_address=Address(country="DE"),
        payment=Payment(PaymentKind.CARD, totals.total, captured_amount=totals.total.amount),
    )


def line(line_id: str, quantity: int, price: int, discount: int = 0, tax: int = 0) -> Line:
    total = quantity * price - discount
    return Line(line_id, f"SKU-{line_id}", "p", line_id, quantity, eur(price), eur(discount), eur(total), tax=tax)


def a_return(reason: ReturnReason, shipping: int = 0) -> Return:
    return Return(
        "r-1", "o-1", "q-1", ReturnStatus.RECEIVED, ReturnMethod.MAIL, reason, (), "EUR", "", shipping_refund=shipping
    )


def test_units_refund_their_share_and_every_unit_adds_up_to_the_line() -> None:
    assert [units_amount(1000, 3, before, 1) for before in range(3)] == [333, 333, 334]
    assert units_amount(1000, 3, 0, 3) == 1000
    assert units_amount(1000, 3, 1, 0) == 0


def test_order_discount_and_tax_are_shared_by_line_totals() -> None:
    # 3000 + 1000 of lines, 400 order coupon, 800 tax (no per-line tax): 3/4 and 1/4 each.
    lines = [line("a", 3, 1000), line("b", 1, 1000)]
    order = with_lines(lines, Totals(eur(4000), eur(400), eur(500), eur(800), eur(4900)))
    assert paid_per_line(order) == {"a": 3000 - 300 + 600, "b": 1000 - 100 + 200}
    assert sum(paid_per_line(order).values()) + shipping_paid(order) == order.totals.total.amount


def test_per_line_tax_and_prices_that_include_tax() -> None:
    lines = [line("a", 1, 1000, tax=190), line("b", 1, 500, tax=35)]
    order = with_lines(lines, Totals(eur(1500), eur(0), eur(500), eur(320), eur(2320)))
    assert paid_per_line(order) == {"a": 1190, "b": 535}
    assert shipping_paid(order) == 500 + 95  # the rest of tax_total is the shipping's
    included = dataclasses.replace(order.totals, total=eur(2000), tax_included=True)
    assert paid_per_line(dataclasses.replace(order, totals=included)) == {"a": 1000, "b": 500}


def test_shipping_is_refunded_once_for_a_fault_or_the_last_units() -> None:
    order = with_lines([line("a", 2, 1000)], Totals(eur(2000), eur(0), eur(500), eur(0), eur(2500)))
    assert shipping_refund(order, (), a_return(ReturnReason.CHANGED_MIND), leaves_nothing=False) == 0
    assert shipping_refund(order, (), a_return(ReturnReason.CHANGED_MIND), leaves_nothing=True) == 500
    assert shipping_refund(order, (), a_return(ReturnReason.DEFECTIVE), leaves_nothing=False) == 500
    earlier = dataclasses.replace(a_return(ReturnReason.DAMAGED, 500), return_id="r-0")
    assert shipping_refund(order, (earlier,), a_return(ReturnReason.DEFECTIVE), leaves_nothing=True) == 0
