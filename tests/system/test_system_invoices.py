"""Invoices and credit through the gateway on the launched stack: a company with net-30 terms and a
credit limit; an invoice order within the limit gets its invoice (due 30 days after issue); a second
one that would take the open balance past the limit is refused before anything is reserved (409
CREDIT_LIMIT_EXCEEDED); an integration client with invoices:write records the payment of the first
invoice (one without the scope is refused); the second order is accepted then; the PDF downloads."""

from __future__ import annotations

import io
import time
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pypdf

from shop.checkout.v1 import checkout_pb2
from shop_devstack.harness import Stack

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import B2bVariants, Backstage, NewShopper, Shopper

CLIENT_IP = {"X-Forwarded-For": "198.19.251.7"}  # apart from the other system tests' addresses
CONTEXT_CACHE_SECONDS = 5.0  # the gateway's COMPANY_CONTEXT_CACHE_SECONDS: a company change shows after it


def _admin(stack: Stack, http: httpx.Client) -> dict[str, str]:
    issued = http.post(
        f"{stack.gateway_url}/v1/auth/token", json={"username": f"finance-{uuid.uuid4().hex[:8]}", "role": "admin"}
    )
    assert issued.status_code == 200, issued.text
    return {**CLIENT_IP, "authorization": f"Bearer {issued.json()['access_token']}"}


def _integration(stack: Stack, http: httpx.Client, admin: dict[str, str], scopes: list[str]) -> dict[str, str]:
    """Headers of an ERP's machine client with `scopes` (client-credentials grant)."""
    body = {"name": "ERP", "scopes": scopes, "request_id": uuid.uuid4().hex}
    created = http.post(f"{stack.gateway_url}/v1/admin/integration-clients", json=body, headers=admin)
    assert created.status_code == 201, created.text
    client = created.json()
    issued = http.post(
        f"{stack.gateway_url}/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
        headers=CLIENT_IP,
    )
    assert issued.status_code == 200, issued.text
    return {**CLIENT_IP, "authorization": f"Bearer {issued.json()['access_token']}"}


def _invoice_of(buyer: Shopper, order_id: str) -> dict[str, Any]:
    listed = buyer.get("/v1/company/invoices")
    assert listed.status_code == 200, listed.text
    [invoice] = [i for i in listed.json()["invoices"] if i["order_id"] == order_id]
    found: dict[str, Any] = invoice
    return found


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_an_invoice_order_over_the_credit_limit_is_refused_and_accepted_after_a_payment(
    stack: Stack, http: httpx.Client, new_shopper: NewShopper, backstage: Backstage, b2b_variants: B2bVariants
) -> None:
    url, admin = stack.gateway_url, _admin(stack, http)
    account = f"invoices-{uuid.uuid4().hex[:8]}"
    company = {
        "account_id": account,
        "name": "Initrode",
        "payment_terms_days": 30,
        "credit_limit": {"amount": 100_000_000, "currency": "USD"},
    }
    created = http.post(
        f"{url}/v1/admin/companies", json=company, headers={**admin, "Idempotency-Key": f"company-{account}"}
    )
    assert created.status_code == 201, created.text
    buyer = new_shopper("invoice-buyer", role="b2b_buyer", claims={"account_id": account})
    # What the buyer's channel (b2b) sells them, at their account's prices.
    sku = min(b2b_variants(buyer, 5), key=lambda v: v["price"]["amount"])["sku"]

    # 1. An invoice order within the limit: its invoice is issued, due after the net-30 terms.
    buyer.add_to_cart(sku, 1)
    first = buyer.checkout("invoice", purchase_order_number="PO-INV-1")
    assert first.status_code == 201, first.text
    first_order = first.json()["order_id"]
    invoice = _invoice_of(buyer, first_order)
    assert invoice["status"] == "open" and invoice["purchase_order_number"] == "PO-INV-1"
    assert _at(invoice["due_at"]) - _at(invoice["issued_at"]) == timedelta(days=30)
    owed = invoice["balance"]["amount"]
    assert owed == invoice["totals"]["total"]["amount"] > 0

    # 2. The company's limit now leaves less than another such order: refused before reserving.
    limit = {"amount": owed + owed // 2, "currency": "USD"}
    changed = http.patch(f"{url}/v1/admin/companies/{account}", json={"credit_limit": limit}, headers=admin)
    assert changed.status_code == 200, changed.text
    time.sleep(CONTEXT_CACHE_SECONDS + 0.5)
    stock_before = backstage.stock(sku)
    buyer.add_to_cart(sku, 1)
    refused = buyer.checkout("invoice", purchase_order_number="PO-INV-2")
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "CREDIT_LIMIT_EXCEEDED" and "credit" in problem["detail"], problem
    steps = {step.kind: step.state for step in backstage.checkout(problem["metadata"]["checkout_id"]).steps}
    assert steps.get(checkout_pb2.CHECKOUT_STEP_KIND_RESERVE_STOCK) not in (
        checkout_pb2.STEP_STATE_SUCCEEDED,
        checkout_pb2.STEP_STATE_COMPENSATED,
    ), steps
    assert backstage.stock(sku) == stock_before

    # 3. The ERP records the payment of the first invoice: only with invoices:write.
    payment = {"amount": {"amount": owed, "currency": "USD"}, "reference": "WIRE-2026-001"}
    path = f"{url}/v1/admin/invoices/{invoice['number']}/payments"
    reader = _integration(stack, http, admin, ["invoices:read"])
    denied = http.post(path, json=payment, headers={**reader, "Idempotency-Key": f"erp-{uuid.uuid4().hex}"})
    assert denied.status_code == 403 and denied.json()["code"] == "INSUFFICIENT_SCOPE", denied.text
    erp = _integration(stack, http, admin, ["invoices:read", "invoices:write"])
    paid = http.post(path, json=payment, headers={**erp, "Idempotency-Key": f"erp-{uuid.uuid4().hex}"})
    assert paid.status_code == 201, paid.text
    assert paid.json()["invoice"]["status"] == "paid" and paid.json()["invoice"]["balance"]["amount"] == 0
    overdue = http.get(f"{url}/v1/admin/invoices", params={"account_id": account, "overdue": "true"}, headers=erp)
    assert overdue.status_code == 200 and overdue.json()["invoices"] == [], overdue.text

    # 4. The second order passes now; its invoice is open.
    accepted = buyer.checkout("invoice", purchase_order_number="PO-INV-2")
    assert accepted.status_code == 201, accepted.text
    second = _invoice_of(buyer, accepted.json()["order_id"])
    assert second["status"] == "open" and second["number"] != invoice["number"]
    listed = buyer.get("/v1/orders", scope="account")  # the account's orders, each with its invoice
    assert listed.status_code == 200, listed.text
    invoices = {o["order_id"]: (o["invoice"]["number"], o["invoice"]["status"]) for o in listed.json()["orders"]}
    assert invoices[first_order] == (invoice["number"], "paid")
    assert invoices[accepted.json()["order_id"]] == (second["number"], "open")

    # 5. The invoice as a PDF.
    document = buyer.get(f"/v1/invoices/{invoice['number']}.pdf")
    assert document.status_code == 200 and document.headers["content-type"] == "application/pdf", document.text
    assert document.content.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(document.content)).pages)
    assert invoice["number"] in text and "PO-INV-1" in text
