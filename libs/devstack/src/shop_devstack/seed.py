"""Seeds the demo data set through the services' own gRPC admin APIs (with the tooling certificate).

The data comes from the services' own demo generators (`shop_catalog.demo`, `shop_pricing.demo`,
`shop_inventory.demo`): 1,000 products with their variants, base prices in USD and EUR with
exchange rates, the B2B account `acme-corp` and the `wholesale` group with their price lists, a
promotion with the coupon WELCOME10, stock in every demo warehouse and store, and the company
`acme-corp` with its members alice-buyer, bob-approver and carol-finance and its two approval rules
(`shop_customers.demo`).

Each service is seeded once; a marker file per service in `<data>/seeded/` remembers it (and how
many products), so a service built later is seeded on the next `shop-dev run`, as is one seeded with
fewer products than asked, and `--reseed` / `shop-dev seed` seed again. `--demo-products N` seeds the
first N of the same products: the stacks `make test` starts seed `demo_size.TEST_DEMO_PRODUCTS`.
Every call used is safe to repeat (imports upsert by slug, prices and stock are set,
creates with client ids return what exists). Bulk RPCs keep it to seconds.

Seeding publishes events (inventory's stock levels, which pricing's dynamic pricing consumes): the
demo data is in once the event consumers have caught up (`wait_for_consumers`).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from shop_devstack import identities
from shop_devstack.demo_size import DEMO_PRODUCTS
from shopkit.tls import Tls

DEMO_SEED = 0
# Tooling calls as itself (its certificate; the role `service`, which may administer), never as a user.
AS_TOOLING = (("x-shop-role", "service"),)
CALL_TIMEOUT_SECONDS = 60.0
IMPORT_TIMEOUT_SECONDS = 300.0
ADMIN_CALL: dict[str, Any] = {"metadata": AS_TOOLING, "timeout": CALL_TIMEOUT_SECONDS}

Summary = dict[str, int]
Products = list[dict[str, Any]]


class SeedError(Exception):
    pass


def demo_products(count: int = DEMO_PRODUCTS) -> Products:
    """The first `count` demo products (protobuf JSON mapping), from the catalog's generator."""
    from shop_catalog.demo import generate_products

    return generate_products(count, DEMO_SEED)


def skus_of(products: Products) -> list[str]:
    return [str(v["sku"]) for p in products for v in p["variants"]]


def seeded(marker: Path, count: int) -> bool:
    """Whether the marker says its service holds at least `count` products' data (markers written
    before the count was recorded hold the full catalog)."""
    try:
        return int(json.loads(marker.read_text()).get("demo_products", DEMO_PRODUCTS)) >= count
    except (OSError, ValueError, TypeError, AttributeError):
        return False


