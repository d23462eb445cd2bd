"""Checkout with the customer's saved addresses: an address id of GET /v1/me/addresses stands for the
address itself. The customers service answers only the caller's own addresses, so another customer's id
is unknown here (404), the same as an id that never was."""

from __future__ import annotations

import uuid

from shop.customers.v1 import customers_pb2
from shop_gateway.app import mapping, models
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import Principal
from shopkit.errors import NotFound, Violations


def check_choice(violations: Violations, address: models.Address | None, address_id: str, field: str) -> None:
    """`field` or `field`_id, not both; the id must look like one (a UUID)."""
    if not address_id:
        return
    violations.check(address is None, f"{field}_id", f"give {field} or {field}_id, not both")
    try:
        uuid.UUID(address_id)
    except ValueError:
        violations.add(f"{field}_id", "must be the address_id of a saved address (GET /v1/me/addresses)")


async def saved_addresses(shop: Shop, who: Principal, *address_ids: str) -> list[models.Address | None]:
    """The caller's saved addresses of `address_ids` (None for an empty id), in order; 404 for an id the
    caller has not saved. Guests have no saved addresses."""
    if not any(address_ids):
        return [None for _ in address_ids]
    if who.is_guest or not who.authenticated:
        violations = Violations()
        for address_id, field in zip(address_ids, ("shipping_address_id", "billing_address_id"), strict=False):
            violations.check(not address_id, field, "is for signed-in customers (guests send the address)")
        violations.raise_if_any()
    with upstream("customers"):
        response = await shop.backends.customers.ListAddresses(
            customers_pb2.ListAddressesRequest(), metadata=who.metadata()
        )
    mine = {saved.address_id: mapping.address(saved.address) for saved in response.addresses}
    found: list[models.Address | None] = []
    for address_id in address_ids:
        if address_id and address_id not in mine:
            raise NotFound("address", address_id)
        found.append(mine[address_id] if address_id else None)
    return found
