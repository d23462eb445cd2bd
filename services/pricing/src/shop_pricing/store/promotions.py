"""Promotions, coupons and race-safe coupon redemption.

Redemption holds the limits under any concurrency with two single statements, no read-modify-write:
- per customer: an upsert of the (coupon, customer) counter row that only increments while
  `uses < limit` (the row lock of ON CONFLICT serialises one customer's concurrent attempts);
- in total: `UPDATE coupons SET times_used = times_used + 1 WHERE times_used < usage_limit_total`,
  backed by a CHECK constraint. The coupon row is the hot row, so it is touched last.
The redemption row (primary key = idempotency key) is inserted first: a concurrent replay waits on
it and then returns the committed outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_pricing.domain.promotions import (
    COUPON_PROBLEM_TEXT,
    Coupon,
    CouponCandidate,
    CouponProblem,
    DiscountKind,
    DiscountTarget,
    Promotion,
    coupon_problem,
)
from shop_pricing.store.tables import (
    any_of,
    coupon_customer_uses,
    coupon_redemptions,
    coupons,
    promotion_skus,
    promotions,
)
from shopkit.errors import Aborted, AlreadyExists, FailedPrecondition, NotFound
from shopkit.money import Money


@dataclass(frozen=True)
class PromotionRecord:
    promotion: Promotion
    created_at: datetime


@dataclass(frozen=True)
class CouponRecord:
    coupon: Coupon
    created_at: datetime


@dataclass(frozen=True)
class Redemption:
    idempotency_key: str
    code: str
    promotion_id: str
    customer_id: str
    status: str  # active | released
    redeemed_at: datetime | None
    released_at: datetime | None


def _promotion(row: Any, skus: frozenset[str]) -> Promotion:
    currency = row.currency or ""
    return Promotion(
        id=row.id,
        name=row.name,
        kind=DiscountKind(row.kind),
        target=DiscountTarget(row.target),
        percent_bp=row.percent_bp,
        amount_off=Money(row.amount_off, currency) if row.amount_off is not None else None,
        skus=skus,
        min_spend=Money(row.min_spend, currency) if row.min_spend is not None else None,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        automatic=row.automatic,
        active=row.active,
    )


def _coupon(row: Any) -> Coupon:
    return Coupon(
        row.code, row.promotion_id, row.usage_limit_total, row.usage_limit_per_customer, row.times_used, row.active
    )


def _redemption(row: Any) -> Redemption:
    return Redemption(
        row.idempotency_key,
        row.code or "",
        row.promotion_id or "",
        row.customer_id,
        row.status,
        row.redeemed_at,
        row.released_at,
    )


async def _skus_by_promotion(
    conn: AsyncConnection, ids: Sequence[str], only: Sequence[str] | None = None
) -> dict[str, frozenset[str]]:
    if not ids:
        return {}
    query = sa.select(promotion_skus).where(any_of(promotion_skus.c.promotion_id, ids))
    if only is not None:
        query = query.where(any_of(promotion_skus.c.sku, only))
    found: dict[str, set[str]] = {}
    for row in await conn.execute(query):
        found.setdefault(row.promotion_id, set()).add(row.sku)
    return {key: frozenset(value) for key, value in found.items()}


# ------------------------------------------------------------------------------------------------
# Promotions


async def insert_promotion(conn: AsyncConnection, promotion: Promotion) -> PromotionRecord | None:
    """Insert a promotion with its SKUs; None when the id is taken."""
    money = promotion.amount_off or promotion.min_spend
    row = (
        await conn.execute(
            insert(promotions)
            .values(
                id=promotion.id,
                name=promotion.name,
                kind=promotion.kind.value,
                target=promotion.target.value,
                percent_bp=promotion.percent_bp,
                amount_off=promotion.amount_off.amount if promotion.amount_off else None,
                min_spend=promotion.min_spend.amount if promotion.min_spend else None,
                currency=money.currency if money else None,
                valid_from=promotion.valid_from,
                valid_to=promotion.valid_to,
                automatic=promotion.automatic,
                active=promotion.active,
            )
            .on_conflict_do_nothing(index_elements=[promotions.c.id])
            .returning(promotions)
        )
    ).first()
    if row is None:
        return None
    if promotion.skus:
        await conn.execute(
            promotion_skus.insert().values(
                [{"promotion_id": promotion.id, "sku": sku} for sku in sorted(promotion.skus)]
            )
        )
    return PromotionRecord(_promotion(row, promotion.skus), row.created_at)


async def get_promotion(conn: AsyncConnection, promotion_id: str) -> PromotionRecord | None:
    row = (await conn.execute(sa.select(promotions).where(promotions.c.id == promotion_id))).first()
    if row is None:
        return None
    skus = await _skus_by_promotion(conn, [promotion_id])
    return PromotionRecord(_promotion(row, skus.get(promotion_id, frozenset())), row.created_at)


async def list_promotions(conn: AsyncConnection, after_id: str | None, limit: int) -> list[PromotionRecord]:
    query = sa.select(promotions).order_by(promotions.c.id).limit(limit)
    if after_id is not None:
        query = query.where(promotions.c.id > after_id)
    rows = (await conn.execute(query)).all()
    skus = await _skus_by_promotion(conn, [row.id for row in rows])
    return [PromotionRecord(_promotion(row, skus.get(row.id, frozenset())), row.created_at) for row in rows]


async def automatic_promotions(conn: AsyncConnection, skus: Sequence[str], now: datetime) -> list[Promotion]:
    """Automatic promotions in force now; their SKU sets are cut down to `skus` (the basket)."""
    rows = (
        await conn.execute(
            sa.select(promotions).where(
                promotions.c.automatic,
                promotions.c.active,
                sa.or_(promotions.c.valid_from.is_(None), promotions.c.valid_from <= now),
                sa.or_(promotions.c.valid_to.is_(None), promotions.c.valid_to > now),
            )
        )
    ).all()
    product_ids = [row.id for row in rows if row.target == DiscountTarget.PRODUCTS.value]
    by_promotion = await _skus_by_promotion(conn, product_ids, only=skus)
    return [_promotion(row, by_promotion.get(row.id, frozenset())) for row in rows]


# ------------------------------------------------------------------------------------------------
# Coupons


async def insert_coupon(conn: AsyncConnection, coupon: Coupon) -> CouponRecord | None:
    """Insert a coupon; None when the code is taken."""
    row = (
        await conn.execute(
            insert(coupons)
            .values(
                code=coupon.code,
                promotion_id=coupon.promotion_id,
                usage_limit_total=coupon.usage_limit_total,
                usage_limit_per_customer=coupon.usage_limit_per_customer,
                active=coupon.active,
            )
            .on_conflict_do_nothing(index_elements=[coupons.c.code])
            .returning(coupons)
        )
    ).first()
    return CouponRecord(_coupon(row), row.created_at) if row else None


async def get_coupon(conn: AsyncConnection, code: str) -> CouponRecord | None:
    row = (await conn.execute(sa.select(coupons).where(coupons.c.code == code))).first()
    return CouponRecord(_coupon(row), row.created_at) if row else None


async def coupon_candidate(conn: AsyncConnection, code: str, customer_id: str, skus: Sequence[str]) -> CouponCandidate:
    """The coupon, its promotion (SKUs cut down to the basket) and the customer's uses, for a quote."""
    found = await get_coupon(conn, code)
    if found is None:
        return CouponCandidate(code, None, None)
    coupon = found.coupon
    promotion_row = (await conn.execute(sa.select(promotions).where(promotions.c.id == coupon.promotion_id))).one()
    skus_of = await _skus_by_promotion(conn, [coupon.promotion_id], only=skus)
    uses = 0
    if customer_id and coupon.usage_limit_per_customer:
        uses = (
            await conn.execute(
                sa.select(coupon_customer_uses.c.uses).where(
                    coupon_customer_uses.c.code == code, coupon_customer_uses.c.customer_id == customer_id
                )
            )
        ).scalar_one_or_none() or 0
    return CouponCandidate(code, coupon, _promotion(promotion_row, skus_of.get(coupon.promotion_id, frozenset())), uses)


