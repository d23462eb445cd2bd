"""Tables and repository functions: statements compiled once (`DriverQuery`), run on the driver
connection of the caller's unit of work.

Card numbers are never stored: a payment method keeps what later steps need (brand, last four,
expiry, fingerprint, country, test behaviour). The money rules are CHECK constraints too:
captured <= authorised, refunded <= captured, one capture per authorization (unique).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from shop_sandbox.domain import (
    Authorization,
    AuthorizationStatus,
    Capture,
    CardBehaviour,
    PaymentMethod,
    Refund,
)
from shopkit.db import DriverConnection, DriverQuery, Row

metadata = sa.MetaData(
    naming_convention={
        "pk": "%(table_name)s_pkey",
        "fk": "%(table_name)s_%(column_0_name)s_fkey",
        "ck": "%(table_name)s_%(constraint_name)s_check",
        "uq": "%(table_name)s_%(column_0_name)s_key",
        "ix": "%(table_name)s_%(column_0_name)s_idx",
    }
)

_now = sa.func.now
STATUSES = "(" + ", ".join(f"'{status.value}'" for status in AuthorizationStatus) + ")"

payment_methods = sa.Table(
    "payment_methods",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("brand", sa.Text, nullable=False),
    sa.Column("last4", sa.Text, nullable=False),
    sa.Column("exp_month", sa.SmallInteger, nullable=False),
    sa.Column("exp_year", sa.SmallInteger, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("country", sa.Text, nullable=False),
    sa.Column("billing_country", sa.Text),
    sa.Column("behaviour", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("last4 ~ '^[0-9]{4}$'", name="last4"),
    sa.CheckConstraint("exp_month BETWEEN 1 AND 12", name="exp_month"),
    sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name="country"),
    sa.CheckConstraint("billing_country ~ '^[A-Z]{2}$'", name="billing_country"),
    sa.CheckConstraint(
        "behaviour IN ('succeed', 'card_declined', 'insufficient_funds', 'require_3ds', 'processing_error')",
        name="behaviour",
    ),
)

authorizations = sa.Table(
    "authorizations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("payment_method_id", sa.Text, sa.ForeignKey("payment_methods.id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount_captured", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("amount_refunded", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("decline_code", sa.Text),
    sa.Column("failure_code", sa.Text),
    sa.Column("three_d_secure_authenticated", sa.Boolean),
    # The 3-D Secure challenge of a requires_action authorization (migration 0002).
    sa.Column("client_secret", sa.Text),
    sa.Column("capture_when_authenticated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    # The Idempotency-Key of the request that created it: counts the attempts of fault injection.
    sa.Column("idempotency_key", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
    sa.CheckConstraint("status <> 'requires_action' OR client_secret IS NOT NULL", name="client_secret"),
    sa.CheckConstraint("amount > 0", name="amount"),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    sa.CheckConstraint("amount_captured BETWEEN 0 AND amount", name="amount_captured"),
    sa.CheckConstraint("amount_refunded BETWEEN 0 AND amount_captured", name="amount_refunded"),
    sa.CheckConstraint("(status = 'captured') = (amount_captured > 0)", name="captured"),
    sa.CheckConstraint("(status = 'declined') = (decline_code IS NOT NULL)", name="decline_code"),
    sa.CheckConstraint("(status = 'failed') = (failure_code IS NOT NULL)", name="failure_code"),
    sa.Index(
        "authorizations_idempotency_key_idx", "idempotency_key", postgresql_where=sa.text("idempotency_key IS NOT NULL")
    ),
)

captures = sa.Table(
    "captures",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    # Unique: an authorization is captured once (partially or fully).
    sa.Column("authorization_id", sa.Text, sa.ForeignKey("authorizations.id"), nullable=False, unique=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("amount > 0", name="amount"),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("authorization_id", sa.Text, sa.ForeignKey("authorizations.id"), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("amount > 0", name="amount"),
    sa.Index("refunds_authorization_id_idx", "authorization_id", "created_at"),
)

# The answer to each request that carried an Idempotency-Key, written in the transaction of its
# effect. Keys are scoped to the endpoint (method and path).
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("endpoint", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("status_code", sa.SmallInteger, nullable=False),
    # json, not jsonb: it keeps the key order, so a replayed body is byte-for-byte the original.
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)


PAYMENT_METHOD_FIELDS = (
    "id",
    "brand",
    "last4",
    "exp_month",
    "exp_year",
    "fingerprint",
    "country",
    "billing_country",
    "behaviour",
)
AUTHORIZATION_FIELDS = (
    "id",
    "payment_method_id",
    "status",
    "amount",
    "currency",
    "amount_captured",
    "decline_code",
    "failure_code",
    "three_d_secure_authenticated",
    "client_secret",
    "capture_when_authenticated",
    "metadata",
    "idempotency_key",
)


# --- payment methods ---------------------------------------------------------------------------


def _payment_method(row: Row) -> PaymentMethod:
    return PaymentMethod(
        id=row["id"],
        brand=row["brand"],
        last4=row["last4"],
        exp_month=row["exp_month"],
        exp_year=row["exp_year"],
        fingerprint=row["fingerprint"],
        country=row["country"],
        billing_country=row["billing_country"],
        behaviour=CardBehaviour(row["behaviour"]),
        created_at=row["created_at"],
    )


_INSERT_PAYMENT_METHOD = DriverQuery(
    payment_methods.insert()
    .values({column: sa.bindparam(column) for column in PAYMENT_METHOD_FIELDS})
    .returning(*payment_methods.c)
)
_PAYMENT_METHOD = DriverQuery(payment_methods.select().where(payment_methods.c.id == sa.bindparam("id")))
# The method and, for fault injection, how many attempts under the request's key failed: one round trip.
_FAILED_ATTEMPTS = (
    sa.select(sa.func.count())
    .where(authorizations.c.idempotency_key == sa.bindparam("key", type_=sa.Text), authorizations.c.status == "failed")
    .scalar_subquery()
)
_PAYMENT_METHOD_AND_FAILURES = DriverQuery(
    sa.select(*payment_methods.c, _FAILED_ATTEMPTS.label("failed_attempts")).where(
        payment_methods.c.id == sa.bindparam("id")
    )
)


async def insert_payment_method(conn: DriverConnection, method: PaymentMethod) -> PaymentMethod:
    row = await conn.fetchrow(
        _INSERT_PAYMENT_METHOD,
        id=method.id,
        brand=method.brand,
        last4=method.last4,
        exp_month=method.exp_month,
        exp_year=method.exp_year,
        fingerprint=method.fingerprint,
        country=method.country,
        billing_country=method.billing_country,
        behaviour=method.behaviour.value,
    )
    assert row is not None
    return _payment_method(row)


async def get_payment_method(conn: DriverConnection, payment_method_id: str) -> PaymentMethod | None:
    row = await conn.fetchrow(_PAYMENT_METHOD, id=payment_method_id)
    return _payment_method(row) if row else None


async def get_payment_method_and_failures(
    conn: DriverConnection, payment_method_id: str, idempotency_key: str | None
) -> tuple[PaymentMethod, int] | None:
    """The payment method, and how many authorizations made with `idempotency_key` failed (0 without a key)."""
    row = await conn.fetchrow(_PAYMENT_METHOD_AND_FAILURES, id=payment_method_id, key=idempotency_key)
    return (_payment_method(row), int(row["failed_attempts"])) if row else None


# --- authorizations -----------------------------------------------------------------------------


def _authorization(row: Row, capture_rows: Sequence[Row] = (), refund_rows: Sequence[Row] = ()) -> Authorization:
    return Authorization(
        id=row["id"],
        payment_method_id=row["payment_method_id"],
        status=AuthorizationStatus(row["status"]),
        amount=row["amount"],
        currency=row["currency"],
        amount_captured=row["amount_captured"],
        amount_refunded=row["amount_refunded"],
        decline_code=row["decline_code"],
        failure_code=row["failure_code"],
        three_d_secure_authenticated=row["three_d_secure_authenticated"],
        client_secret=row["client_secret"],
        capture_when_authenticated=row["capture_when_authenticated"],
        metadata=dict(row["metadata"] or {}),
        created_at=row["created_at"],
        captures=tuple(Capture(r["id"], r["authorization_id"], r["amount"], r["created_at"]) for r in capture_rows),
        refunds=tuple(
            Refund(r["id"], r["authorization_id"], r["amount"], row["currency"], r["created_at"]) for r in refund_rows
        ),
    )


_INSERT_AUTHORIZATION = DriverQuery(
    authorizations.insert()
    .values({column: sa.bindparam(column) for column in AUTHORIZATION_FIELDS})
    .returning(*authorizations.c)
)
_AUTHORIZATION = DriverQuery(authorizations.select().where(authorizations.c.id == sa.bindparam("id")))
_LOCK_AUTHORIZATION = DriverQuery(
    authorizations.select().where(authorizations.c.id == sa.bindparam("id")).with_for_update()
)
_CAPTURES = DriverQuery(
    captures.select().where(captures.c.authorization_id == sa.bindparam("id")).order_by(captures.c.id)
)
_REFUNDS = DriverQuery(
    refunds.select()
    .where(refunds.c.authorization_id == sa.bindparam("id"))
    .order_by(refunds.c.created_at, refunds.c.id)
)
_INSERT_CAPTURE = DriverQuery(
    captures.insert()
    .values(id=sa.bindparam("id"), authorization_id=sa.bindparam("authorization_id"), amount=sa.bindparam("amount"))
    .returning(*captures.c)
)
_INSERT_REFUND = DriverQuery(
    refunds.insert()
    .values(id=sa.bindparam("id"), authorization_id=sa.bindparam("authorization_id"), amount=sa.bindparam("amount"))
    .returning(refunds.c.created_at)
)
# A state change of a locked authorization; columns a change leaves alone are passed as they were.
_UPDATE_AUTHORIZATION = DriverQuery(
    authorizations.update()
    .where(authorizations.c.id == sa.bindparam("id"))
    .values(
        status=sa.bindparam("status"),
        amount_captured=sa.bindparam("amount_captured"),
        amount_refunded=sa.bindparam("amount_refunded"),
        updated_at=_now(),
    )
    .returning(*authorizations.c)
)


# The outcome of a 3-D Secure challenge on a locked requires_action authorization.
_AUTHENTICATE = DriverQuery(
    authorizations.update()
    .where(authorizations.c.id == sa.bindparam("id"))
    .values(
        status=sa.bindparam("status"),
        decline_code=sa.bindparam("decline_code", type_=sa.Text),
        amount_captured=sa.bindparam("amount_captured"),
        three_d_secure_authenticated=sa.bindparam("authenticated", type_=sa.Boolean),
        updated_at=_now(),
    )
    .returning(*authorizations.c)
)


async def insert_authorization(
    conn: DriverConnection, auth: Authorization, idempotency_key: str | None, capture: Capture | None = None
) -> Authorization:
    """Store a new authorization (and its capture, when captured at once); the stored record."""
    row = await conn.fetchrow(
        _INSERT_AUTHORIZATION,
        id=auth.id,
        payment_method_id=auth.payment_method_id,
        status=auth.status.value,
        amount=auth.amount,
        currency=auth.currency,
        amount_captured=auth.amount_captured,
        decline_code=auth.decline_code,
        failure_code=auth.failure_code,
        three_d_secure_authenticated=auth.three_d_secure_authenticated,
        client_secret=auth.client_secret,
        capture_when_authenticated=auth.capture_when_authenticated,
        metadata=auth.metadata,
        idempotency_key=idempotency_key,
    )
    assert row is not None
    capture_rows = [] if capture is None else [await _insert_capture(conn, capture)]
    return _authorization(row, capture_rows)


async def get_authorization(
    conn: DriverConnection, authorization_id: str, *, for_update: bool = False
) -> Authorization | None:
    """The authorization with its captures and refunds; `for_update` locks its row."""
    row = await conn.fetchrow(_LOCK_AUTHORIZATION if for_update else _AUTHORIZATION, id=authorization_id)
    if row is None:
        return None
    capture_rows = await conn.fetch(_CAPTURES, id=authorization_id)
    refund_rows = await conn.fetch(_REFUNDS, id=authorization_id)
    return _authorization(row, capture_rows, refund_rows)


async def update_authorization(
    conn: DriverConnection,
    auth: Authorization,
    *,
    status: AuthorizationStatus | None = None,
    amount_captured: int | None = None,
    amount_refunded: int | None = None,
) -> Authorization:
    """Change the status or amounts of `auth` (read with its row locked); the authorization after it."""
    row = await conn.fetchrow(
        _UPDATE_AUTHORIZATION,
        id=auth.id,
        status=(status or auth.status).value,
        amount_captured=auth.amount_captured if amount_captured is None else amount_captured,
        amount_refunded=auth.amount_refunded if amount_refunded is None else amount_refunded,
    )
    assert row is not None
    return replace(_authorization(row), captures=auth.captures, refunds=auth.refunds)


async def record_challenge(
    conn: DriverConnection, auth: Authorization, outcome: Authorization, capture: Capture | None
) -> Authorization:
    """Write the outcome of the challenge of `auth` (read with its row locked), and its capture when
    it was asked for at authorisation; the authorization after it."""
    row = await conn.fetchrow(
        _AUTHENTICATE,
        id=auth.id,
        status=outcome.status.value,
        decline_code=outcome.decline_code,
        amount_captured=outcome.amount_captured,
        authenticated=outcome.three_d_secure_authenticated,
    )
    assert row is not None
    capture_rows = [] if capture is None else [await _insert_capture(conn, capture)]
    return _authorization(row, capture_rows)


async def _insert_capture(conn: DriverConnection, capture: Capture) -> Row:
    row = await conn.fetchrow(
        _INSERT_CAPTURE, id=capture.id, authorization_id=capture.authorization_id, amount=capture.amount
    )
    assert row is not None
    return row


async def insert_capture(conn: DriverConnection, capture: Capture) -> Capture:
    row = await _insert_capture(conn, capture)
    return Capture(row["id"], row["authorization_id"], row["amount"], row["created_at"])


async def insert_refund(conn: DriverConnection, refund: Refund) -> Refund:
    row = await conn.fetchrow(
        _INSERT_REFUND, id=refund.id, authorization_id=refund.authorization_id, amount=refund.amount
    )
    assert row is not None
    return Refund(refund.id, refund.authorization_id, refund.amount, refund.currency, row["created_at"])


# --- idempotency keys ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: Mapping[str, Any]


# The wait for a concurrent request with the same key is bounded by lock_timeout (then 55P03); the
# subquery (volatile, so never flattened) sets it before the lock is asked for.
_LOCK_KEY = DriverQuery(
    sa.select(
        sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("scope", type_=sa.Text), 0))
    ).select_from(
        sa.select(
            sa.func.set_config("lock_timeout", sa.bindparam("timeout", type_=sa.Text), True).label("timeout")
        ).subquery()
    )
)
# Once the key is ours, the effect's own row locks wait as long as they need; and the stored answer.
_UNLIMITED_AND_STORED = DriverQuery(
    sa.select(idempotency_keys.c.request_hash, idempotency_keys.c.status_code, idempotency_keys.c.response).select_from(
        sa.select(sa.func.set_config("lock_timeout", "0", True).label("timeout"))
        .subquery()
        .outerjoin(
            idempotency_keys,
            sa.and_(
                idempotency_keys.c.key == sa.bindparam("key"), idempotency_keys.c.endpoint == sa.bindparam("endpoint")
            ),
        )
    )
)
_SAVE_RESPONSE = DriverQuery(
    idempotency_keys.insert().values(
        key=sa.bindparam("key"),
        endpoint=sa.bindparam("endpoint"),
        request_hash=sa.bindparam("request_hash"),
        status_code=sa.bindparam("status_code"),
        response=sa.bindparam("response"),
    )
)


async def lock_key(conn: DriverConnection, scope: str, wait_ms: int) -> None:
    """Take the transaction's advisory lock on `scope`, waiting at most `wait_ms` (then 55P03)."""
    await conn.execute(_LOCK_KEY, scope=scope, timeout=f"{wait_ms}ms")


async def find_response(conn: DriverConnection, key: str, endpoint: str) -> StoredResponse | None:
    """The stored answer under (key, endpoint); also lifts the lock_timeout `lock_key` set."""
    row = await conn.fetchrow(_UNLIMITED_AND_STORED, key=key, endpoint=endpoint)
    if row is None or row["request_hash"] is None:
        return None
    return StoredResponse(row["request_hash"], row["status_code"], row["response"])


async def save_response(
    conn: DriverConnection, key: str, endpoint: str, request_hash: str, status_code: int, body: Mapping[str, Any]
) -> None:
    await conn.execute(
        _SAVE_RESPONSE,
        key=key,
        endpoint=endpoint,
        request_hash=request_hash,
        status_code=status_code,
        response=dict(body),
    )
