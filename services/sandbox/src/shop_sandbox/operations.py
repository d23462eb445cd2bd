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
        challenge: bool,
        metadata: dict[str, str],
        idempotency_key: str | None,
    ) -> Authorization:
        """Record the authorization whatever its outcome (authorized, requires_action, declined or failed)."""
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
            challenge=challenge,
        )
        auth_id = domain.new_id("auth")
        waits = decision.status is AuthorizationStatus.REQUIRES_ACTION
        auth = Authorization(
            id=auth_id,
            payment_method_id=method.id,
            status=decision.status,
            amount=amount,
            currency=currency,
            decline_code=decision.decline_code,
            failure_code=decision.failure_code,
            three_d_secure_authenticated=authenticated,
            client_secret=domain.new_client_secret(auth_id) if waits else None,
            capture_when_authenticated=capture and waits,
            metadata=metadata,
        )
        auth, captured = _captured_if(capture, auth)
        return await store.insert_authorization(conn, auth, idempotency_key, captured)

    async def complete_challenge(
        self, conn: DriverConnection, authorization_id: str, client_secret: str, authenticated: bool
    ) -> Authorization:
        """The customer passed (or failed) the 3-D Secure challenge of a requires_action authorization."""
        auth = await self.authorization(conn, authorization_id, lock=True)
        decision = domain.challenge_outcome(auth, client_secret, authenticated)
        outcome = replace(
            auth, status=decision.status, decline_code=decision.decline_code, three_d_secure_authenticated=authenticated
        )
        outcome, captured = _captured_if(auth.capture_when_authenticated, outcome)
        return await store.record_challenge(conn, auth, outcome, captured)

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


def _captured_if(capture: bool, auth: Authorization) -> tuple[Authorization, Capture | None]:
    """`capture: true` takes the full amount the moment the authorization is authorised."""
    if not (capture and auth.status is AuthorizationStatus.AUTHORIZED):
        return auth, None
    captured = Capture(domain.new_id("cap"), auth.id, auth.amount)
    return replace(auth, status=AuthorizationStatus.CAPTURED, amount_captured=auth.amount), captured