def _refuse(problem: CouponProblem, code: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"coupon {code}: {COUPON_PROBLEM_TEXT[problem]}", reason=f"COUPON_{problem.value}", metadata={"code": code}
    )


async def _existing_redemption(conn: AsyncConnection, key: str) -> Redemption | None:
    row = (await conn.execute(sa.select(coupon_redemptions).where(coupon_redemptions.c.idempotency_key == key))).first()
    return _redemption(row) if row else None


def _replay(existing: Redemption, code: str, customer_id: str) -> Redemption:
    """A repeated RedeemCoupon: the same outcome, or a clear refusal when the key meant something else."""
    if existing.status == "released":
        raise FailedPrecondition(
            f"the redemption {existing.idempotency_key!r} was released; use a new key",
            reason="COUPON_REDEMPTION_RELEASED",
            metadata={"idempotency_key": existing.idempotency_key},
        )
    if existing.code != code or existing.customer_id != customer_id:
        raise AlreadyExists(
            f"the key {existing.idempotency_key!r} already redeemed coupon {existing.code} for another request",
            reason="REQUEST_ID_REUSED",
            metadata={"idempotency_key": existing.idempotency_key},
        )
    return existing


async def redeem_coupon(
    conn: AsyncConnection, code: str, customer_id: str, key: str, now: datetime
) -> tuple[Redemption, bool]:
    """Consume one use of `code` for `key`. Returns the redemption and whether it is new (False: replay)."""
    existing = await _existing_redemption(conn, key)
    if existing is not None:
        return _replay(existing, code, customer_id), False
    found = await get_coupon(conn, code)
    if found is None:
        raise NotFound("coupon", code)
    coupon = found.coupon
    promotion = await get_promotion(conn, coupon.promotion_id)
    assert promotion is not None  # foreign key
    # Limits are left to the statements below; only availability is checked here.
    problem = coupon_problem(coupon, promotion.promotion, 0, now)
    if problem not in (None, CouponProblem.USAGE_LIMIT_REACHED, CouponProblem.CUSTOMER_LIMIT_REACHED):
        raise _refuse(problem, code)

    inserted = (
        await conn.execute(
            insert(coupon_redemptions)
            .values(
                idempotency_key=key,
                code=code,
                promotion_id=coupon.promotion_id,
                customer_id=customer_id,
                status="active",
                redeemed_at=now,
            )
            .on_conflict_do_nothing(index_elements=[coupon_redemptions.c.idempotency_key])
            .returning(coupon_redemptions)
        )
    ).first()
    if inserted is None:  # a concurrent call with the same key committed first
        existing = await _existing_redemption(conn, key)
        if existing is None:
            raise Aborted("concurrent redemption with the same key; retry", reason="CONCURRENT_REDEMPTION")
        return _replay(existing, code, customer_id), False

    limit = coupon.usage_limit_per_customer
    counter = insert(coupon_customer_uses).values(code=code, customer_id=customer_id, uses=1)
    counted = (
        await conn.execute(
            counter.on_conflict_do_update(
                index_elements=[coupon_customer_uses.c.code, coupon_customer_uses.c.customer_id],
                set_={"uses": coupon_customer_uses.c.uses + 1},
                where=(coupon_customer_uses.c.uses < limit) if limit else None,
            ).returning(coupon_customer_uses.c.uses)
        )
    ).first()
    if counted is None:
        raise _refuse(CouponProblem.CUSTOMER_LIMIT_REACHED, code)

    used = (
        await conn.execute(
            coupons.update()
            .where(
                coupons.c.code == code,
                sa.or_(coupons.c.usage_limit_total == 0, coupons.c.times_used < coupons.c.usage_limit_total),
            )
            .values(times_used=coupons.c.times_used + 1)
            .returning(coupons.c.times_used)
        )
    ).first()
    if used is None:
        raise _refuse(CouponProblem.USAGE_LIMIT_REACHED, code)
    return _redemption(inserted), True


