"""Reads and writes of the companies tables, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_customers.companies import Company, CostCentre, Member
from shop_customers.tables import companies, company_members, cost_centres

_COMPANY_FIELDS = ("name", "tax_id", "payment_terms_days", "credit_limit", "status", "version")
_MEMBER_FIELDS = ("role", "cost_centre", "order_limit", "period_limit", "limit_period", "version")


async def _cost_centres(conn: AsyncConnection, account_id: str) -> tuple[CostCentre, ...]:
    query = sa.select(cost_centres).where(cost_centres.c.account_id == account_id).order_by(cost_centres.c.code)
    return tuple(CostCentre(row.code, row.name) for row in await conn.execute(query))


def _company(row: Any, centres: tuple[CostCentre, ...]) -> Company:
    fields = {k: getattr(row, k) for k in Company.__dataclass_fields__ if k != "cost_centres"}
    return Company(**fields, cost_centres=centres)


async def company(
    conn: AsyncConnection, account_id: str, *, lock: bool = False, with_centres: bool = True
) -> tuple[Company, str] | None:
    """The company and the request id that created it; locked until the end of the transaction
    when `lock` (every write to a company and its members takes this lock first)."""
    query = sa.select(companies).where(companies.c.account_id == account_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        return None
    centres = await _cost_centres(conn, account_id) if with_centres else ()
    return _company(row, centres), row.request_id


async def list_companies(conn: AsyncConnection, after: str, limit: int) -> list[Company]:
    query = sa.select(companies).where(companies.c.account_id > after).order_by(companies.c.account_id).limit(limit)
    return [_company(row, await _cost_centres(conn, row.account_id)) for row in (await conn.execute(query)).all()]


async def insert_company(conn: AsyncConnection, value: Company, request_id: str) -> Company | None:
    """The created company; None when the account id is taken."""
    values = {k: getattr(value, k) for k in _COMPANY_FIELDS}
    query = (
        insert(companies)
        .values(account_id=value.account_id, request_id=request_id, currency=value.currency, **values)
        .on_conflict_do_nothing()
        .returning(companies)
    )
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        return None
    await _write_cost_centres(conn, value.account_id, value.cost_centres)
    return _company(row, value.cost_centres)


async def update_company(conn: AsyncConnection, value: Company, centres_changed: bool) -> Company:
    values = {k: getattr(value, k) for k in _COMPANY_FIELDS}
    query = (
        companies.update()
        .where(companies.c.account_id == value.account_id)
        .values(**values, updated_at=sa.func.now())
        .returning(companies)
    )
    row = (await conn.execute(query)).one()
    if centres_changed:
        await conn.execute(cost_centres.delete().where(cost_centres.c.account_id == value.account_id))
        await _write_cost_centres(conn, value.account_id, value.cost_centres)
    return _company(row, value.cost_centres)


async def _write_cost_centres(conn: AsyncConnection, account_id: str, items: tuple[CostCentre, ...]) -> None:
    if items:
        await conn.execute(
            cost_centres.insert(), [{"account_id": account_id, "code": c.code, "name": c.name} for c in items]
        )


def _member(row: Any) -> Member:
    return Member(**{k: getattr(row, k) for k in Member.__dataclass_fields__})


async def members(conn: AsyncConnection, account_id: str) -> list[Member]:
    query = (
        sa.select(company_members).where(company_members.c.account_id == account_id).order_by(company_members.c.user_id)
    )
    return [_member(row) for row in await conn.execute(query)]


async def member(conn: AsyncConnection, account_id: str, user_id: str) -> tuple[Member, str] | None:
    """The member and the request id that added them."""
    query = sa.select(company_members).where(
        company_members.c.account_id == account_id, company_members.c.user_id == user_id
    )
    row = (await conn.execute(query)).one_or_none()
    return (_member(row), row.request_id) if row is not None else None


async def insert_member(conn: AsyncConnection, value: Member, request_id: str) -> Member:
    values = {k: getattr(value, k) for k in _MEMBER_FIELDS}
    query = (
        company_members.insert()
        .values(account_id=value.account_id, user_id=value.user_id, request_id=request_id, **values)
        .returning(company_members)
    )
    return _member((await conn.execute(query)).one())


async def update_member(conn: AsyncConnection, value: Member) -> Member:
    values = {k: getattr(value, k) for k in _MEMBER_FIELDS}
    query = (
        company_members.update()
        .where(company_members.c.account_id == value.account_id, company_members.c.user_id == value.user_id)
        .values(**values, updated_at=sa.func.now())
        .returning(company_members)
    )
    return _member((await conn.execute(query)).one())


async def delete_member(conn: AsyncConnection, account_id: str, user_id: str) -> Member | None:
    query = (
        company_members.delete()
        .where(company_members.c.account_id == account_id, company_members.c.user_id == user_id)
        .returning(company_members)
    )
    row = (await conn.execute(query)).one_or_none()
    return _member(row) if row is not None else None
