"""What each API call does, on the driver connection of its unit of work (the caller commits).

Changes of an authorization lock its row, check the rule in `domain`, then write; the CHECK
constraints of the tables reject whatever would still break a money rule. Writes return the rows
they wrote, so an answer is built without reading them back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

from shop_sandbox import domain, store
from shop_sandbox.domain import Authorization, AuthorizationStatus, Capture, FailurePlan, PaymentMethod, Refund
from shop_sandbox.errors import ResourceMissing
from shopkit.db import DriverConnection


def utc_today() -> date:
    return datetime.now(UTC).date()


class Payments:
    def __init__(self, *, fingerprint_key: bytes, failures: FailurePlan, today: Callable[[], date] = utc_today) -> None:
        self.fingerprint_key = fingerprint_key
        self.failures = failures
        self.today = today
        # Requests without an Idempotency-Key draw injected faults from one seeded sequence.
        self._unkeyed_attempts = itertools.count()

    async def tokenise(
        self, conn: DriverConnection, *, number: str, exp_month: int, exp_year: int, billing_country: str | None
    ) -> PaymentMethod:
        method = domain.tokenise(number, exp_month, exp_year, billing_country, self.fingerprint_key)
        return await store.insert_payment_method(conn, method)

    async def payment_method(self, conn: DriverConnection, payment_method_id: str) -> PaymentMethod:
        method = await store.get_payment_method(conn, payment_method_id)
        if method is None:
            raise ResourceMissing("payment_method", payment_method_id)
        return method

    async def authorize(
        self,
        conn: DriverConnection,
        *,
        payment_method_id: str,
        amount: int,
        currency: str,
        capture: bool,
        authenticated: bool | None,
        metadata: dict[str, str],
        idempotency_key: str | None,
    ) -> Authorization:
        """Record the authorization whatever its outcome (authorized, declined or failed)."""
        found = await store.get_payment_method_and_failures(conn, payment_method_id, idempotency_key)
        if found is None:
            raise ResourceMissing("payment_method", payment_method_id, param="payment_method")
        method, failed_attempts = found
        if idempotency_key is None:
            fault = self.failures.fails("", next(self._unkeyed_attempts))
        else:
            fault = self.failures.fails(idempotency_key, failed_attempts)
        decision = domain.decide(
            method.behaviour,
            card_expired=domain.is_expired(method.exp_month, method.exp_year, self.today()),
            authenticated=authenticated,
            provider_fault=fault,
        )
        auth = Authorization(
            id=domain.new_id("auth"),
            payment_method_id=method.id,
            status=decision.status,
            amount=amount,
            currency=currency,
            decline_code=decision.decline_code,
            failure_code=decision.failure_code,
            three_d_secure_authenticated=authenticated,
            metadata=metadata,
        )
        captured: Capture | None = None
        if capture and auth.status is AuthorizationStatus.AUTHORIZED:
            captured = Capture(domain.new_id("cap"), auth.id, amount)
            auth = replace(auth, status=AuthorizationStatus.CAPTURED, amount_captured=amount)
        return await store.insert_authorization(conn, auth, idempotency_key, captured)

    async def authorization(
        self, conn: DriverConnection, authorization_id: str, *, lock: bool = False
    ) -> Authorization:
        auth = await store.get_authorization(conn, authorization_id, for_update=lock)
        if auth is None:
            raise ResourceMissing("authorization", authorization_id)
        return auth

    async def capture(self, conn: DriverConnection, authorization_id: str, amount: int | None) -> Authorization:
        auth = await self.authorization(conn, authorization_id, lock=True)
        amount = domain.capture_amount(auth, amount)
        updated = await store.update_authorization(
            conn, auth, status=AuthorizationStatus.CAPTURED, amount_captured=amount
        )
        captured = await store.insert_capture(conn, Capture(domain.new_id("cap"), auth.id, amount))
        return replace(updated, captures=(*updated.captures, captured))

    async def void(self, conn: DriverConnection, authorization_id: str) -> Authorization:
        auth = await self.authorization(conn, authorization_id, lock=True)
        domain.check_void(auth)
        return await store.update_authorization(conn, auth, status=AuthorizationStatus.VOIDED)

    async def refund(self, conn: DriverConnection, authorization_id: str, amount: int | None) -> Refund:
        auth = await self.authorization(conn, authorization_id, lock=True)
        amount = domain.refund_amount(auth, amount)
        await store.update_authorization(conn, auth, amount_refunded=auth.amount_refunded + amount)
        return await store.insert_refund(conn, Refund(domain.new_id("re"), auth.id, amount, auth.currency))
