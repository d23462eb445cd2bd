"""Promotions, coupons and the totals of a quote.

Rules (deterministic, no stacking surprises):
- Candidates are the automatic promotions in force plus the promotion of the request's coupon
  (when the coupon is usable). A promotion is in force when it is active and its window
  [valid_from, valid_to) contains now.
- A promotion is eligible when its money fields (amount_off, min_spend) are in the quote's currency
  and the subtotal (unit prices x quantities, before any promotion) reaches min_spend.
- Line phase: each line gets at most one PRODUCTS promotion, the one giving the largest discount
  (ties: lower promotion id). Percent: percent_of(line subtotal, bp); amount: amount_off per unit,
  capped at the line subtotal.
- Order phase: at most one ORDER promotion, the largest, computed on the subtotal after line
  discounts. Percent: percent_of(remaining, bp); amount: amount_off, capped at what remains.
- Percentages round half away from zero (`shopkit.money.percent_of`); totals never go negative.
- An empty basket (a coupon checked on its own) has a zero subtotal: a usable coupon is then
  MIN_SPEND_NOT_MET when its promotion has a minimum spend, else NOT_APPLICABLE.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shop_pricing.domain.currency import format_money
from shop_pricing.domain.selection import SelectedPrice, window_contains
from shopkit.money import Money, percent_of


class DiscountKind(StrEnum):
    PERCENT = "percent"
    AMOUNT = "amount"


class DiscountTarget(StrEnum):
    ORDER = "order"
    PRODUCTS = "products"


class CouponProblem(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INACTIVE = "INACTIVE"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"
    USAGE_LIMIT_REACHED = "USAGE_LIMIT_REACHED"
    CUSTOMER_LIMIT_REACHED = "CUSTOMER_LIMIT_REACHED"
    MIN_SPEND_NOT_MET = "MIN_SPEND_NOT_MET"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    NOT_BEST = "NOT_BEST"


COUPON_PROBLEM_TEXT = {
    CouponProblem.NOT_FOUND: "no such coupon",
    CouponProblem.INACTIVE: "the coupon or its promotion is not active",
    CouponProblem.NOT_YET_VALID: "the promotion has not started yet",
    CouponProblem.EXPIRED: "the promotion has ended",
    CouponProblem.USAGE_LIMIT_REACHED: "the coupon has been used as often as it may be",
    CouponProblem.CUSTOMER_LIMIT_REACHED: "this customer has used the coupon as often as allowed",
    CouponProblem.MIN_SPEND_NOT_MET: "the order does not reach the promotion's minimum spend",
    CouponProblem.CURRENCY_MISMATCH: "the promotion is defined in another currency",
    CouponProblem.NOT_APPLICABLE: "none of the promotion's products is in the order",
    CouponProblem.NOT_BEST: "another promotion gives a larger discount",
}


@dataclass(frozen=True, slots=True)
class Promotion:
    id: str
    name: str
    kind: DiscountKind
    target: DiscountTarget
    percent_bp: int = 0
    amount_off: Money | None = None
    skus: frozenset[str] = frozenset()
    min_spend: Money | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    automatic: bool = False
    active: bool = True

    def availability(self, now: datetime) -> CouponProblem | None:
        """Why the promotion cannot be used right now, or None when it can."""
        if not self.active:
            return CouponProblem.INACTIVE
        if self.valid_from is not None and now < self.valid_from:
            return CouponProblem.NOT_YET_VALID
        if not window_contains(self.valid_from, self.valid_to, now):
            return CouponProblem.EXPIRED
        return None

    def eligibility(self, subtotal: Money) -> CouponProblem | None:
        """Why the promotion does not apply to a basket with this subtotal, or None."""
        for money in (self.amount_off, self.min_spend):
            if money is not None and money.currency != subtotal.currency:
                return CouponProblem.CURRENCY_MISMATCH
        if self.min_spend is not None and subtotal.amount < self.min_spend.amount:
            return CouponProblem.MIN_SPEND_NOT_MET
        return None

    def describe(self) -> str:
        if self.kind is DiscountKind.PERCENT:
            whole, rest = divmod(self.percent_bp, 100)
            text = f"{whole}.{rest:02d}".rstrip("0").rstrip(".") + "% off"
        else:
            assert self.amount_off is not None
            text = f"{format_money(self.amount_off.amount, self.amount_off.currency)} off"
            if self.target is DiscountTarget.PRODUCTS:
                text += " per unit"
        return text + (" selected products" if self.target is DiscountTarget.PRODUCTS else " the order")


@dataclass(frozen=True, slots=True)
class Coupon:
    code: str
    promotion_id: str
    usage_limit_total: int = 0  # 0: unlimited
    usage_limit_per_customer: int = 0  # 0: unlimited
    times_used: int = 0
    active: bool = True


def normalise_code(code: str) -> str:
    """Coupon codes compare case-insensitively; they are stored upper-case."""
    return code.strip().upper()


def coupon_problem(
    coupon: Coupon | None, promotion: Promotion | None, customer_uses: int, now: datetime
) -> CouponProblem | None:
    """Why a coupon cannot be used by this customer now (before looking at the basket), or None."""
    if coupon is None or promotion is None:
        return CouponProblem.NOT_FOUND
    if not coupon.active:
        return CouponProblem.INACTIVE
    problem = promotion.availability(now)
    if problem is not None:
        return problem
    if coupon.usage_limit_total and coupon.times_used >= coupon.usage_limit_total:
        return CouponProblem.USAGE_LIMIT_REACHED
    if coupon.usage_limit_per_customer and customer_uses >= coupon.usage_limit_per_customer:
        return CouponProblem.CUSTOMER_LIMIT_REACHED
    return None


@dataclass(frozen=True, slots=True)
class PricedLine:
    index: int  # position in the request
    price: SelectedPrice
    quantity: int

    @property
    def subtotal(self) -> Money:
        return self.price.unit_price.times(self.quantity)


@dataclass(frozen=True, slots=True)
class Discount:
    promotion: Promotion
    amount: Money
    coupon_code: str = ""


@dataclass(frozen=True, slots=True)
class QuotedLine:
    line: PricedLine
    discount: Discount | None

    @property
    def discount_amount(self) -> Money:
        return self.discount.amount if self.discount else Money.zero(self.line.subtotal.currency)

    @property
    def total(self) -> Money:
        return self.line.subtotal - self.discount_amount


@dataclass(frozen=True, slots=True)
class CouponOutcome:
    code: str
    problem: CouponProblem | None  # None: applied
    discount: Money  # what the coupon's promotion took off (0 when not applied)
    missing_spend: Money | None = None  # MIN_SPEND_NOT_MET: how much more the basket needs

    @property
    def applied(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        if self.problem is None:
            return "applied"
        if self.missing_spend is not None:
            return (
                f"spend {format_money(self.missing_spend.amount, self.missing_spend.currency)} more to use this coupon"
            )
        return COUPON_PROBLEM_TEXT[self.problem]


@dataclass(frozen=True)
class QuoteTotals:
    currency: str
    lines: list[QuotedLine]
    order_discounts: list[Discount] = field(default_factory=list)
    coupon: CouponOutcome | None = None

    @property
    def subtotal(self) -> Money:
        return sum((line.line.subtotal for line in self.lines), Money.zero(self.currency))

    @property
    def discount_total(self) -> Money:
        line_discounts = sum((line.discount_amount for line in self.lines), Money.zero(self.currency))
        return sum((d.amount for d in self.order_discounts), line_discounts)

    @property
    def total(self) -> Money:
        return self.subtotal - self.discount_total


@dataclass(frozen=True, slots=True)
class CouponCandidate:
    """The request's coupon as looked up, with what the customer already used of it."""

    code: str
    coupon: Coupon | None
    promotion: Promotion | None
    customer_uses: int = 0


