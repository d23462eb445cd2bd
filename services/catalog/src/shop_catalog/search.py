"""Product listings over the search projection: filters, sort orders with keyset pages, and facets.

One builder serves ListProducts and SearchProducts. Every sort order ends with the product id, so a
page starts strictly after the last row of the previous one (`(key, id) > (last key, last id)`, or
`<` for descending orders) and no product is skipped or repeated while the data stands still.
Products without a price in the currency sort last in both price orders: the key is the price or a
sentinel beyond every price.

Facets are one statement: the filtered result is materialized once (a CTE of a few narrow columns)
and every count is an aggregate over it, so they cover the whole result whatever the page.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_catalog import store
from shop_catalog.projection import product_prices, product_stock
from shop_catalog.store import ProductFilter, categories, products

NO_PRICE_LAST = 2**63 - 1  # the ascending key of a product without a price
NO_PRICE_FIRST = -1  # the descending key of a product without a price (prices are never negative)


class Sort(enum.Enum):
    SLUG = "slug"
    RELEVANCE = "relevance"
    NEWEST = "newest"
    NAME = "name"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"

    @property
    def by_price(self) -> bool:
        return self in (Sort.PRICE_ASC, Sort.PRICE_DESC)

    @property
    def descending(self) -> bool:
        return self in (Sort.RELEVANCE, Sort.NEWEST, Sort.PRICE_DESC)


@dataclass(frozen=True)
class Listing:
    """What a listing shows: the catalog filters, an optional full-text query and the projection's."""

    where: ProductFilter
    query: str | None = None
    currency: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock_only: bool = False
    sort: Sort = Sort.SLUG

    def tsquery(self) -> sa.ColumnElement[Any]:
        return sa.func.websearch_to_tsquery(store.SEARCH_CONFIG, sa.bindparam("query", self.query, type_=sa.Text))

    def _source(self, *, stock: bool) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]]]:
        source: sa.FromClause = products
        conditions = list(self.where.conditions())
        if self.query is not None:
            conditions.append(products.c.search.bool_op("@@")(self.tsquery()))
        if self.currency is not None:
            source = source.outerjoin(
                product_prices,
                sa.and_(
                    product_prices.c.product_id == products.c.id,
                    product_prices.c.currency == sa.bindparam("currency", self.currency, type_=sa.Text),
                ),
            )
            if self.min_price is not None:
                conditions.append(product_prices.c.amount >= self.min_price)
            if self.max_price is not None:
                conditions.append(product_prices.c.amount <= self.max_price)
        if stock or self.in_stock_only:
            source = source.outerjoin(product_stock, product_stock.c.product_id == products.c.id)
            if self.in_stock_only:
                conditions.append(product_stock.c.in_stock.is_(True))
        return source, conditions

    def sort_keys(self) -> list[sa.ColumnElement[Any]]:
        """The sort key columns, the product id last (the slug alone: it is unique)."""
        match self.sort:
            case Sort.SLUG:
                return [products.c.slug]
            case Sort.RELEVANCE:
                return [sa.func.ts_rank(products.c.search, self.tsquery()), products.c.id]
            case Sort.NEWEST:
                return [products.c.created_at, products.c.id]
            case Sort.NAME:
                return [products.c.name, products.c.id]
            case Sort.PRICE_ASC:
                return [sa.func.coalesce(product_prices.c.amount, NO_PRICE_LAST), products.c.id]
            case Sort.PRICE_DESC:
                return [sa.func.coalesce(product_prices.c.amount, NO_PRICE_FIRST), products.c.id]