async def release_redemption(conn: AsyncConnection, key: str, now: datetime) -> Redemption:
    """Give a redemption's use back; idempotent. An unknown key gets a 'released' tombstone."""
    for _ in range(2):
        released = (
            await conn.execute(
                coupon_redemptions.update()
                .where(coupon_redemptions.c.idempotency_key == key, coupon_redemptions.c.status == "active")
                .values(status="released", released_at=now)
                .returning(coupon_redemptions)
            )
        ).first()
        if released is not None:
            # Same lock order as redemption (customer counter, then the coupon row): no deadlocks.
            await conn.execute(
                coupon_customer_uses.update()
                .where(
                    coupon_customer_uses.c.code == released.code,
                    coupon_customer_uses.c.customer_id == released.customer_id,
                )
                .values(uses=coupon_customer_uses.c.uses - 1)
            )
            await conn.execute(
                coupons.update().where(coupons.c.code == released.code).values(times_used=coupons.c.times_used - 1)
            )
            return _redemption(released)
        tombstone = (
            await conn.execute(
                insert(coupon_redemptions)
                .values(idempotency_key=key, status="released", released_at=now)
                .on_conflict_do_nothing(index_elements=[coupon_redemptions.c.idempotency_key])
                .returning(coupon_redemptions)
            )
        ).first()
        if tombstone is not None:
            return _redemption(tombstone)
        # The key exists: already released, or a redemption committed meanwhile (then loop to release it).
        existing = await _existing_redemption(conn, key)
        if existing is not None and existing.status == "released":
            return existing
    raise Aborted("the redemption changed concurrently; retry", reason="CONCURRENT_REDEMPTION")
