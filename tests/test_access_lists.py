"""Every service's allow-list covers exactly its methods, and every call one service makes to another
is one the callee's list admits (the calls are read from the callers' code)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from shopkit.access import GATEWAY, SERVICES, TOOLING

ROOT = Path(__file__).resolve().parent.parent
# `self.peers.pricing.Quote`, `self.stub.Release` (order's inventory stub), `backends.cart.AddCartLine`.
CALL = re.compile(r"\.(catalog|pricing|inventory|cart|checkout|order|fraud|customers)\.([A-Z][A-Za-z]+)\b")
CALLERS_OF_CODE = {"cart": "services/cart/src", "checkout": "services/checkout/src", GATEWAY: "services/gateway/src"}


def methods(service: str) -> set[str]:
    module = importlib.import_module(f"shop.{service}.v1.{service}_pb2")
    return {method.name for svc in module.DESCRIPTOR.services_by_name.values() for method in svc.methods}


def callers(service: str) -> dict[str, frozenset[str]]:
    return dict(importlib.import_module(f"shop_{service}.access").CALLERS)


@pytest.mark.parametrize("service", SERVICES)
def test_the_list_names_every_method_and_nothing_else(service: str) -> None:
    assert set(callers(service)) == methods(service)


@pytest.mark.parametrize("service", SERVICES)
def test_what_the_gateway_may_call_an_operator_may_call_too(service: str) -> None:
    for method, allowed in callers(service).items():
        if GATEWAY in allowed:
            assert TOOLING in allowed, f"{service}.{method}: what the gateway may do, an operator may do"


@pytest.mark.parametrize("caller", sorted(CALLERS_OF_CODE))
def test_every_call_in_a_callers_code_is_admitted(caller: str) -> None:
    found = {
        (callee, method)
        for path in (ROOT / CALLERS_OF_CODE[caller]).rglob("*.py")
        for callee, method in CALL.findall(path.read_text())
        if callee != caller and method in methods(callee)
    }
    assert found, f"no calls found in {CALLERS_OF_CODE[caller]}"
    refused = sorted(f"{callee}.{method}" for callee, method in found if caller not in callers(callee)[method])
    assert not refused, f"{caller} calls methods whose allow-list leaves it out: {refused}"


def test_orders_calls_to_inventory_are_admitted() -> None:
    text = (ROOT / "services/order/src/shop_order/stock.py").read_text()
    called = set(re.findall(r"self\.stub\.([A-Z][A-Za-z]+)\(", text))
    assert called == {"Release", "GetReservation", "Restock", "Reserve", "Commit"}
    assert all("order" in callers("inventory")[method] for method in called)


def test_orders_calls_to_catalog_are_admitted() -> None:
    text = (ROOT / "services/order/src/shop_order/catalog_terms.py").read_text()
    called = set(re.findall(r"self\.stub\.([A-Z][A-Za-z]+)\(", text))
    assert called == {"BatchGetVariants"}
    assert all("order" in callers("catalog")[method] for method in called)


def test_notifications_calls_to_order_are_admitted() -> None:
    text = (ROOT / "services/notifications/src/shop_notifications/orders.py").read_text()
    called = set(re.findall(r"self\.stub\.([A-Z][A-Za-z]+)\(", text))
    assert called == {"GetOrder"}
    assert all("notifications" in callers("order")[method] for method in called)


def test_the_gateway_calls_every_method_of_customers_it_is_admitted_to() -> None:
    """The account routes (app/me.py) reach each shopper-facing method of customers, all admitted."""
    text = (ROOT / "services/gateway/src/shop_gateway/app/me.py").read_text()
    called = {method for callee, method in CALL.findall(text) if callee == "customers"}
    admitted = {method for method, allowed in callers("customers").items() if GATEWAY in allowed}
    assert called and called <= admitted
    assert {"GetProfile", "AddAddress", "AddPaymentMethod", "DeletePaymentMethod"} <= called
