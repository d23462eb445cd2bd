"""Demo catalog data: a category tree of 23 categories and realistic products from word lists.

`generate_products` returns products as dicts in the protobuf JSON mapping of
`shop.catalog.v1.Product` (one JSONL line each for ImportProducts); `seed` creates the categories
and imports the products through a CatalogService stub. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop_catalog.domain import slugify
from shopkit.auth import metadata_for


@dataclass(frozen=True)
class DemoCategory:
    slug: str
    name: str
    parent: str | None = None


@dataclass(frozen=True)
class _Kind:
    """What products of a leaf category look like."""

    nouns: tuple[str, ...]
    axis: str  # the attribute variants differ in
    options: tuple[str, ...]
    materials: tuple[str, ...]
    grams: tuple[int, int]


# Parents before children.
DEMO_CATEGORIES: tuple[DemoCategory, ...] = (
    DemoCategory("apparel", "Apparel"),
    DemoCategory("tops", "Tops", "apparel"),
    DemoCategory("t-shirts", "T-Shirts", "tops"),
    DemoCategory("hoodies", "Hoodies", "tops"),
    DemoCategory("bottoms", "Bottoms", "apparel"),
    DemoCategory("jeans", "Jeans", "bottoms"),
    DemoCategory("shoes", "Shoes", "apparel"),
    DemoCategory("running-shoes", "Running Shoes", "shoes"),
    DemoCategory("boots", "Boots", "shoes"),
    DemoCategory("electronics", "Electronics"),
    DemoCategory("audio", "Audio", "electronics"),
    DemoCategory("headphones", "Headphones", "audio"),
    DemoCategory("speakers", "Speakers", "audio"),
    DemoCategory("computing", "Computing", "electronics"),
    DemoCategory("keyboards", "Keyboards", "computing"),
    DemoCategory("monitors", "Monitors", "computing"),
    DemoCategory("home", "Home"),
    DemoCategory("kitchen", "Kitchen", "home"),
    DemoCategory("cookware", "Cookware", "kitchen"),
    DemoCategory("lighting", "Lighting", "home"),
    DemoCategory("sports", "Sports"),
    DemoCategory("cycling", "Cycling", "sports"),
    DemoCategory("camping", "Camping", "sports"),
)

_SIZES = ("xs", "s", "m", "l", "xl")
_KINDS: dict[str, _Kind] = {
    "t-shirts": _Kind(
        ("Tee", "Crew T-Shirt", "V-Neck Tee", "Pocket Tee"),
        "size",
        _SIZES,
        ("cotton", "organic cotton", "linen blend"),
        (150, 250),
    ),
    "hoodies": _Kind(
        ("Hoodie", "Zip Hoodie", "Pullover Hoodie"),
        "size",
        _SIZES,
        ("fleece", "cotton", "recycled polyester"),
        (450, 800),
    ),
    "jeans": _Kind(
        ("Slim Jeans", "Straight Jeans", "Relaxed Jeans"),
        "waist",
        ("28", "30", "32", "34", "36"),
        ("denim", "stretch denim"),
        (500, 900),
    ),
    "running-shoes": _Kind(
        ("Running Shoe", "Trail Runner", "Racing Flat"),
        "size",
        ("39", "40", "41", "42", "43", "44", "45"),
        ("mesh", "knit", "synthetic"),
        (220, 350),
    ),
    "boots": _Kind(
        ("Hiking Boot", "Chelsea Boot", "Work Boot"),
        "size",
        ("39", "40", "41", "42", "43", "44", "45"),
        ("leather", "suede", "nubuck"),
        (800, 1600),
    ),
    "headphones": _Kind(
        ("Over-Ear Headphones", "Wireless Earbuds", "Studio Headphones"),
        "color",
        ("black", "white", "navy", "silver"),
        ("plastic", "aluminium"),
        (40, 350),
    ),
    "speakers": _Kind(
        ("Bluetooth Speaker", "Bookshelf Speaker", "Smart Speaker"),
        "color",
        ("black", "white", "walnut", "grey"),
        ("fabric", "wood", "plastic"),
        (300, 4000),
    ),
    "keyboards": _Kind(
        ("Mechanical Keyboard", "Low-Profile Keyboard", "Compact Keyboard"),
        "layout",
        ("us", "uk", "de", "fr"),
        ("aluminium", "plastic"),
        (500, 1200),
    ),
    "monitors": _Kind(
        ("4K Monitor", "Ultrawide Monitor", "Gaming Monitor"),
        "diagonal",
        ("24in", "27in", "32in"),
        ("plastic", "aluminium"),
        (3500, 9000),
    ),
    "cookware": _Kind(
        ("Frying Pan", "Saucepan", "Dutch Oven", "Wok"),
        "diameter",
        ("20cm", "24cm", "28cm"),
        ("cast iron", "stainless steel", "carbon steel"),
        (900, 5000),
    ),
    "lighting": _Kind(
        ("Desk Lamp", "Floor Lamp", "Pendant Light"),
        "color",
        ("black", "brass", "white", "oak"),
        ("metal", "glass", "wood"),
        (800, 6000),
    ),
    "cycling": _Kind(
        ("Cycling Jersey", "Bike Helmet", "Bib Shorts"),
        "size",
        _SIZES,
        ("lycra", "merino", "polycarbonate"),
        (150, 400),
    ),
    "camping": _Kind(
        ("Dome Tent", "Sleeping Bag", "Camp Stove"),
        "capacity",
        ("1p", "2p", "3p", "4p"),
        ("nylon", "polyester", "down"),
        (600, 4500),
    ),
}
_BRANDS = (
    "Northwind",
    "Acme",
    "Bluepeak",
    "Fjordline",
    "Solace",
    "Kestrel",
    "Ironbark",
    "Lumen",
    "Marlow",
    "Tidewater",
    "Quillon",
    "Everfield",
)
_ADJECTIVES = (
    "Classic",
    "Essential",
    "Pro",
    "Ultra",
    "Lightweight",
    "Heritage",
    "Everyday",
    "Alpine",
    "Urban",
    "Performance",
    "Compact",
    "Premium",
    "Vintage",
    "Eco",
)
_COLORS = ("black", "white", "red", "blue", "green", "grey", "navy", "olive", "sand", "burgundy")
_PRAISE = (
    "built to last",
    "designed for everyday use",
    "made with care",
    "tested in the field",
    "loved by our customers",
    "engineered for comfort",
)
_CHANNEL_SETS = (
    ("CHANNEL_WEB", "CHANNEL_MOBILE"),
    ("CHANNEL_WEB", "CHANNEL_MOBILE", "CHANNEL_POS"),
    ("CHANNEL_WEB", "CHANNEL_MOBILE", "CHANNEL_B2B"),
    ("CHANNEL_WEB",),
    ("CHANNEL_B2B",),
)


def generate_products(n: int, seed: int = 0, start: int = 0) -> list[dict[str, Any]]:
    """`n` demo products numbered from `start` (slugs and SKUs are unique per number), each with
    2-4 variants, a brand, attributes (material, color or size, ...) and a leaf category slug."""
    rng = random.Random(seed)
    leaves = sorted(_KINDS)
    return [_product(rng, number, leaves[rng.randrange(len(leaves))]) for number in range(start, start + n)]


def _product(rng: random.Random, number: int, category: str) -> dict[str, Any]:
    kind = _KINDS[category]
    brand = rng.choice(_BRANDS)
    noun = rng.choice(kind.nouns)
    name = f"{brand} {rng.choice(_ADJECTIVES)} {noun}"
    material = rng.choice(kind.materials)
    color = rng.choice(_COLORS)
    options = rng.sample(kind.options, k=min(len(kind.options), rng.randint(2, 4)))
    product_attributes = {"material": material}
    if kind.axis != "color":
        product_attributes["color"] = color
    code = brand[:3].upper()
    variants = []
    for index, option in enumerate(options):
        variant: dict[str, Any] = {
            "sku": f"{code}-{number:07d}-{index + 1:02d}",
            "title": f"{name} - {option.upper() if kind.axis == 'size' else option}",
            "attributes": {kind.axis: option},
            "weight_grams": rng.randint(*kind.grams),
            "track_inventory": rng.random() > 0.05,
            "allow_preorder": rng.random() < 0.1,
        }
        if rng.random() < 0.5:
            variant["dimensions"] = {
                "length_mm": rng.randint(100, 600),
                "width_mm": rng.randint(50, 400),
                "height_mm": rng.randint(20, 300),
            }
        variants.append(variant)
    description = (
        f"The {name} in {material}, {rng.choice(_PRAISE)}. "
        f"A {rng.choice(_ADJECTIVES).lower()} {noun.lower()} from {brand}, {rng.choice(_PRAISE)}."
    )
    product: dict[str, Any] = {
        "slug": f"{slugify(name)}-{number}",
        "name": name,
        "description": description,
        "brand": brand,
        "category_slug": category,
        "attributes": product_attributes,
        "channels": list(rng.choice(_CHANNEL_SETS)),
        "status": "PRODUCT_STATUS_ACTIVE" if rng.random() < 0.9 else "PRODUCT_STATUS_DRAFT",
        "variants": variants,
    }
    # Return terms by category (no random draw: the rest of the demo data stays as it was).
    product.update(RETURN_TERMS.get(category, {}))
    return product


# Headphones are worn in the ear (not returnable); electronics have a shorter window, apparel a
# longer one; everything else keeps the catalog's default (returnable within 30 days).
RETURN_TERMS: dict[str, dict[str, Any]] = {
    "headphones": {"returnable": False},
    "speakers": {"return_window_days": 14},
    "keyboards": {"return_window_days": 14},
    "monitors": {"return_window_days": 14},
    "t-shirts": {"return_window_days": 60},
    "hoodies": {"return_window_days": 60},
    "jeans": {"return_window_days": 60},
}


def to_jsonl(products: Sequence[dict[str, Any]]) -> list[str]:
    """One ImportProducts line per product."""
    return [json.dumps(p, separators=(",", ":")) for p in products]


async def import_requests(lines: Sequence[str], batch: int = 500) -> AsyncIterator[catalog_pb2.ImportProductsRequest]:
    """The ImportProducts request stream for `lines`, `batch` lines per message."""
    for offset in range(0, len(lines), batch):
        yield catalog_pb2.ImportProductsRequest(lines=lines[offset : offset + batch])


Metadata = tuple[tuple[str, str | bytes], ...]
SERVICE_ROLE: Metadata = metadata_for("service")


async def create_categories(
    stub: catalog_pb2_grpc.CatalogServiceAsyncStub, metadata: Metadata = SERVICE_ROLE, call_timeout: float = 10.0
) -> dict[str, str]:
    """Create the demo category tree (safe to repeat); returns slug -> category id."""
    ids: dict[str, str] = {}
    for category in DEMO_CATEGORIES:
        created = await stub.CreateCategory(
            catalog_pb2.CreateCategoryRequest(
                category=catalog_pb2.Category(
                    slug=category.slug, name=category.name, parent_id=ids[category.parent] if category.parent else ""
                )
            ),
            metadata=metadata,
            timeout=call_timeout,
        )
        ids[category.slug] = created.id
    return ids


async def seed(
    stub: catalog_pb2_grpc.CatalogServiceAsyncStub,
    n: int,
    seed: int = 0,
    metadata: Metadata = SERVICE_ROLE,
    call_timeout: float = 600.0,
) -> catalog_pb2.ImportSummary:
    """Create the demo categories and import `n` demo products (re-running it changes nothing)."""
    await create_categories(stub, metadata)
    lines = to_jsonl(generate_products(n, seed))
    return await stub.ImportProducts(import_requests(lines), metadata=metadata, timeout=call_timeout)