def _line_discount(promotion: Promotion, line: PricedLine) -> int:
    subtotal = line.subtotal.amount
    if promotion.kind is DiscountKind.PERCENT:
        return min(subtotal, percent_of(subtotal, promotion.percent_bp))
    assert promotion.amount_off is not None
    return min(subtotal, promotion.amount_off.amount * line.quantity)


def _order_discount(promotion: Promotion, remaining: int) -> int:
    if promotion.kind is DiscountKind.PERCENT:
        return min(remaining, percent_of(remaining, promotion.percent_bp))
    assert promotion.amount_off is not None
    return min(remaining, promotion.amount_off.amount)


def _best(offers: Iterable[tuple[int, Promotion, str]]) -> tuple[int, Promotion, str] | None:
    """The largest positive discount; ties go to the lower promotion id."""
    ranked = sorted((offer for offer in offers if offer[0] > 0), key=lambda o: (-o[0], o[1].id))
    return ranked[0] if ranked else None


def apply_promotions(
    currency: str,
    lines: list[PricedLine],
    automatic: Iterable[Promotion],
    coupon: CouponCandidate | None,
    now: datetime,
) -> QuoteTotals:
    """Line and order discounts for a priced basket (see the module doc for the rules)."""
    subtotal = sum((line.subtotal for line in lines), Money.zero(currency))
    offers: list[tuple[Promotion, str]] = [
        (promotion, "")
        for promotion in automatic
        if promotion.automatic and promotion.availability(now) is None and promotion.eligibility(subtotal) is None
    ]
    coupon_issue: CouponProblem | None = None
    if coupon is not None:
        coupon_issue = coupon_problem(coupon.coupon, coupon.promotion, coupon.customer_uses, now)
        if coupon_issue is None:
            assert coupon.promotion is not None
            coupon_issue = coupon.promotion.eligibility(subtotal)
        if coupon_issue is None:
            assert coupon.promotion is not None
            offers.append((coupon.promotion, coupon.code))

    quoted: list[QuotedLine] = []
    for line in lines:
        best = _best(
            (_line_discount(promotion, line), promotion, code)
            for promotion, code in offers
            if promotion.target is DiscountTarget.PRODUCTS and line.price.sku in promotion.skus
        )
        discount = Discount(best[1], Money(best[0], currency), best[2]) if best else None
        quoted.append(QuotedLine(line, discount))

    remaining = subtotal.amount - sum(q.discount_amount.amount for q in quoted)
    best_order = _best(
        (_order_discount(promotion, remaining), promotion, code)
        for promotion, code in offers
        if promotion.target is DiscountTarget.ORDER
    )
    order_discounts = [Discount(best_order[1], Money(best_order[0], currency), best_order[2])] if best_order else []

    outcome = None
    if coupon is not None:
        given = [d for d in [*(q.discount for q in quoted), *order_discounts] if d is not None and d.coupon_code]
        coupon_discount = sum((d.amount for d in given), Money.zero(currency))
        if coupon_issue is None and not given:
            coupon_issue = _why_unused(coupon, quoted)
        missing = None
        if coupon_issue is CouponProblem.MIN_SPEND_NOT_MET and coupon.promotion and coupon.promotion.min_spend:
            missing = coupon.promotion.min_spend - subtotal
        outcome = CouponOutcome(coupon.code, coupon_issue, coupon_discount, missing)
    return QuoteTotals(currency, quoted, order_discounts, outcome)


def _why_unused(coupon: CouponCandidate, quoted: list[QuotedLine]) -> CouponProblem:
    promotion = coupon.promotion
    assert promotion is not None
    if promotion.target is DiscountTarget.PRODUCTS and not any(q.line.price.sku in promotion.skus for q in quoted):
        return CouponProblem.NOT_APPLICABLE
    if not quoted or all(q.total.amount == 0 for q in quoted):
        return CouponProblem.NOT_APPLICABLE
    return CouponProblem.NOT_BEST
