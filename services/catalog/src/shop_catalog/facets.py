"""Facets of a product listing: counts over the whole filtered result, not the page.

One statement: the filtered result is materialized once (a CTE of a few narrow columns: category,
stock, price and the value arrays of the attribute keys asked for) and every count is an aggregate over
it — one pass of grouping sets for categories, stock and attribute values, then the price range and
its equal-width buckets. Category counts are rolled up the tree here (the tree is small).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_catalog.projection import product_prices, product_stock
from shop_catalog.search import Listing
from shop_catalog.store import categories, products


@dataclass(frozen=True)
class FacetSpec:
    attribute_keys: tuple[str, ...] = ()
    max_values: int = 10
    price_buckets: int = 5


@dataclass(frozen=True)
class CategoryCount:
    category_id: uuid.UUID
    slug: str
    path: str
    depth: int
    count: int


@dataclass(frozen=True)
class PriceRange:
    currency: str
    min_amount: int
    max_amount: int
    priced: int
    buckets: list[tuple[int, int, int]]  # (min, max, count), both bounds inclusive


@dataclass
class FacetCounts:
    total: int = 0
    categories: list[CategoryCount] = field(default_factory=list)
    attributes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    price: PriceRange | None = None
    in_stock: int = 0
    out_of_stock: int = 0


def _part(kind: str, a: Any, b: Any, n: Any) -> list[sa.ColumnElement[Any]]:
    text = sa.Text
    return [sa.literal(kind, text).label("kind"), sa.cast(a, text).label("a"), sa.cast(b, text).label("b"), n]


async def facets(conn: AsyncConnection, listing: Listing, spec: FacetSpec) -> FacetCounts:
    rows = (await conn.execute(facets_statement(listing, spec))).all()
    return await _counts(conn, listing, spec, rows)


def facets_statement(listing: Listing, spec: FacetSpec) -> sa.CompoundSelect[Any]:
    """One statement over the filtered result, materialized once with only what is counted (the asked
    attribute keys' value arrays rather than every facet): one pass of grouping sets counts categories,
    stock and each key's value arrays (kind "g", with the GROUPING() bits telling which set); with a
    currency, the price range ("p") and the buckets ("b") follow."""
    source, conditions = listing.source(stock=True)
    amount = product_prices.c.amount if listing.currency is not None else sa.null()
    keys = [
        products.c.facets.op("->")(sa.literal(k, sa.Text)).label(f"a{i}") for i, k in enumerate(spec.attribute_keys)
    ]
    filtered = (
        sa.select(
            products.c.category_id,
            sa.func.coalesce(product_stock.c.in_stock, False).label("in_stock"),
            sa.cast(amount, sa.BigInteger).label("amount"),
            *keys,
        )
        .select_from(source)
        .where(*conditions)
        .cte("filtered")
        .prefix_with("MATERIALIZED")
    )
    grouped = [filtered.c.category_id, filtered.c.in_stock, *(filtered.c[f"a{i}"] for i in range(len(keys)))]
    values = sa.func.coalesce(*(filtered.c[f"a{i}"] for i in range(len(keys)))) if keys else sa.null()
    counted = sa.select(
        *_part(
            "g",
            sa.func.grouping(*grouped),
            sa.func.concat_ws("/", filtered.c.category_id, filtered.c.in_stock, values),
            sa.func.count().label("n"),
        )
    ).group_by(sa.func.grouping_sets(*(sa.tuple_(column) for column in grouped)))
    parts = [counted]
    n = sa.func.count().label("n")
    if listing.currency is not None:
        lo = sa.select(sa.func.min(filtered.c.amount)).scalar_subquery()
        hi = sa.select(sa.func.max(filtered.c.amount)).scalar_subquery()
        parts.append(
            sa.select(
                *_part(
                    "p",
                    sa.func.min(filtered.c.amount),
                    sa.func.max(filtered.c.amount),
                    sa.func.count(filtered.c.amount),
                )
            )
        )
        # Bucket i (1-based) of `count` equal widths over [lo, hi + 1), in exact integer arithmetic
        # (width_bucket over numeric costs several times more on a large result).
        bucket = (filtered.c.amount - lo) * spec.price_buckets // (hi + 1 - lo) + 1
        parts.append(
            sa.select(*_part("b", bucket, sa.null(), n)).where(filtered.c.amount.is_not(None)).group_by(bucket)
        )
    return sa.union_all(*parts)


async def _counts(conn: AsyncConnection, listing: Listing, spec: FacetSpec, rows: Sequence[Any]) -> FacetCounts:
    result = FacetCounts()
    by_category: dict[uuid.UUID, int] = {}
    by_key: list[dict[str, int]] = [{} for _ in spec.attribute_keys]
    buckets: dict[int, int] = {}
    width = 2 + len(spec.attribute_keys)  # the columns of the grouping sets, the first is the highest bit
    for kind, a, b, n in rows:
        if kind == "g":
            column = width - 1 - next(bit for bit in range(width) if not int(a) >> bit & 1)
            if column == 0:
                by_category[uuid.UUID(b)] = n
                result.total += n
            elif column == 1:
                result.in_stock, result.out_of_stock = (
                    (n, result.out_of_stock) if b in ("t", "true") else (result.in_stock, n)
                )
            elif b:  # a product without the key has no value to count
                counts = by_key[column - 2]
                for value in json.loads(b):
                    counts[value] = counts.get(value, 0) + n
        elif kind == "p":
            result.price = PriceRange(listing.currency or "", int(a or 0), int(b or 0), n, [])
        elif kind == "b":
            buckets[int(a)] = n
    for key, counts in zip(spec.attribute_keys, by_key, strict=True):
        result.attributes[key] = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: spec.max_values]
    if result.price is not None and result.price.priced:
        result.price.buckets.extend(_buckets(result.price, spec.price_buckets, buckets))
    if by_category:
        result.categories = await _category_counts(conn, by_category)
    return result


def _buckets(price: PriceRange, count: int, found: dict[int, int]) -> list[tuple[int, int, int]]:
    """Integer bounds of the equal-width buckets over [min, max + 1): bucket i holds the amounts x with
    min + (i-1)·w <= x < min + i·w, w = (max + 1 - min) / count."""
    width = Fraction(price.max_amount + 1 - price.min_amount, count)
    bounds = []
    for index in sorted(found):
        low = price.min_amount + ceil((index - 1) * width)
        high = price.min_amount + ceil(index * width) - 1
        bounds.append((low, high, found[index]))
    return bounds


async def _category_counts(conn: AsyncConnection, direct: dict[uuid.UUID, int]) -> list[CategoryCount]:
    """Counts per category including the products of its descendants, depth first (the tree is small)."""
    rows = (
        await conn.execute(sa.select(categories.c.id, categories.c.slug, categories.c.path, categories.c.depth))
    ).all()
    by_path = {row.path: row for row in rows}
    totals: dict[str, int] = {}
    for row in rows:
        count = direct.get(row.id)
        if not count:
            continue
        parts = row.path.split("/")
        for depth in range(1, len(parts) + 1):
            ancestor = "/".join(parts[:depth])
            totals[ancestor] = totals.get(ancestor, 0) + count
    return [
        CategoryCount(by_path[path].id, by_path[path].slug, path, by_path[path].depth, totals[path])
        for path in sorted(totals)
        if path in by_path
    ]
