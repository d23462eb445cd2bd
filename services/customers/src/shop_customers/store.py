"""Reads and writes of the customers service's tables, inside the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_customers.domain import PostalAddress, Profile, SavedAddress, SavedPaymentMethod
from shop_customers.tables import addresses, customers, inbox, outbox, payment_methods

__all__ = ["inbox", "outbox"]

_ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")


def _profile(row: Any) -> Profile:
    return Profile(**{field: getattr(row, field) for field in Profile.__dataclass_fields__})


async def locked_profile(conn: AsyncConnection, customer_id: str) -> Profile:
    """The customer's profile, created empty before their first change, locked until the end
    of the transaction (every write to a customer's record takes this lock first)."""
    await conn.execute(insert(customers).values(customer_id=customer_id).on_conflict_do_nothing())
    row = (
        await conn.execute(sa.select(customers).where(customers.c.customer_id == customer_id).with_for_update())
    ).one()
    return _profile(row)


async def profile(conn: AsyncConnection, customer_id: str) -> Profile | None:
    row = (await conn.execute(sa.select(customers).where(customers.c.customer_id == customer_id))).one_or_none()
    return _profile(row) if row is not None else None


async def save_profile(conn: AsyncConnection, value: Profile) -> None:
    fields = {k: getattr(value, k) for k in Profile.__dataclass_fields__ if k not in ("customer_id", "created_at")}
    await conn.execute(customers.update().where(customers.c.customer_id == value.customer_id).values(**fields))


def _address(row: Any) -> SavedAddress:
    return SavedAddress(
        address_id=row.address_id,
        customer_id=row.customer_id,
        label=row.label,
        address=PostalAddress(**{field: getattr(row, field) for field in _ADDRESS_FIELDS}),
        default_shipping=row.default_shipping,
        default_billing=row.default_billing,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _address_values(value: SavedAddress) -> dict[str, Any]:
    return {
        **{field: getattr(value.address, field) for field in _ADDRESS_FIELDS},
        "label": value.label,
        "default_shipping": value.default_shipping,
        "default_billing": value.default_billing,
        "version": value.version,
    }


async def list_addresses(conn: AsyncConnection, customer_id: str) -> list[SavedAddress]:
    query = (
        sa.select(addresses)
        .where(addresses.c.customer_id == customer_id)
        .order_by(addresses.c.created_at, addresses.c.address_id)
    )
    return [_address(row) for row in await conn.execute(query)]


async def address(conn: AsyncConnection, customer_id: str, address_id: uuid.UUID) -> SavedAddress | None:
    query = sa.select(addresses).where(addresses.c.customer_id == customer_id, addresses.c.address_id == address_id)
    row = (await conn.execute(query)).one_or_none()
    return _address(row) if row is not None else None


async def address_by_request(conn: AsyncConnection, customer_id: str, request_id: str) -> SavedAddress | None:
    query = sa.select(addresses).where(addresses.c.customer_id == customer_id, addresses.c.request_id == request_id)
    row = (await conn.execute(query)).one_or_none()
    return _address(row) if row is not None else None


async def insert_address(conn: AsyncConnection, value: SavedAddress, request_id: str) -> SavedAddress:
    row = (
        await conn.execute(
            addresses.insert()
            .values(
                address_id=value.address_id,
                customer_id=value.customer_id,
                request_id=request_id,
                **_address_values(value),
            )
            .returning(addresses)
        )
    ).one()
    return _address(row)


async def update_address(conn: AsyncConnection, value: SavedAddress) -> SavedAddress:
    row = (
        await conn.execute(
            addresses.update()
            .where(addresses.c.address_id == value.address_id)
            .values(**_address_values(value), updated_at=sa.func.now())
            .returning(addresses)
        )
    ).one()
    return _address(row)


async def clear_default(conn: AsyncConnection, customer_id: str, kind: str, keep: uuid.UUID) -> list[SavedAddress]:
    """Take the default of `kind` (shipping or billing) from the customer's other address that has
    it; the addresses that changed."""
    column = addresses.c[f"default_{kind}"]
    query = (
        addresses.update()
        .where(addresses.c.customer_id == customer_id, column, addresses.c.address_id != keep)
        .values({column: False, "version": addresses.c.version + 1, "updated_at": sa.func.now()})
        .returning(addresses)
    )
    return [_address(row) for row in await conn.execute(query)]


async def delete_address(conn: AsyncConnection, customer_id: str, address_id: uuid.UUID) -> SavedAddress | None:
    query = (
        addresses.delete()
        .where(addresses.c.customer_id == customer_id, addresses.c.address_id == address_id)
        .returning(addresses)
    )
    row = (await conn.execute(query)).one_or_none()
    return _address(row) if row is not None else None


def _method(row: Any) -> SavedPaymentMethod:
    return SavedPaymentMethod(**{field: getattr(row, field) for field in SavedPaymentMethod.__dataclass_fields__})


async def list_payment_methods(conn: AsyncConnection, customer_id: str) -> list[SavedPaymentMethod]:
    query = (
        sa.select(payment_methods)
        .where(payment_methods.c.customer_id == customer_id)
        .order_by(payment_methods.c.created_at, payment_methods.c.payment_method_id)
    )
    return [_method(row) for row in await conn.execute(query)]


async def payment_method(conn: AsyncConnection, payment_method_id: str) -> SavedPaymentMethod | None:
    query = sa.select(payment_methods).where(payment_methods.c.payment_method_id == payment_method_id)
    row = (await conn.execute(query)).one_or_none()
    return _method(row) if row is not None else None


async def insert_payment_method(conn: AsyncConnection, value: SavedPaymentMethod) -> SavedPaymentMethod | None:
    """The saved method; None when the id is saved already (by this customer or another)."""
    fields = {k: getattr(value, k) for k in SavedPaymentMethod.__dataclass_fields__ if k != "created_at"}
    query = insert(payment_methods).values(**fields).on_conflict_do_nothing().returning(payment_methods)
    row = (await conn.execute(query)).one_or_none()
    return _method(row) if row is not None else None


async def delete_payment_method(
    conn: AsyncConnection, customer_id: str, payment_method_id: str
) -> SavedPaymentMethod | None:
    query = (
        payment_methods.delete()
        .where(payment_methods.c.customer_id == customer_id, payment_methods.c.payment_method_id == payment_method_id)
        .returning(payment_methods)
    )
    row = (await conn.execute(query)).one_or_none()
    return _method(row) if row is not None else None
