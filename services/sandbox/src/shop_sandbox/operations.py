"""What each API call does, on the connection of its unit of work (the caller commits).

Changes of an authorization lock its row, check the rule in `domain`, then write; the CHECK
constraints of the tables reject whatever would still break a money rule.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_sandbox import domain, store
from shop_sandbox.domain import Authorization, AuthorizationStatus, Capture, FailurePlan, PaymentMethod, Refund
from shop_sandbox.errors import ResourceMissing


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
        self, conn: AsyncConnection, *, number: str, exp_month: int, exp_year: int, billing_country: str | None
    ) -> PaymentMethod:
        method = domain.tokenise(number, exp_month, exp_year, billing_country, self.fingerprint_key)
        return await store.insert_payment_method(conn, method)

    async def payment_method(self, conn: AsyncConnection, payment_method_id: str) -> PaymentMethod:
        method = await store.get_payment_method(conn, payment_method_id)
        if method is None:
            raise ResourceMissing("payment_method", payment_method_id)
        return method

    async def authorize(
        self,
        conn: AsyncConnection,
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
        method = await store.get_payment_method(conn, payment_method_id)
        if method is None:
            raise ResourceMissing("payment_method", payment_method_id, param="payment_method")
        if idempotency_key is None:
            fault = self.failures.fails("", next(self._unkeyed_attempts))
        else:
            attempt = await store.count_failed_attempts(conn, idempotency_key)
            fault = self.failures.fails(idempotency_key, attempt)
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
        await store.insert_authorization(conn, auth, idempotency_key)
        if captured is not None:
            await store.insert_capture(conn, captured)
        return await self.authorization(conn, auth.id)

    async def authorization(self, conn: AsyncConnection, authorization_id: str, *, lock: bool = False) -> Authorization:
        auth = await store.get_authorization(conn, authorization_id, for_update=lock)
        if auth is None:
            raise ResourceMissing("authorization", authorization_id)
        return auth

    async def capture(self, conn: AsyncConnection, authorization_id: str, amount: int | None) -> Authorization:
        auth = await self.authorization(conn, authorization_id, lock=True)
        amount = domain.capture_amount(auth, amount)
        await store.update_authorization(
            conn, auth.id, status=AuthorizationStatus.CAPTURED.value, amount_captured=amount
        )
        await store.insert_capture(conn, Capture(domain.new_id("cap"), auth.id, amount))
        return await self.authorization(conn, auth.id)

    async def void(self, conn: AsyncConnection, authorization_id: str) -> Authorization:
        auth = await self.authorization(conn, authorization_id, lock=True)
        domain.check_void(auth)
        await store.update_authorization(conn, auth.id, status=AuthorizationStatus.VOIDED.value)
        return await self.authorization(conn, auth.id)

    async def refund(self, conn: AsyncConnection, authorization_id: str, amount: int | None) -> Refund:
        auth = await self.authorization(conn, authorization_id, lock=True)
        amount = domain.refund_amount(auth, amount)
        await store.update_authorization(conn, auth.id, amount_refunded=auth.amount_refunded + amount)
        return await store.insert_refund(conn, Refund(domain.new_id("re"), auth.id, amount, auth.currency))
