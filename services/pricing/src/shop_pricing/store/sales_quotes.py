"""Sales quotes in the database: a quote row (its current state) and its versions (appended only).

Every change locks the quote row first (`get(..., lock=True)`), so that two answers to one version,
or two checkouts redeeming one quote, are decided one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_pricing.domain.sales_quotes import Line, SalesQuote, Status, Version, VersionKind
from shop_pricing.store.tables import any_of, sales_quote_redemptions, sales_quote_versions, sales_quotes

_NUMBER = sa.text("'Q-' || lpad(nextval('sales_quote_number_seq')::text, 6, '0')")


def _lines_json(lines: Sequence[Line]) -> list[dict[str, Any]]:
    return [{"sku": line.sku, "quantity": line.quantity, "unit_amount": line.unit_amount} for line in lines]


def _version(row: Any) -> Version:
    return Version(
        number=row.version,
        kind=VersionKind(row.kind),
        lines=tuple(Line(x["sku"], x["quantity"], x["unit_amount"]) for x in row.lines),
        note=row.note,
        author_id=row.author_id,
        author_role=row.author_role,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _quote(row: Any, versions: Sequence[Version]) -> SalesQuote:
    return SalesQuote(
        quote_id=row.quote_id,
        number=row.number,
        account_id=row.account_id,
        buyer_id=row.buyer_id,
        currency=row.currency,
        status=Status(row.status),
        current_version=row.current_version,
        cart_id=row.cart_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        checkout_id=row.checkout_id,
        versions=tuple(versions),
    )


async def _versions(conn: AsyncConnection, quote_ids: Sequence[str], current_only: bool) -> dict[str, list[Version]]:
    query = sa.select(sales_quote_versions).where(any_of(sales_quote_versions.c.quote_id, quote_ids))
    if current_only:
        query = query.join(
            sales_quotes,
            sa.and_(
                sales_quotes.c.quote_id == sales_quote_versions.c.quote_id,
                sales_quotes.c.current_version == sales_quote_versions.c.version,
            ),
        )
    found: dict[str, list[Version]] = {}
    for row in await conn.execute(query.order_by(sales_quote_versions.c.quote_id, sales_quote_versions.c.version)):
        found.setdefault(row.quote_id, []).append(_version(row))
    return found


async def get(conn: AsyncConnection, quote_id: str, *, lock: bool = False) -> SalesQuote | None:
    query = sa.select(sales_quotes).where(sales_quotes.c.quote_id == quote_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        return None
    return _quote(row, (await _versions(conn, [quote_id], False)).get(quote_id, []))


async def by_request(conn: AsyncConnection, account_id: str, request_id: str) -> tuple[SalesQuote, str] | None:
    """The quote a buyer's request id made, with the fingerprint of what it asked for."""
    query = sa.select(sales_quotes.c.quote_id, sales_quotes.c.request_fingerprint).where(
        sales_quotes.c.account_id == account_id, sales_quotes.c.request_id == request_id
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    quote = await get(conn, row.quote_id)
    assert quote is not None
    return quote, row.request_fingerprint


async def create(
    conn: AsyncConnection,
    *,
    account_id: str,
    buyer_id: str,
    currency: str,
    cart_id: str,
    request_id: str,
    fingerprint: str,
    first: Version,
) -> SalesQuote | None:
    """A new quote with its first version; None when the request id was taken meanwhile."""
    quote_id = str(uuid.uuid4())
    inserted = (
        await conn.execute(
            insert(sales_quotes)
            .values(
                quote_id=quote_id,
                number=_NUMBER,
                account_id=account_id,
                buyer_id=buyer_id,
                currency=currency,
                status=Status.REQUESTED.value,
                current_version=first.number,
                cart_id=cart_id,
                request_id=request_id,
                request_fingerprint=fingerprint,
                created_at=first.created_at,
                updated_at=first.created_at,
            )
            .on_conflict_do_nothing(constraint="sales_quotes_request_once")
            .returning(sales_quotes.c.quote_id)
        )
    ).first()
    if inserted is None:
        return None
    await add_version(conn, quote_id, first)
    return await get(conn, quote_id)


async def add_version(conn: AsyncConnection, quote_id: str, version: Version) -> None:
    await conn.execute(
        sales_quote_versions.insert().values(
            quote_id=quote_id,
            version=version.number,
            kind=version.kind.value,
            lines=_lines_json(version.lines),
            note=version.note,
            author_id=version.author_id,
            author_role=version.author_role,
            expires_at=version.expires_at,
            created_at=version.created_at,
        )
    )


async def append(conn: AsyncConnection, quote_id: str, version: Version, status: Status) -> SalesQuote:
    """A new current version (an offer or a revision request) and the status it puts the quote in;
    the quote's expiry is the offer's (none while requested)."""
    await add_version(conn, quote_id, version)
    return await set_state(
        conn, quote_id, version.created_at, status=status, current_version=version.number, expires_at=version.expires_at
    )


async def set_state(conn: AsyncConnection, quote_id: str, now: datetime, **values: Any) -> SalesQuote:
    """Change the quote row (status, current_version, expires_at, checkout_id) and read it back."""
    if "status" in values:
        values["status"] = Status(values["status"]).value
    statement = sales_quotes.update().where(sales_quotes.c.quote_id == quote_id)
    await conn.execute(statement.values(updated_at=now, **values))
    quote = await get(conn, quote_id)
    assert quote is not None
    return quote


async def list_quotes(
    conn: AsyncConnection,
    *,
    account_id: str,
    statuses: Sequence[Status],
    now: datetime,
    before: tuple[str, str] | None,
    limit: int,
) -> list[SalesQuote]:
    """Newest first, each with its current version. `statuses` as read: expired is computed."""
    query = sa.select(sales_quotes)
    if account_id:
        query = query.where(sales_quotes.c.account_id == account_id)
    if statuses:
        query = query.where(sa.or_(*(_reads_as(status, now) for status in statuses)))
    if before is not None:
        query = query.where(
            sa.tuple_(sales_quotes.c.created_at, sales_quotes.c.quote_id)
            < sa.tuple_(sa.cast(before[0], sa.DateTime(timezone=True)), sa.literal(before[1]))
        )
    query = query.order_by(sales_quotes.c.created_at.desc(), sales_quotes.c.quote_id.desc()).limit(limit)
    rows = list(await conn.execute(query))
    versions = await _versions(conn, [row.quote_id for row in rows], True) if rows else {}
    return [_quote(row, versions.get(row.quote_id, [])) for row in rows]


def _reads_as(status: Status, now: datetime) -> sa.ColumnElement[bool]:
    """The stored rows that read as `status` at `now` (see SalesQuote.status_at)."""
    lapsable = ("offered", "accepted")
    if status is Status.EXPIRED:
        return sa.and_(sales_quotes.c.status.in_(lapsable), sales_quotes.c.expires_at <= now)
    condition = sales_quotes.c.status == status.value
    if status.value in lapsable:
        return sa.and_(condition, sales_quotes.c.expires_at > now)
    return condition


# --- checkout's redemptions -------------------------------------------------------------------------


async def redemption(conn: AsyncConnection, checkout_id: str) -> Any | None:
    query = sa.select(sales_quote_redemptions).where(sales_quote_redemptions.c.checkout_id == checkout_id)
    return (await conn.execute(query.with_for_update())).first()


async def record_redemption(conn: AsyncConnection, checkout_id: str, quote_id: str, now: datetime) -> None:
    await conn.execute(
        sales_quote_redemptions.insert().values(
            checkout_id=checkout_id, quote_id=quote_id, status="active", redeemed_at=now
        )
    )


async def record_release(conn: AsyncConnection, checkout_id: str, now: datetime) -> str | None:
    """Mark the checkout's redemption released (or leave a released tombstone); the quote it held."""
    statement = (
        insert(sales_quote_redemptions)
        .values(checkout_id=checkout_id, status="released", released_at=now)
        .on_conflict_do_update(
            index_elements=[sales_quote_redemptions.c.checkout_id],
            set_={"status": "released", "released_at": now},
            where=sales_quote_redemptions.c.status == "active",
        )
        .returning(sales_quote_redemptions.c.quote_id)
    )
    row = (await conn.execute(statement)).first()
    return row.quote_id if row is not None else None
