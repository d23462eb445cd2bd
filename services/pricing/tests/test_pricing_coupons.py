"""Coupon redemption for checkout: limits hold under concurrency, idempotency by key, release."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from nats.js import JetStreamContext

from shop.common.v1 import common_pb2
from shop.pricing.v1 import events_pb2
from shop.pricing.v1 import pricing_pb2 as pb
from shop_pricing.store.tables import coupon_customer_uses, coupons
from shopkit import events as kit_events
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error

ADMIN = metadata_for("admin")
CHECKOUT = metadata_for("service")
CUSTOMER = metadata_for("customer", customer_id="c-1")


async def error_of(call: Any) -> RpcErrorInfo:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return parse_rpc_error(raised.value)


async def make_coupon(
    stub: Any, unique: str, *, total: int = 0, per_customer: int = 0, valid_to: datetime | None = None
) -> str:
    promotion = pb.Promotion(
        id=f"{unique}-promo",
        name="Ten",
        kind=pb.DISCOUNT_KIND_PERCENT,
        percent_bp=1000,
        target=pb.DISCOUNT_TARGET_ORDER,
        active=True,
    )
    if valid_to is not None:
        promotion.valid_from.FromDatetime(valid_to - timedelta(days=10))
        promotion.valid_to.FromDatetime(valid_to)
    await stub.CreatePromotion(pb.CreatePromotionRequest(promotion=promotion), metadata=ADMIN)
    code = f"C-{unique}".upper()
    await stub.CreateCoupon(
        pb.CreateCouponRequest(
            coupon=pb.Coupon(
                code=code,
                promotion_id=promotion.id,
                usage_limit_total=total,
                usage_limit_per_customer=per_customer,
                active=True,
            )
        ),
        metadata=ADMIN,
    )
    return code


async def redeem(stub: Any, code: str, customer: str, key: str) -> pb.RedeemCouponResponse | RpcErrorInfo:
    try:
        response: pb.RedeemCouponResponse = await stub.RedeemCoupon(
            pb.RedeemCouponRequest(code=code, customer_id=customer, idempotency_key=key), metadata=CHECKOUT
        )
        return response
    except grpc.aio.AioRpcError as error:
        return parse_rpc_error(error)


async def times_used(stub: Any, code: str) -> int:
    return int((await stub.GetCoupon(pb.GetCouponRequest(code=code), metadata=ADMIN)).coupon.times_used)


async def test_fifty_concurrent_redemptions_of_a_coupon_limited_to_ten(pricing: Any, unique: str) -> None:
    code = await make_coupon(pricing.stub, unique, total=10)
    outcomes = await asyncio.gather(
        *(redeem(pricing.stub, code, f"{unique}-cust-{i}", f"{unique}-order-{i}") for i in range(50))
    )
    won = [o for o in outcomes if isinstance(o, pb.RedeemCouponResponse)]
    lost = [o for o in outcomes if isinstance(o, RpcErrorInfo)]
    assert len(won) == 10 and len(lost) == 40
    assert {(e.code, e.reason) for e in lost} == {(grpc.StatusCode.FAILED_PRECONDITION, "COUPON_USAGE_LIMIT_REACHED")}
    assert await times_used(pricing.stub, code) == 10
    async with pricing.runtime.db.connect() as conn:
        counters = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.sum(coupon_customer_uses.c.uses)).where(
                    coupon_customer_uses.c.code == code
                )
            )
        ).one()
    assert tuple(counters) == (10, 10)  # the losers' counter rows were rolled back


async def test_concurrent_attempts_of_one_customer_with_a_limit_of_one(pricing: Any, unique: str) -> None:
    code = await make_coupon(pricing.stub, unique, per_customer=1)
    outcomes = await asyncio.gather(
        *(redeem(pricing.stub, code, f"{unique}-same", f"{unique}-checkout-{i}") for i in range(20))
    )
    won = [o for o in outcomes if isinstance(o, pb.RedeemCouponResponse)]
    lost = [o for o in outcomes if isinstance(o, RpcErrorInfo)]
    assert len(won) == 1
    assert {e.reason for e in lost} == {"COUPON_CUSTOMER_LIMIT_REACHED"}
    assert await times_used(pricing.stub, code) == 1
    other = await redeem(pricing.stub, code, f"{unique}-other", f"{unique}-checkout-other")
    assert isinstance(other, pb.RedeemCouponResponse)  # the limit is per customer


async def test_redemption_is_idempotent_by_key_even_when_concurrent(
    pricing: Any, unique: str, js: JetStreamContext
) -> None:
    code = await make_coupon(pricing.stub, unique, total=100)
    key = f"{unique}-order"
    outcomes = await asyncio.gather(*(redeem(pricing.stub, code, "c-1", key) for _ in range(10)))
    assert all(isinstance(o, pb.RedeemCouponResponse) for o in outcomes)
    redemptions = {o.redemption.SerializeToString() for o in outcomes if isinstance(o, pb.RedeemCouponResponse)}
    assert len(redemptions) == 1
    assert await times_used(pricing.stub, code) == 1

    reused = await redeem(pricing.stub, code, "c-2", key)
    assert isinstance(reused, RpcErrorInfo)
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")

    # One coupon_redeemed event for the one redemption.
    sub = await js.pull_subscribe("shop.pricing.coupon_redeemed", stream=kit_events.stream_name("pricing"))
    found: list[events_pb2.CouponRedeemed] = []
    for _ in range(20):
        try:
            batch = await sub.fetch(500, timeout=0.5)
        except TimeoutError:
            if found:
                break
            continue
        found += [e for e in (events_pb2.CouponRedeemed.FromString(m.data) for m in batch) if e.idempotency_key == key]
    assert [(e.code, e.customer_id, e.promotion_id) for e in found] == [(code, "c-1", f"{unique}-promo")]


async def test_release_gives_the_use_back_and_is_idempotent(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    code = await make_coupon(stub, unique, total=1, per_customer=1)
    key = f"{unique}-order"
    assert isinstance(await redeem(stub, code, "c-1", key), pb.RedeemCouponResponse)
    used_up = await redeem(stub, code, "c-2", f"{unique}-order-2")
    assert isinstance(used_up, RpcErrorInfo) and used_up.reason == "COUPON_USAGE_LIMIT_REACHED"

    for _ in range(2):
        released = await stub.ReleaseCouponRedemption(
            pb.ReleaseCouponRedemptionRequest(idempotency_key=key), metadata=CHECKOUT
        )
        assert released.redemption.status == pb.REDEMPTION_STATUS_RELEASED
        assert released.redemption.code == code
    assert await times_used(stub, code) == 0
    async with pricing.runtime.db.connect() as conn:
        uses = (
            await conn.execute(
                sa.select(coupon_customer_uses.c.uses).where(
                    coupon_customer_uses.c.code == code, coupon_customer_uses.c.customer_id == "c-1"
                )
            )
        ).scalar_one()
    assert uses == 0

    again = await redeem(stub, code, "c-1", key)  # a released key stays released
    assert isinstance(again, RpcErrorInfo) and again.reason == "COUPON_REDEMPTION_RELEASED"
    assert isinstance(await redeem(stub, code, "c-1", f"{unique}-order-3"), pb.RedeemCouponResponse)

    # Compensation that overtakes its redemption: the late redemption must not consume a use.
    early = await stub.ReleaseCouponRedemption(
        pb.ReleaseCouponRedemptionRequest(idempotency_key=f"{unique}-never"), metadata=CHECKOUT
    )
    assert early.redemption.status == pb.REDEMPTION_STATUS_RELEASED and early.redemption.code == ""
    late = await redeem(stub, code, "c-9", f"{unique}-never")
    assert isinstance(late, RpcErrorInfo) and late.reason == "COUPON_REDEMPTION_RELEASED"


async def test_redeem_refuses_unknown_expired_and_malformed_coupons(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    missing = await redeem(stub, f"NOPE-{unique}", "c-1", f"{unique}-k1")
    assert isinstance(missing, RpcErrorInfo) and missing.code == grpc.StatusCode.NOT_FOUND

    expired = await make_coupon(stub, unique, valid_to=datetime.now(UTC) - timedelta(days=1))
    outcome = await redeem(stub, expired, "c-1", f"{unique}-k2")
    assert isinstance(outcome, RpcErrorInfo)
    assert (outcome.code, outcome.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "COUPON_EXPIRED")

    error = await error_of(
        stub.RedeemCoupon(pb.RedeemCouponRequest(code="!", customer_id="", idempotency_key=""), metadata=CHECKOUT)
    )
    assert {v.field for v in error.violations} == {"code", "customer_id", "idempotency_key"}
    async with pricing.runtime.db.connect() as conn:
        used = (await conn.execute(sa.select(coupons.c.times_used).where(coupons.c.code == expired))).scalar_one()
    assert used == 0


async def test_quote_reports_an_exhausted_coupon(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    sku = f"{unique}-S"
    await stub.SetBasePrices(
        pb.SetBasePricesRequest(prices=[pb.BasePrice(sku=sku, price=common_pb2.Money(amount=1000, currency="USD"))]),
        metadata=ADMIN,
    )
    code = await make_coupon(stub, unique, total=1, per_customer=1)

    async def quote(customer: str) -> pb.QuoteResponse:
        response: pb.QuoteResponse = await stub.Quote(
            pb.QuoteRequest(
                lines=[pb.QuoteLine(sku=sku, quantity=1)],
                coupon_code=code.lower(),
                context=common_pb2.CustomerContext(customer_id=customer),
            ),
            metadata=CUSTOMER,
        )
        return response

    fresh = await quote("c-1")
    assert fresh.coupon.applied and fresh.total.amount == 900
    assert isinstance(await redeem(stub, code, "c-1", f"{unique}-order"), pb.RedeemCouponResponse)
    same_customer = await quote("c-1")
    assert (same_customer.coupon.applied, same_customer.coupon.reason) == (False, "USAGE_LIMIT_REACHED")
    assert same_customer.total.amount == 1000


async def test_quote_without_lines_checks_only_the_coupon(pricing: Any, unique: str) -> None:
    stub = pricing.stub
    usable = await make_coupon(stub, unique)
    exhausted = await make_coupon(stub, f"{unique}-x", total=1)
    assert isinstance(await redeem(stub, exhausted, "c-1", f"{unique}-order"), pb.RedeemCouponResponse)

    async def check(code: str) -> pb.QuoteResponse:
        request = pb.QuoteRequest(coupon_code=code, context=common_pb2.CustomerContext(customer_id="c-2"))
        response: pb.QuoteResponse = await stub.Quote(request, metadata=CUSTOMER)
        return response

    empty = await check(usable.lower())
    assert (empty.coupon.code, empty.coupon.applied, empty.coupon.reason) == (usable, False, "NOT_APPLICABLE")
    assert (list(empty.lines), list(empty.problems), empty.total.amount, empty.subtotal.amount) == ([], [], 0, 0)
    assert (await check(exhausted)).coupon.reason == "USAGE_LIMIT_REACHED"
    assert (await check("NO-SUCH-CODE")).coupon.reason == "NOT_FOUND"

    error = await error_of(stub.Quote(pb.QuoteRequest(), metadata=CUSTOMER))
    assert [(v.field, v.description) for v in error.violations] == [
        ("lines", "must contain at least one line unless coupon_code is given")
    ]