def _literal(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[Any]:
    return sa.literal(value, column.type if not isinstance(column.type, sa.types.NullType) else sa.Float)


async def page(
    conn: AsyncConnection, listing: Listing, *, after: list[Any] | None, limit: int
) -> list[tuple[uuid.UUID, list[Any]]]:
    """(id, sort key values) of a page, starting after the row whose key values are `after`."""
    source, conditions = listing._source(stock=False)
    keys = listing.sort_keys()
    if after is not None:
        last = sa.tuple_(*(_literal(k, v) for k, v in zip(keys, after, strict=True)))
        current = sa.tuple_(*keys)
        conditions.append(current < last if listing.sort.descending else current > last)
    order = [k.desc() if listing.sort.descending else k.asc() for k in keys]
    labelled = [k.label(f"k{i}") for i, k in enumerate(keys)]
    stmt = sa.select(products.c.id.label("pid"), *labelled).select_from(source).where(*conditions)
    rows = await conn.execute(stmt.order_by(*order).limit(limit))
    return [(row.pid, [row[i + 1] for i in range(len(keys))]) for row in rows]


# --- facets --------------------------------------------------------------------------------------


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
    source, conditions = listing._source(stock=True)
    amount = product_prices.c.amount if listing.currency is not None else sa.null()
    filtered = (
        sa.select(
            products.c.category_id,
            products.c.facets,
            sa.cast(amount, sa.BigInteger).label("amount"),
            sa.func.coalesce(product_stock.c.in_stock, False).label("in_stock"),
        )
        .select_from(source)
        .where(*conditions)
        .cte("filtered")
        .prefix_with("MATERIALIZED")
    )
    n = sa.func.count().label("n")
    parts = [
        sa.select(*_part("c", filtered.c.category_id, sa.null(), n)).group_by(filtered.c.category_id),
        sa.select(*_part("s", filtered.c.in_stock, sa.null(), n)).group_by(filtered.c.in_stock),
    ]
    if spec.attribute_keys:
        key = sa.func.unnest(sa.literal(list(spec.attribute_keys), ARRAY(sa.Text))).table_valued("k").render_derived()
        value = (
            sa.func.jsonb_array_elements_text(filtered.c.facets.op("->")(key.c.k)).table_valued("v").render_derived()
        )
        counted = (
            sa.select(
                key.c.k,
                value.c.v,
                sa.func.count().label("n"),
                sa.func.row_number()
                .over(partition_by=key.c.k, order_by=(sa.func.count().desc(), value.c.v))
                .label("r"),
            )
            .select_from(filtered.join(key, sa.true()).join(value, sa.true()))
            .group_by(key.c.k, value.c.v)
            .subquery("counted")
        )
        parts.append(
            sa.select(*_part("a", counted.c.k, counted.c.v, counted.c.n)).where(counted.c.r <= spec.max_values)
        )
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
        numeric = sa.Numeric
        bucket = sa.func.width_bucket(
            sa.cast(filtered.c.amount, numeric), sa.cast(lo, numeric), sa.cast(hi, numeric) + 1, spec.price_buckets
        )
        parts.append(
            sa.select(*_part("b", bucket, sa.null(), n)).where(filtered.c.amount.is_not(None)).group_by(bucket)
        )
    rows = (await conn.execute(sa.union_all(*parts))).all()
    return await _counts(conn, listing, spec, rows)


async def _counts(conn: AsyncConnection, listing: Listing, spec: FacetSpec, rows: Sequence[Any]) -> FacetCounts:
    result = FacetCounts(attributes={k: [] for k in spec.attribute_keys})
    by_category: dict[uuid.UUID, int] = {}
    buckets: dict[int, int] = {}
    for kind, a, b, n in rows:
        if kind == "c":
            by_category[uuid.UUID(a)] = n
            result.total += n
        elif kind == "s":
            if a == "true":
                result.in_stock = n
            else:
                result.out_of_stock = n
        elif kind == "a":
            result.attributes[a].append((b, n))
        elif kind == "p":
            result.price = PriceRange(listing.currency or "", int(a or 0), int(b or 0), n, [])
        elif kind == "b":
            buckets[int(a)] = n
    for values in result.attributes.values():
        values.sort(key=lambda item: (-item[1], item[0]))
    if result.price is not None and result.price.priced:
        result.price.buckets.extend(_buckets(result.price, spec.price_buckets, buckets))
    if by_category:
        result.categories = await _category_counts(conn, by_category)
    return result


def _buckets(price: PriceRange, count: int, found: dict[int, int]) -> list[tuple[int, int, int]]:
    """Integer bounds of width_bucket's buckets over [min, max + 1): bucket i holds the amounts x with
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
