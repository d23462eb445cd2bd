"""Tables and repository functions (SQLAlchemy Core on the caller's connection).

Card numbers are never stored: a payment method keeps what later steps need (brand, last four,
expiry, fingerprint, country, test behaviour). The money rules are CHECK constraints too:
captured <= authorised, refunded <= captured, one capture per authorization (unique).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_sandbox.domain import (
    Authorization,
    AuthorizationStatus,
    Capture,
    CardBehaviour,
    PaymentMethod,
    Refund,
)

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
    sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    # The Idempotency-Key of the request that created it: counts the attempts of fault injection.
    sa.Column("idempotency_key", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("status IN ('authorized', 'declined', 'failed', 'captured', 'voided')", name="status"),
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


# --- payment methods ---------------------------------------------------------------------------


def _payment_method(row: Any) -> PaymentMethod:
    return PaymentMethod(
        id=row.id,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        fingerprint=row.fingerprint,
        country=row.country,
        billing_country=row.billing_country,
        behaviour=CardBehaviour(row.behaviour),
        created_at=row.created_at,
    )


async def insert_payment_method(conn: AsyncConnection, method: PaymentMethod) -> PaymentMethod:
    row = (
        await conn.execute(
            payment_methods.insert()
            .values(
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
            .returning(*payment_methods.c)
        )
    ).one()
    return _payment_method(row)


async def get_payment_method(conn: AsyncConnection, payment_method_id: str) -> PaymentMethod | None:
    row = (await conn.execute(payment_methods.select().where(payment_methods.c.id == payment_method_id))).first()
    return _payment_method(row) if row else None


# --- authorizations -----------------------------------------------------------------------------


def _authorization(row: Any, capture_rows: Sequence[Any] = (), refund_rows: Sequence[Any] = ()) -> Authorization:
    return Authorization(
        id=row.id,
        payment_method_id=row.payment_method_id,
        status=AuthorizationStatus(row.status),
        amount=row.amount,
        currency=row.currency,
        amount_captured=row.amount_captured,
        amount_refunded=row.amount_refunded,
        decline_code=row.decline_code,
        failure_code=row.failure_code,
        three_d_secure_authenticated=row.three_d_secure_authenticated,
        metadata=dict(row.metadata or {}),
        created_at=row.created_at,
        captures=tuple(Capture(r.id, r.authorization_id, r.amount, r.created_at) for r in capture_rows),
        refunds=tuple(Refund(r.id, r.authorization_id, r.amount, row.currency, r.created_at) for r in refund_rows),
    )


async def insert_authorization(conn: AsyncConnection, auth: Authorization, idempotency_key: str | None) -> None:
    await conn.execute(
        authorizations.insert().values(
            id=auth.id,
            payment_method_id=auth.payment_method_id,
            status=auth.status.value,
            amount=auth.amount,
            currency=auth.currency,
            amount_captured=auth.amount_captured,
            decline_code=auth.decline_code,
            failure_code=auth.failure_code,
            three_d_secure_authenticated=auth.three_d_secure_authenticated,
            metadata=auth.metadata,
            idempotency_key=idempotency_key,
        )
    )


async def get_authorization(
    conn: AsyncConnection, authorization_id: str, *, for_update: bool = False
) -> Authorization | None:
    """The authorization with its captures and refunds; `for_update` locks its row."""
    query = authorizations.select().where(authorizations.c.id == authorization_id)
    row = (await conn.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        return None
    capture_rows = (await conn.execute(captures.select().where(captures.c.authorization_id == authorization_id))).all()
    refund_rows = (
        await conn.execute(
            refunds.select()
            .where(refunds.c.authorization_id == authorization_id)
            .order_by(refunds.c.created_at, refunds.c.id)
        )
    ).all()
    return _authorization(row, capture_rows, refund_rows)


async def count_failed_attempts(conn: AsyncConnection, idempotency_key: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(authorizations)
        .where(authorizations.c.idempotency_key == idempotency_key, authorizations.c.status == "failed")
    )
    return int((await conn.execute(query)).scalar_one())


async def update_authorization(conn: AsyncConnection, authorization_id: str, **values: Any) -> None:
    await conn.execute(
        authorizations.update().where(authorizations.c.id == authorization_id).values(**values, updated_at=_now())
    )


async def insert_capture(conn: AsyncConnection, capture: Capture) -> None:
    await conn.execute(
        captures.insert().values(id=capture.id, authorization_id=capture.authorization_id, amount=capture.amount)
    )


async def insert_refund(conn: AsyncConnection, refund: Refund) -> Refund:
    row = (
        await conn.execute(
            refunds.insert()
            .values(id=refund.id, authorization_id=refund.authorization_id, amount=refund.amount)
            .returning(refunds.c.created_at)
        )
    ).one()
    return Refund(refund.id, refund.authorization_id, refund.amount, refund.currency, row.created_at)


# --- idempotency keys ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: Mapping[str, Any]


async def find_response(conn: AsyncConnection, key: str, endpoint: str) -> StoredResponse | None:
    row = (
        await conn.execute(
            sa.select(
                idempotency_keys.c.request_hash, idempotency_keys.c.status_code, idempotency_keys.c.response
            ).where(idempotency_keys.c.key == key, idempotency_keys.c.endpoint == endpoint)
        )
    ).first()
    return StoredResponse(row.request_hash, row.status_code, row.response) if row else None


async def save_response(
    conn: AsyncConnection, key: str, endpoint: str, request_hash: str, status_code: int, body: Mapping[str, Any]
) -> None:
    await conn.execute(
        idempotency_keys.insert().values(
            key=key, endpoint=endpoint, request_hash=request_hash, status_code=status_code, response=dict(body)
        )
    )
