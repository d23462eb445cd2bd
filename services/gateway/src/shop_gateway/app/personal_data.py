"""A customer's personal data across the services: one export document, one erasure.

Every service that holds data about a signed-in customer answers ExportCustomerData and
EraseCustomer (shop.common.v1 messages; the rules are in docs/architecture.md "Personal data").
The gateway asks all of them at once: the export is one document with a section per service; the
erasure sends one request id (the client's Idempotency-Key) to every service, so a repeat after a
failure (503: one service did not answer) completes the services that are left, and the ones done
before answer their first outcome. Guests have no customer id: their data is out of scope.

A service that comes to hold data about customers is one more entry in `PARTS` (and the two RPCs
in its proto): nothing else here changes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

from shop.common.v1 import common_pb2
from shop_gateway.app.access import require_admin, require_role
from shop_gateway.app.backoffice.common import require_key
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import SHOPPER_ROLES, Principal
from shopkit import deadlines
from shopkit.errors import Unavailable, Violations

Metadata = tuple[tuple[str, str], ...]
Export = Callable[..., Awaitable[common_pb2.ExportCustomerDataResponse]]
Erase = Callable[..., Awaitable[common_pb2.EraseCustomerResponse]]

# The services that hold a customer's data, with their two RPCs (the stubs' bound methods).
PARTS: dict[str, Callable[[Shop], tuple[Export, Erase]]] = {
    "cart": lambda shop: (shop.backends.cart.ExportCustomerData, shop.backends.cart.EraseCustomer),
    "checkout": lambda shop: (shop.backends.checkout.ExportCustomerData, shop.backends.checkout.EraseCustomer),
    "order": lambda shop: (shop.backends.order.ExportCustomerData, shop.backends.order.EraseCustomer),
    "fraud": lambda shop: (shop.backends.fraud.ExportCustomerData, shop.backends.fraud.EraseCustomer),
    "notifications": lambda shop: (
        shop.backends.notifications.ExportCustomerData,
        shop.backends.notifications.EraseCustomer,
    ),
    "customers": lambda shop: (shop.backends.customers.ExportCustomerData, shop.backends.customers.EraseCustomer),
}
MAX_CUSTOMER_ID = 128
# Of the time the caller left (its gRPC deadline, the HTTP request's), the share the services' answers
# may take: the rest is for answering which of them did not, before the caller's own deadline expires.
ANSWER_SHARE = 0.8
FIELDS = {"request_id": "idempotency_key"}


@dataclass
class CustomerExport:
    customer_id: str
    exported_at: str
    # Service name -> what it holds: a key per kind of record, each a list of records.
    services: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServiceErasure:
    changed: dict[str, int]
    repeated: bool  # the service had done this erasure (same Idempotency-Key) before


@dataclass
class CustomerErasure:
    customer_id: str
    request_id: str
    services: dict[str, ServiceErasure] = field(default_factory=dict)


def _customer(customer_id: str) -> str:
    violations = Violations()
    violations.check(
        0 < len(customer_id) <= MAX_CUSTOMER_ID and customer_id == customer_id.strip(),
        "customer_id",
        f"is required: at most {MAX_CUSTOMER_ID} characters, without surrounding spaces",
    )
    violations.raise_if_any()
    return customer_id


def _own(who: Principal) -> str:
    """The signed-in shopper's customer id (the token's subject)."""
    require_role(who, SHOPPER_ROLES)
    return who.subject


def _timeout(shop: Shop) -> float:
    return deadlines.remaining(shop.settings.default_call_timeout_seconds) * ANSWER_SHARE


async def _export(shop: Shop, metadata: Metadata, customer_id: str) -> CustomerExport:
    request = common_pb2.ExportCustomerDataRequest(customer_id=customer_id)
    timeout = _timeout(shop)

    async def one(name: str) -> tuple[str, Any]:
        export, _ = PARTS[name](shop)
        with upstream(name):
            response = await export(request, metadata=metadata, timeout=timeout)
        return name, json.loads(response.document)

    sections = await asyncio.gather(*(one(name) for name in PARTS))
    return CustomerExport(customer_id, datetime.now(UTC).isoformat(), dict(sections))


async def _erase(shop: Shop, metadata: Metadata, customer_id: str, key: str) -> CustomerErasure:
    violations = Violations()
    require_key(violations, key)
    violations.raise_if_any()
    request = common_pb2.EraseCustomerRequest(customer_id=customer_id, request_id=key)
    timeout = _timeout(shop)

    async def one(name: str) -> tuple[str, common_pb2.EraseCustomerResponse | grpc.aio.AioRpcError]:
        _, erase = PARTS[name](shop)
        try:
            return name, await erase(request, metadata=metadata, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            return name, error

    outcomes = dict(await asyncio.gather(*(one(name) for name in PARTS)))
    failed = {name: o for name, o in outcomes.items() if isinstance(o, grpc.aio.AioRpcError)}
    refused = [
        o for o in failed.values() if o.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    ]
    if refused:  # bad input or a refusal: the same for every service, so the first one tells it
        name = next(n for n, o in failed.items() if o is refused[0])
        with upstream(name, FIELDS):
            raise refused[0]
    if failed:
        done = sorted(set(outcomes) - set(failed))
        raise Unavailable(
            f"the erasure is not complete: {', '.join(sorted(failed))} did not answer; "
            "send the same request with the same Idempotency-Key again to complete it",
            reason="ERASURE_INCOMPLETE",
            metadata={"failed_services": ",".join(sorted(failed)), "erased_services": ",".join(done)},
            retry_after_seconds=5,
        )
    erasure = CustomerErasure(customer_id, key)
    for name, outcome in outcomes.items():
        assert not isinstance(outcome, grpc.aio.AioRpcError)
        erasure.services[name] = ServiceErasure(dict(outcome.changed), outcome.repeated)
    return erasure


# --- the use cases -----------------------------------------------------------------------------------


async def export_mine(shop: Shop, who: Principal) -> CustomerExport:
    return await _export(shop, who.metadata(), _own(who))


async def erase_me(shop: Shop, who: Principal, idempotency_key: str) -> CustomerErasure:
    return await _erase(shop, who.metadata(), _own(who), idempotency_key)


async def export_customer(shop: Shop, who: Principal, customer_id: str) -> CustomerExport:
    require_admin(who)
    return await _export(shop, who.metadata(), _customer(customer_id))


async def erase_customer(shop: Shop, who: Principal, customer_id: str, idempotency_key: str) -> CustomerErasure:
    require_admin(who)
    return await _erase(shop, who.metadata(), _customer(customer_id), idempotency_key)
