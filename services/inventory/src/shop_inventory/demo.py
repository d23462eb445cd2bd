"""Demo locations and stock for the local launcher's seed.

`demo_inventory(skus)` is pure and deterministic (the same SKUs give the same quantities on every
run); `seed_demo(stub, skus)` sends it through the public API, which makes re-seeding harmless:
CreateLocation with identical fields and SetStock with absolute quantities are idempotent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shopkit.auth import metadata_for

WAREHOUSE = inventory_pb2.LOCATION_TYPE_WAREHOUSE
STORE = inventory_pb2.LOCATION_TYPE_STORE


def _location(
    location_id: str,
    type: inventory_pb2.LocationType.ValueType,
    name: str,
    priority: int,
    *,
    line1: str,
    city: str,
    postal_code: str,
    country: str,
    region: str = "",
    click_and_collect: bool = False,
) -> inventory_pb2.Location:
    return inventory_pb2.Location(
        location_id=location_id,
        type=type,
        name=name,
        country=country,
        priority=priority,
        click_and_collect=click_and_collect,
        active=True,
        address=common_pb2.Address(
            name=name, line1=line1, city=city, region=region, postal_code=postal_code, country=country
        ),
    )


DEMO_LOCATIONS: tuple[inventory_pb2.Location, ...] = (
    _location("wh-de-erfurt", WAREHOUSE, "Fulfilment Centre Erfurt", 10,
              line1="Am Flughafen 12", city="Erfurt", postal_code="99092", country="DE", region="TH"),
    _location("wh-gb-daventry", WAREHOUSE, "Fulfilment Centre Daventry", 20,
              line1="DIRFT Drive 4", city="Daventry", postal_code="NN6 7GZ", country="GB", region="ENG"),
    _location("wh-us-edison", WAREHOUSE, "Fulfilment Centre Edison", 30,
              line1="300 Raritan Center Pkwy", city="Edison", postal_code="08837", country="US", region="NJ"),
    _location("wh-us-reno", WAREHOUSE, "Fulfilment Centre Reno", 40,
              line1="2500 E Greg St", city="Sparks", postal_code="89431", country="US", region="NV"),
    _location("st-de-berlin-mitte", STORE, "Berlin Mitte", 10, click_and_collect=True,
              line1="Rosenthaler Str. 40", city="Berlin", postal_code="10178", country="DE", region="BE"),
    _location("st-de-munich", STORE, "München Marienplatz", 20, click_and_collect=True,
              line1="Kaufingerstr. 9", city="München", postal_code="80331", country="DE", region="BY"),
    _location("st-gb-london-soho", STORE, "London Soho", 10, click_and_collect=True,
              line1="12 Carnaby St", city="London", postal_code="W1F 9PS", country="GB", region="ENG"),
    _location("st-gb-manchester", STORE, "Manchester Arndale", 20, click_and_collect=True,
              line1="49 High St", city="Manchester", postal_code="M4 3AQ", country="GB", region="ENG"),
    _location("st-us-nyc-soho", STORE, "New York SoHo", 10, click_and_collect=True,
              line1="550 Broadway", city="New York", postal_code="10012", country="US", region="NY"),
    _location("st-us-sf-union-square", STORE, "San Francisco Union Square", 20, click_and_collect=True,
              line1="170 O'Farrell St", city="San Francisco", postal_code="94102", country="US", region="CA"),
    _location("st-de-outlet-wolfsburg", STORE, "Outlet Wolfsburg", 90,
              line1="An der Vorburg 1", city="Wolfsburg", postal_code="38440", country="DE", region="NI"),
)  # fmt: skip


@dataclass(frozen=True)
class DemoInventory:
    locations: list[inventory_pb2.Location]
    stock: list[inventory_pb2.SetStockEntry]


def _quantity(seed: str, low: int, high: int) -> int:
    """A deterministic pseudo-random quantity in [low, high]."""
    digest = int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=8).digest(), "big")
    return low + digest % (high - low + 1)


def demo_inventory(skus: Sequence[str]) -> DemoInventory:
    """Every demo location, and stock of every SKU everywhere: warehouses hold 20-250 units, stores 0-12
    (about one store in six has none, so pick-up shortages show)."""
    stock = []
    for sku in dict.fromkeys(skus):
        for location in DEMO_LOCATIONS:
            seed = f"{sku}@{location.location_id}"
            in_store = location.type == STORE
            on_hand = max(0, _quantity(seed, -2, 12)) if in_store else _quantity(seed, 20, 250)
            stock.append(inventory_pb2.SetStockEntry(sku=sku, location_id=location.location_id, on_hand=on_hand))
    # Copies, so that a caller changing them does not change the module's constants.
    locations = [inventory_pb2.Location.FromString(loc.SerializeToString()) for loc in DEMO_LOCATIONS]
    return DemoInventory(locations=locations, stock=stock)


async def seed_demo(
    stub: inventory_pb2_grpc.InventoryServiceAsyncStub,
    skus: Sequence[str],
    *,
    role: str = "service",
    call_timeout: float = 30.0,
    batch_size: int = 1000,
) -> DemoInventory:
    """Create the demo locations and set the demo stock through the API (as role `service`)."""
    demo = demo_inventory(skus)
    metadata = metadata_for(role)
    for location in demo.locations:
        await stub.CreateLocation(
            inventory_pb2.CreateLocationRequest(location=location), metadata=metadata, timeout=call_timeout
        )
    for start in range(0, len(demo.stock), batch_size):
        await stub.SetStock(
            inventory_pb2.SetStockRequest(entries=demo.stock[start : start + batch_size], reason="demo seed"),
            metadata=metadata,
            timeout=call_timeout,
        )
    return demo
