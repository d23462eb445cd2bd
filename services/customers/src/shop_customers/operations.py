"""The use cases of the customers service: each owns its transaction, asks the domain, writes and
stages the events of what changed. Every write to one customer's record first locks their row
(`store.locked_profile`), so the address limit and the single defaults hold under concurrent calls."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_customers import events, store
from shop_customers.domain import (
    MAX_ADDRESSES,
    MAX_PAYMENT_METHODS,
    AddressChange,
    NewAddress,
    Profile,
    ProfileChange,
    SavedAddress,
    SavedPaymentMethod,
    check_payment_method_id,
    check_version,
)
from shop_customers.payments import Payments
from shopkit.db import Database
from shopkit.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _address_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument([FieldViolation("address_id", "a UUID")]) from None


def _within_limit(held: int, limit: int, what: str, reason: str) -> None:
    if held >= limit:
        raise FailedPrecondition(
            f"a customer keeps at most {limit} {what}: delete one first", reason=reason, metadata={"limit": str(limit)}
        )


class Customers:
    def __init__(self, db: Database, payments: Payments, *, clock: Clock = utc_now):
        self.db = db
        self.payments = payments
        self.clock = clock

    # --- profile ------------------------------------------------------------------------------

    async def profile(self, customer_id: str) -> Profile:
        """The customer's profile; before their first change an empty one, not stored (a read writes
        nothing: the first write creates the row, at the version an empty profile shows)."""
        async with self.db.connect() as conn:
            found = await store.profile(conn, customer_id)
        return found if found is not None else Profile(customer_id)

    async def update_profile(self, customer_id: str, change: ProfileChange, expected_version: int) -> Profile:
        change.check()
        async with self.db.transaction() as conn:
            current = await store.locked_profile(conn, customer_id)
            check_version(expected_version, current.version, "profile")
            updated = change.apply(current, self.clock())
            if updated is not current:
                await store.save_profile(conn, updated)
                await events.profile_changed(conn, updated)
            return updated

    # --- addresses ----------------------------------------------------------------------------

    async def addresses(self, customer_id: str) -> list[SavedAddress]:
        async with self.db.transaction() as conn:
            return await store.list_addresses(conn, customer_id)

    async def add_address(self, customer_id: str, new: NewAddress) -> SavedAddress:
        new.check()
        async with self.db.transaction() as conn:
            await store.locked_profile(conn, customer_id)
            repeated = await store.address_by_request(conn, customer_id, new.request_id)
            if repeated is not None:
                return repeated
            saved = await store.list_addresses(conn, customer_id)
            _within_limit(len(saved), MAX_ADDRESSES, "addresses", "ADDRESS_LIMIT_REACHED")
            first = not saved  # the first address is where they ship and bill
            address = SavedAddress(
                address_id=uuid.uuid4(),
                customer_id=customer_id,
                label=new.label,
                address=new.address,
                default_shipping=new.default_shipping or first,
                default_billing=new.default_billing or first,
            )
            others = await self._take_defaults(conn, address)
            added = await store.insert_address(conn, address, new.request_id)
            for changed in [*others, added]:
                await events.address_changed(conn, changed)
            return added

    async def update_address(
        self, customer_id: str, address_id: str, change: AddressChange, expected_version: int
    ) -> SavedAddress:
        key = _address_id(address_id)
        change.check()
        async with self.db.transaction() as conn:
            await store.locked_profile(conn, customer_id)
            current = await store.address(conn, customer_id, key)
            if current is None:
                raise NotFound("address", address_id)
            check_version(expected_version, current.version, "address")
            updated = change.apply(current, self.clock())
            if updated is current:
                return current
            others = await self._take_defaults(conn, updated)
            saved = await store.update_address(conn, updated)
            for changed in [*others, saved]:
                await events.address_changed(conn, changed)
            return saved

    async def _take_defaults(self, conn: AsyncConnection, address: SavedAddress) -> list[SavedAddress]:
        """Clear the defaults `address` takes from the customer's other addresses (before it is written:
        the unique indexes allow one of each)."""
        changed: list[SavedAddress] = []
        for kind in ("shipping", "billing"):
            if getattr(address, f"default_{kind}"):
                changed += await store.clear_default(conn, address.customer_id, kind, address.address_id)
        return changed

    async def delete_address(self, customer_id: str, address_id: str) -> bool:
        key = _address_id(address_id)
        async with self.db.transaction() as conn:
            await store.locked_profile(conn, customer_id)
            deleted = await store.delete_address(conn, customer_id, key)
            if deleted is not None:
                await events.address_changed(conn, deleted, deleted=True)
            return deleted is not None

    # --- payment methods ----------------------------------------------------------------------

    async def payment_methods(self, customer_id: str) -> list[SavedPaymentMethod]:
        async with self.db.transaction() as conn:
            return await store.list_payment_methods(conn, customer_id)

    async def add_payment_method(self, customer_id: str, payment_method_id: str) -> SavedPaymentMethod:
        check_payment_method_id(payment_method_id)
        async with self.db.transaction() as conn:
            known = await store.payment_method(conn, payment_method_id)
        if known is not None:
            return self._own(known, customer_id)
        # Asked outside any transaction: no lock is held while the provider answers.
        card = await self.payments.card(payment_method_id)
        method = SavedPaymentMethod(
            payment_method_id, customer_id, card.brand, card.last4, card.exp_month, card.exp_year
        )
        async with self.db.transaction() as conn:
            await store.locked_profile(conn, customer_id)
            held = len(await store.list_payment_methods(conn, customer_id))
            _within_limit(held, MAX_PAYMENT_METHODS, "payment methods", "PAYMENT_METHOD_LIMIT_REACHED")
            saved = await store.insert_payment_method(conn, method)
            if saved is None:  # saved meanwhile by a concurrent call
                existing = await store.payment_method(conn, payment_method_id)
                assert existing is not None
                return self._own(existing, customer_id)
            await events.payment_method_changed(conn, saved)
            return saved

    @staticmethod
    def _own(method: SavedPaymentMethod, customer_id: str) -> SavedPaymentMethod:
        if method.customer_id != customer_id:
            # Said without naming who: a token belongs to the customer who saved it first.
            raise FailedPrecondition("this payment method is saved in another account", reason="PAYMENT_METHOD_TAKEN")
        return method

    async def delete_payment_method(self, customer_id: str, payment_method_id: str) -> bool:
        check_payment_method_id(payment_method_id)
        async with self.db.transaction() as conn:
            await store.locked_profile(conn, customer_id)
            deleted = await store.delete_payment_method(conn, customer_id, payment_method_id)
            if deleted is not None:
                await events.payment_method_changed(conn, deleted, deleted=True)
            return deleted is not None
