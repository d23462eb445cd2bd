"""The pure cart rules: problems, limits, merging, pricing baselines and versions."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shop_cart import domain
from shop_cart.domain import (
    Cart,
    CouponState,
    CustomerContext,
    Draft,
    Limits,
    Line,
    LinePrice,
    ProblemKind,
    Quote,
    Sellability,
    VariantFacts,
)
from shopkit.errors import Aborted, FailedPrecondition, NotFound

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TTL = timedelta(minutes=15)
LIMITS = Limits(max_line_quantity=10, max_lines=3)


def facts(sku: str, sellability: Sellability = Sellability.SELLABLE) -> VariantFacts:
    return VariantFacts(sku, f"product-{sku}", f"Name {sku}", sellability)


def cart(*lines: tuple[str, int], coupon: str | None = None) -> Cart:
    empty = domain.new_cart(uuid.uuid4(), CustomerContext(channel="web", country="US", currency="USD"), NOW, TTL)
    result = replace(empty, coupon=CouponState(coupon) if coupon else None)
    for sku, quantity in lines:
        result = domain.add_line(result, facts(sku), quantity, 100, LIMITS, uuid.uuid4(), NOW).cart
    return result


def line(sku: str = "A", quantity: int = 1, **changes: object) -> Line:
    base = Line(uuid.uuid4(), sku, quantity, 1, "p", "n", Sellability.SELLABLE, True, 100, NOW)
    return replace(base, **changes)  # type: ignore[arg-type]


def kinds(item: Line) -> list[ProblemKind]:
    return [p.kind for p in domain.line_problems(item, "USD")]


def test_line_problems() -> None:
    price = LinePrice(1000, 1000, 0, 1000)
    assert kinds(line(price=price, shown_unit_price=1000)) == []
    assert kinds(line(price=price, available=0)) == [ProblemKind.OUT_OF_STOCK]
    assert kinds(line(quantity=3, price=price, available=2)) == [ProblemKind.INSUFFICIENT_STOCK]
    assert kinds(line(quantity=3, price=price, available=2, tracks_stock=False)) == []  # preorder / untracked
    assert kinds(line(quantity=3, price=price, available=None)) == []  # unknown: no claim
    assert kinds(line(sellability=Sellability.DISCONTINUED, price=price)) == [ProblemKind.DISCONTINUED]
    assert kinds(line(sellability=Sellability.NOT_SELLABLE)) == [
        ProblemKind.NOT_SELLABLE,
        ProblemKind.PRICE_UNAVAILABLE,
    ]
    changed = domain.line_problems(line(price=price, shown_unit_price=900), "USD")
    assert [(p.kind, p.blocking, p.previous_unit_price) for p in changed] == [(ProblemKind.PRICE_CHANGED, False, 900)]
    assert changed[0].message == "The price changed from 9.00 USD to 10.00 USD"
    assert domain.format_amount(1500, "JPY") == "1500 JPY"
    assert domain.format_amount(1234, "KWD") == "1.234 KWD"


def test_judge_variant() -> None:
    def judge(status: str, channels: tuple[str, ...] = ("web",), **kw: bool) -> VariantFacts:
        options = {"track_inventory": True, "allow_preorder": False, **kw}
        return domain.judge_variant(
            sku="A", product_id="p", name="n", product_status=status, channels=channels, channel="web", **options
        )

    assert judge("active").sellability is Sellability.SELLABLE
    assert judge("discontinued").sellability is Sellability.DISCONTINUED
    assert judge("draft").sellability is Sellability.NOT_SELLABLE
    assert judge("active", ("pos",)).why_not_sellable == "the product is not sold in channel web"
    assert not judge("active", allow_preorder=True).tracks_stock
    assert not judge("active", track_inventory=False).tracks_stock


def test_add_line_limits() -> None:
    base = cart(("A", 8), ("B", 1), ("C", 1))
    grown = domain.add_line(base, facts("A"), 2, None, LIMITS, uuid.uuid4(), NOW)
    assert grown.cart.line_for("A").quantity == 10  # type: ignore[union-attr]
    assert grown.line_id == base.line_for("A").line_id  # type: ignore[union-attr]
    assert grown.cart.line_for("A").available == 100  # type: ignore[union-attr]  # unknown now: kept
    with pytest.raises(FailedPrecondition) as raised:
        domain.add_line(base, facts("A"), 3, None, LIMITS, uuid.uuid4(), NOW)
    assert raised.value.reason == domain.QUANTITY_LIMIT_EXCEEDED
    with pytest.raises(FailedPrecondition) as raised:
        domain.add_line(base, facts("D"), 1, None, LIMITS, uuid.uuid4(), NOW)
    assert raised.value.reason == domain.TOO_MANY_LINES


def test_set_quantity_and_remove() -> None:
    base = cart(("A", 2), ("B", 1))
    a = base.line_for("A")
    assert a is not None
    removed = domain.set_quantity(base, a.line_id, 0, None, None, LIMITS)
    assert removed is not None and [x.sku for x in removed.cart.lines] == ["B"]
    assert domain.remove_line(removed.cart, a.line_id) is None
    with pytest.raises(NotFound):
        domain.set_quantity(base, uuid.uuid4(), 1, None, None, LIMITS)


def test_state_and_version_guards() -> None:
    base = cart()
    domain.require_writable(base, 0)
    domain.require_writable(base, base.version)
    with pytest.raises(Aborted):
        domain.require_writable(base, base.version + 1)
    with pytest.raises(FailedPrecondition) as raised:
        domain.require_active(replace(base, status=domain.CartStatus.ABANDONED))
    assert raised.value.reason == domain.CART_NOT_ACTIVE


def test_merge_sums_within_limits_and_keeps_the_first_coupon() -> None:
    target = cart(("A", 6), ("B", 1), coupon="MINE")
    guest = cart(("A", 7), ("C", 2), ("D", 1), coupon="THEIRS")
    ids = (uuid.UUID(int=n) for n in itertools.count(1))
    draft = domain.merge_into(target, guest, LIMITS, lambda: next(ids))
    assert [(x.sku, x.quantity) for x in draft.cart.lines] == [("A", 10), ("B", 1), ("C", 2)]
    assert [x.position for x in draft.cart.lines] == [1, 2, 3]
    assert draft.cart.lines[2].line_id == uuid.UUID(int=1)  # a new line, not the guest's
    assert draft.cart.coupon == CouponState("MINE")
    assert draft.acknowledged == {target.lines[0].line_id}
    assert domain.merge_into(cart(), guest, LIMITS, uuid.uuid4).cart.coupon == CouponState("THEIRS")


def test_pricing_sets_the_shown_price_once_and_again_for_acknowledged_lines() -> None:
    base = cart(("A", 1), ("B", 1))
    a, b = base.lines

    def quote(price: int) -> Quote:
        return Quote({"A": LinePrice(price, price, 0, price), "B": LinePrice(price, price, 0, price)}, 2 * price, 0, 0)

    first = domain.priced(Draft(base), quote(100), NOW, TTL)
    assert [x.shown_unit_price for x in first.lines] == [100, 100]
    second = domain.priced(Draft(first, frozenset({a.line_id})), quote(120), NOW, TTL)
    assert [x.shown_unit_price for x in second.lines] == [120, 100]
    assert [kinds(x) for x in second.lines] == [[], [ProblemKind.PRICE_CHANGED]]
    assert second.pricing.expires_at == NOW + TTL
    assert b.line_id == second.lines[1].line_id


def test_coupon_outcomes() -> None:
    empty = cart(coupon="CODE")
    usable = domain.priced(Draft(empty), Quote({}, 0, 0, 0, CouponState("CODE", False, "NOT_APPLICABLE")), NOW, TTL)
    assert usable.coupon == CouponState("CODE", False, domain.CART_EMPTY, usable.coupon.description)  # type: ignore[union-attr]
    dead = domain.priced(Draft(empty), Quote({}, 0, 0, 0, CouponState("CODE", False, "EXPIRED")), NOW, TTL)
    assert dead.coupon is not None and dead.coupon.unusable
    assert domain.drop_unusable_coupon(dead).coupon is None
    assert domain.set_coupon(empty, "CODE") is None
    assert domain.normalise_code("  welcome10 ") == "WELCOME10"


def test_the_version_moves_only_with_visible_changes() -> None:
    before = replace(cart(("A", 1)), version=4)
    later = NOW + timedelta(minutes=1)
    same = domain.stamped(
        before, replace(before, pricing=replace(before.pricing, priced_at=later)), later, activity=False
    )
    assert (same.version, same.updated_at, same.last_activity_at) == (4, later, before.last_activity_at)
    grown = domain.stamped(before, replace(before, lines=(replace(before.lines[0], quantity=2),)), later, activity=True)
    assert (grown.version, grown.last_activity_at) == (5, later)
    # A different availability figure that changes no problem is not a change.
    restocked = replace(before, lines=(replace(before.lines[0], available=99),))
    assert domain.stamped(before, restocked, later, activity=False).version == 4


def test_check_out_transitions() -> None:
    active = cart(("A", 1))
    done = domain.checked_out(active, "co-1", "o-1", NOW)
    assert done is not None and done.status is domain.CartStatus.CHECKED_OUT and done.version == active.version + 1
    assert domain.checked_out(done, "co-1", "o-1", NOW) is None
    with pytest.raises(FailedPrecondition) as raised:
        domain.checked_out(done, "co-2", "o-2", NOW)
    assert raised.value.reason == domain.CART_ALREADY_CHECKED_OUT
    abandoned = replace(active, status=domain.CartStatus.ABANDONED)
    assert domain.checked_out(abandoned, "co-3", "o-3", NOW) is not None
    merged = domain.merged(active, uuid.uuid4(), NOW)
    with pytest.raises(FailedPrecondition):
        domain.checked_out(merged, "co-4", "o-4", NOW)
    assert domain.needs_repricing(active, NOW + TTL) and not domain.needs_repricing(cart(), NOW + TTL)
