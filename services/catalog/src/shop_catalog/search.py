"""Product listings over the search projection: filters and sort orders with keyset pages.

One builder serves ListProducts and SearchProducts. Every sort order ends with the product id, so a
page starts strictly after the last row of the previous one (`(key, id) > (last key, last id)`, or
`<` for descending orders) and no product is skipped or repeated while the data stands still.
Products without a price in the currency sort last in both price orders: the key is the price or a
sentinel beyond every price. The facets of a listing: facets.py.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_catalog import store
from shop_catalog.projection import product_prices, product_stock
from shop_catalog.store import ProductFilter, products

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

    def source(self, *, stock: bool) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]]]:
        """The FROM clause (products, joined to the projection's price in the currency and, with `stock`
        or the in-stock filter, its stock row) and the WHERE conditions of the listing."""
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
        """The sort key columns, the product id last (the slug alone: it is unique). A price order's key
        is the price or its sentinel (see `_page_by_price`, which walks the two parts apart)."""
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
    if listing.sort.by_price:
        return await _page_by_price(conn, listing, after=after, limit=limit)
    source, conditions = listing.source(stock=False)
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


async def _page_by_price(
    conn: AsyncConnection, listing: Listing, *, after: list[Any] | None, limit: int
) -> list[tuple[uuid.UUID, list[Any]]]:
    """A price-ordered page in two parts, each in index order: the priced products (by amount and id:
    the (currency, amount, product_id) index walked until the page is full), then, when the page is not
    full yet, the products without a price (by id). One sort of the whole result instead costs a pass
    over every product in the currency."""
    descending = listing.sort is Sort.PRICE_DESC
    sentinel = NO_PRICE_FIRST if descending else NO_PRICE_LAST
    source, conditions = listing.source(stock=False)
    amount, product_id = product_prices.c.amount, products.c.id
    found: list[tuple[uuid.UUID, list[Any]]] = []

    def ordered(*keys: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
        return [k.desc() if descending else k.asc() for k in keys]

    if after is None or after[0] != sentinel:
        where = [*conditions, amount.is_not(None)]
        if after is not None:
            current, last = (
                sa.tuple_(amount, product_id),
                sa.tuple_(sa.literal(after[0], sa.BigInteger), sa.literal(after[1], product_id.type)),
            )
            where.append(current < last if descending else current > last)
        stmt = sa.select(product_id, amount).select_from(source).where(*where)
        rows = await conn.execute(stmt.order_by(*ordered(amount, product_id)).limit(limit))
        found.extend((row.id, [row.amount, row.id]) for row in rows)
    if len(found) < limit and listing.min_price is None and listing.max_price is None:
        where = [*conditions, amount.is_(None)]
        if after is not None and after[0] == sentinel:
            last_id = sa.literal(after[1], product_id.type)
            where.append(product_id < last_id if descending else product_id > last_id)
        stmt = sa.select(product_id).select_from(source).where(*where)
        rows = await conn.execute(stmt.order_by(*ordered(product_id)).limit(limit - len(found)))
        found.extend((row.id, [sentinel, row.id]) for row in rows)
    return found