async def seed_demo(
    targets: dict[str, str],
    marker_dir: Path,
    *,
    force: bool,
    say: Callable[[str], None],
    tls: Tls | None,
    count: int = DEMO_PRODUCTS,
) -> list[str]:
    """Seed every service in `targets` (name -> host:port) that holds fewer than `count` products'
    data by its marker (all with force), calling with the tooling certificate `tls`."""
    seeders: dict[str, Callable[[grpc.aio.Channel, Products], Awaitable[Summary]]] = {
        "catalog": seed_catalog,
        "pricing": seed_pricing,
        "inventory": seed_inventory,
        "customers": seed_customers,
    }
    wanted = [name for name in seeders if name in targets]
    todo = [name for name in wanted if force or not seeded(marker_dir / f"{name}.json", count)]
    skipped = [name for name in wanted if name not in todo]
    if skipped:
        say(f"demo data already seeded for {', '.join(skipped)} (`--reseed` seeds again)")
    if not todo:
        return []
    products = demo_products(count)

    async def seed_one(name: str) -> None:
        started = time.monotonic()
        async with identities.channel(targets[name], tls) as channel:
            try:
                summary = await seeders[name](channel, products)
            except grpc.aio.AioRpcError as err:
                raise SeedError(f"seeding {name} failed: {err.code().name}: {err.details()}") from err
        took = time.monotonic() - started
        marker = {
            "seeded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seconds": round(took, 2),
            "demo_products": count,
            **summary,
        }
        (marker_dir / f"{name}.json").write_text(json.dumps(marker, indent=2))
        say(f"{name}: seeded {', '.join(f'{v} {k}' for k, v in summary.items())} in {took:.1f} s")

    # The services own separate data (they share only the SKUs), so they are seeded at the same time.
    results = await asyncio.gather(*(seed_one(name) for name in todo), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return todo


# ------------------------------------------------------------------------------------------ catalog


async def seed_catalog(channel: grpc.aio.Channel, products: Products) -> Summary:
    from shop.catalog.v1 import catalog_pb2_grpc
    from shop_catalog import demo

    stub = catalog_pb2_grpc.CatalogServiceStub(channel)
    count = len(products)
    summary = await demo.seed(stub, count, DEMO_SEED, metadata=AS_TOOLING, call_timeout=IMPORT_TIMEOUT_SECONDS)
    if summary.failed:
        first = "; ".join(f"line {e.line}: {e.message}" for e in summary.errors[:3])
        raise SeedError(f"catalog import rejected {summary.failed} of {summary.received} products: {first}")
    return {
        "categories": len(demo.DEMO_CATEGORIES),
        "products": int(summary.received),
        "variants": len(skus_of(products)),
    }


# ---------------------------------------------------------------------------------------- inventory


async def seed_inventory(channel: grpc.aio.Channel, products: Products) -> Summary:
    from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
    from shop_inventory import demo

    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    seeded = await demo.seed_demo(stub, skus_of(products), role="service", call_timeout=CALL_TIMEOUT_SECONDS)
    warehouses = sum(1 for loc in seeded.locations if loc.type == inventory_pb2.LOCATION_TYPE_WAREHOUSE)
    return {
        "warehouses": warehouses,
        "stores": len(seeded.locations) - warehouses,
        "stock rows": len(seeded.stock),
    }


# ---------------------------------------------------------------------------------------- customers


async def seed_customers(channel: grpc.aio.Channel, products: Products) -> Summary:
    """The demo company, its members and approval rules (each create is idempotent by its request id)."""
    from shop.customers.v1 import customers_pb2_grpc
    from shop_customers.demo import demo_approval_rules, demo_company, demo_members

    stub = customers_pb2_grpc.CustomersServiceStub(channel)
    await stub.CreateCompany(demo_company(), **ADMIN_CALL)
    members = demo_members()
    for member in members:
        await stub.AddCompanyMember(member, **ADMIN_CALL)
    rules = demo_approval_rules()
    for rule in rules:
        await stub.CreateApprovalRule(rule, **ADMIN_CALL)
    return {"companies": 1, "members": len(members), "approval rules": len(rules)}


# ------------------------------------------------------------------------------------------ pricing


async def seed_pricing(channel: grpc.aio.Channel, products: Products) -> Summary:
    """The pricing demo requests, sent in order as admin (each one is safe to repeat)."""
    from shop.pricing.v1 import pricing_pb2_grpc
    from shop_pricing.demo import demo_pricing

    stub = pricing_pb2_grpc.PricingServiceStub(channel)
    demo = demo_pricing(skus_of(products))
    for rate in demo.rates:
        await stub.SetRate(rate, **ADMIN_CALL)
    for prices in demo.base_prices:
        await stub.SetBasePrices(prices, **ADMIN_CALL)
    for price_list in demo.price_lists:
        await stub.CreatePriceList(price_list, **ADMIN_CALL)
    for entries in demo.price_list_entries:
        await stub.SetPriceListEntries(entries, **ADMIN_CALL)
    for promotion in demo.promotions:
        await stub.CreatePromotion(promotion, **ADMIN_CALL)
    for coupon in demo.coupons:
        await stub.CreateCoupon(coupon, **ADMIN_CALL)
    for method in demo.shipping_methods:
        await stub.PutShippingMethod(method, **ADMIN_CALL)
    for rule in demo.tax_rules:
        await stub.PutTaxRule(rule, **ADMIN_CALL)
    currencies = {p.price.currency for request in demo.base_prices for p in request.prices}
    return {
        "base prices": sum(len(request.prices) for request in demo.base_prices),
        "currencies": len(currencies),
        "exchange rates": len(demo.rates),
        "price lists": len(demo.price_lists),
        "price-list entries": sum(len(request.entries) for request in demo.price_list_entries),
        "promotions": len(demo.promotions),
        "shipping methods": len(demo.shipping_methods),
        "tax rules": len(demo.tax_rules),
    }


# ---------------------------------------------------------------------------------------- examples


def grpcurl(pki: Path) -> str:
    """grpcurl with the tooling certificate of the stack whose certificates are in `pki`."""
    return f"grpcurl -cacert {pki}/ca.pem -cert {pki}/tooling.pem -key {pki}/tooling-key.pem"


def examples(addresses: dict[str, str], pki: Path) -> list[str]:
    """grpcurl commands to try against the seeded data."""
    result = []
    command = grpcurl(pki)
    try:
        sku = skus_of(demo_products()[:1])[0]
    except ImportError:
        sku = "SKU"
    if "catalog" in addresses:
        result += [
            f'{command} -d \'{{"page":{{"page_size":3}}}}\' {addresses["catalog"]} '
            "shop.catalog.v1.CatalogService/ListProducts",
            f'{command} -d \'{{"query":"trail"}}\' {addresses["catalog"]} '
            "shop.catalog.v1.CatalogService/SearchProducts",
        ]
    if "pricing" in addresses:
        context = '{"account_id":"acme-corp","currency":"USD"}'
        result.append(
            f'{command} -d \'{{"sku":"{sku}","quantity":12,"context":{context}}}\' '
            f"{addresses['pricing']} shop.pricing.v1.PricingService/GetPrice"
        )
    if "inventory" in addresses:
        result.append(
            f'{command} -d \'{{"skus":["{sku}"]}}\' {addresses["inventory"]} '
            "shop.inventory.v1.InventoryService/GetAvailability"
        )
    if "catalog" in addresses:
        result.append(
            f"{command} "
            f'-d \'{{"category":{{"slug":"gifts","name":"Gifts"}}}}\' '
            f"{addresses['catalog']} shop.catalog.v1.CatalogService/CreateCategory"
        )
    return result


# ------------------------------------------------------------------------------ event consumers

CATCH_UP_TIMEOUT_SECONDS = 180.0
CATCH_UP_POLL_SECONDS = 1.0
CATCH_UP_PROGRESS_SECONDS = 5.0


@dataclass(frozen=True)
class Backlog:
    """What JetStream's durable consumers still have to process, from the monitoring endpoint."""

    pending: dict[str, int]  # consumer -> messages not yet delivered + delivered but not acknowledged
    published: int  # the sum of the streams' last sequence: grows while an outbox relay publishes

    @property
    def total(self) -> int:
        return sum(self.pending.values())


def read_backlog(monitor_url: str, limit: float = 2.0) -> Backlog | None:
    """The consumers' backlog from `<monitor_url>/jsz?consumers=true`; None when NATS doesn't answer."""
    try:
        with urllib.request.urlopen(f"{monitor_url}/jsz?consumers=true", timeout=limit) as response:
            report = json.load(response)
    except (OSError, ValueError):
        return None
    pending: dict[str, int] = {}
    published = 0
    for account in report.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            published += int((stream.get("state") or {}).get("last_seq", 0))
            for consumer in stream.get("consumer_detail") or []:
                pending[str(consumer["name"])] = int(consumer.get("num_pending", 0)) + int(
                    consumer.get("num_ack_pending", 0)
                )
    return Backlog(pending, published)


async def wait_for_consumers(
    monitor_url: str, say: Callable[[str], None], within: float = CATCH_UP_TIMEOUT_SECONDS
) -> bool:
    """Wait until every durable consumer has processed what the seed published (nothing pending
    twice in a row, and nothing published in between: the outbox relays are done too), saying
    how far they are every few seconds. False when `within` seconds passed first."""
    started = time.monotonic()
    previous: Backlog | None = None
    said: tuple[float, int] | None = None  # when progress was last said, and the backlog then
    while True:
        backlog = await asyncio.to_thread(read_backlog, monitor_url)
        now = time.monotonic()
        if backlog is not None and previous is not None and _settled(previous, backlog):
            if said is not None:
                say(f"event consumers caught up in {now - started:.1f} s")
            return True
        if backlog is not None and backlog.total and (said is None or now - said[0] >= CATCH_UP_PROGRESS_SECONDS):
            busy = ", ".join(f"{name} {count:,}" for name, count in sorted(backlog.pending.items()) if count)
            done = 0 if said is None else said[1] - backlog.total  # negative while a relay still publishes
            rate = f" ({done / (now - said[0]):,.0f}/s)" if said is not None and done > 0 else ""
            say(f"waiting for the event consumers to catch up: {busy} to go{rate}")
            said = (now, backlog.total)
        if now - started > within:
            left = f"{backlog.total:,} messages" if backlog is not None else "an unknown number of messages"
            say(f"the event consumers still have {left} to process after {within:.0f} s; going on")
            return False
        previous = backlog
        await asyncio.sleep(CATCH_UP_POLL_SECONDS)


def _settled(before: Backlog, after: Backlog) -> bool:
    """Nothing to process at two polls, and nothing published between them."""
    return before.total == after.total == 0 and before.published == after.published
