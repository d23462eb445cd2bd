"""Checkout with a saved address at the edge: an address or its id, not both; ids only for the signed in
(tests/system/test_system_accounts.py buys to a saved address on the launched stack)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode)
    from conftest import Client

ADDRESS = {"name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


async def test_an_address_and_its_id_together_are_refused(gateway: Client) -> None:
    headers = {**await gateway.auth("customer"), "Idempotency-Key": gateway.unique("saved")}
    body = {
        "payment_method": "pm_card_visa",
        "shipping_address": ADDRESS,
        "shipping_address_id": str(uuid.uuid4()),
        "billing_address": ADDRESS,
        "billing_address_id": "not-an-id",
    }
    answer = await gateway.http.post("/v1/checkout", json=body, headers=headers)
    problem = gateway.problem(answer, 400, "INVALID_ARGUMENT")
    assert sorted({e["field"] for e in problem["errors"]}) == ["billing_address_id", "shipping_address_id"]


async def test_an_address_id_stands_for_the_required_address(gateway: Client) -> None:
    headers = {**await gateway.auth("customer"), "Idempotency-Key": gateway.unique("saved")}
    body = {"payment_method": "pm_card_visa", "shipping_address_id": "nope"}
    answer = await gateway.http.post("/v1/checkout", json=body, headers=headers)
    problem = gateway.problem(answer, 400, "INVALID_ARGUMENT")
    assert [e["field"] for e in problem["errors"]] == ["shipping_address_id"]
