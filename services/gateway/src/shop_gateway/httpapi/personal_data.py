"""A customer's personal data over HTTP: the signed-in customer exports or erases their own; an admin
any customer's, on the customer's request (see app.personal_data and docs/architecture.md)."""

from __future__ import annotations

from shop_gateway.app import personal_data as use
from shop_gateway.httpapi.backoffice.common import IdempotencyKey, router
from shop_gateway.httpapi.deps import ShopDep, SignedIn

personal_data = router("/v1", "personal data")


@personal_data.get("/me/export", summary="Everything the shop holds about me")
async def export_me(shop: ShopDep, who: SignedIn) -> use.CustomerExport:
    """One JSON document with a section per service (carts, checkouts, orders and returns, fraud
    assessments, mails), each a list of records as the service holds them."""
    return await use.export_mine(shop, who)


@personal_data.delete("/me", summary="Erase me (Idempotency-Key)")
async def erase_me(shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None) -> use.CustomerErasure:
    """Carts are deleted; orders and checkouts keep what accounting needs with a pseudonym in place of
    names, e-mail, phone and street lines; fraud keeps hashed counters only; mails lose their bodies
    and addresses. What each service changed is in the answer. 503 ERASURE_INCOMPLETE: a service did
    not answer; the same request with the same Idempotency-Key completes it."""
    return await use.erase_me(shop, who, idempotency_key or "")


@personal_data.get("/admin/customers/{customer_id}/export", summary="Export a customer's data (admin)")
async def export_customer(customer_id: str, shop: ShopDep, who: SignedIn) -> use.CustomerExport:
    return await use.export_customer(shop, who, customer_id)


@personal_data.post("/admin/customers/{customer_id}/erase", summary="Erase a customer (admin, Idempotency-Key)")
async def erase_customer(
    customer_id: str, shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None
) -> use.CustomerErasure:
    """As DELETE /v1/me, for the customer `customer_id` (a support request)."""
    return await use.erase_customer(shop, who, customer_id, idempotency_key or "")
