"""Protobuf <-> domain for the API layer: request validation (every problem at once) and responses.

Validation helpers add to a `Violations` under the request's field paths (`lines[3].sku`); the
servicer raises them together before touching the database, so bad input changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from google.protobuf.timestamp_pb2 import Timestamp

from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2
from shop_pricing.domain.currency import ExchangeRate, format_rate, parse_rate
from shop_pricing.domain.dynamic import FULL_BP, DynamicRule
from shop_pricing.domain.promotions import (
    Coupon,
    DiscountKind,
    DiscountTarget,
    Promotion,
    QuoteTotals,
    normalise_code,
)
from shop_pricing.domain.selection import (
    CustomerScope,
    EntryTier,
    ListKind,
    ListScope,
    PriceListHeader,
    PriceSource,
    SelectedPrice,
)
from shop_pricing.events import CAUSES
from shop_pricing.store.prices import AuditedChange, PriceListRecord, RateRecord
from shop_pricing.store.promotions import CouponRecord, PromotionRecord, Redemption
from shop_pricing.store.tables import COUPON_PATTERN, ID_PATTERN
from shopkit import identifiers
from shopkit.errors import Violations
from shopkit.money import Money, is_currency

MAX_QUANTITY = 1_000_000
MAX_TIERS = 100
MAX_TEXT = 200
_ID = re.compile(ID_PATTERN)
_COUPON = re.compile(COUPON_PATTERN)

KINDS = {pricing_pb2.PRICE_LIST_KIND_SALE: ListKind.SALE, pricing_pb2.PRICE_LIST_KIND_OVERRIDE: ListKind.OVERRIDE}
KINDS_PB = {value: key for key, value in KINDS.items()}
DISCOUNT_KINDS = {
    pricing_pb2.DISCOUNT_KIND_PERCENT: DiscountKind.PERCENT,
    pricing_pb2.DISCOUNT_KIND_AMOUNT: DiscountKind.AMOUNT,
}
DISCOUNT_KINDS_PB = {value: key for key, value in DISCOUNT_KINDS.items()}
TARGETS = {
    pricing_pb2.DISCOUNT_TARGET_ORDER: DiscountTarget.ORDER,
    pricing_pb2.DISCOUNT_TARGET_PRODUCTS: DiscountTarget.PRODUCTS,
}
TARGETS_PB = {value: key for key, value in TARGETS.items()}


# ------------------------------------------------------------------------------------------------
# Small pieces


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def optional_time(message: object, field: str) -> datetime | None:
    """The timestamp in `message.field` as an aware datetime, None when unset."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def money(amount: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency=currency)


def check_id(value: str, field: str, violations: Violations) -> None:
    violations.check(
        bool(_ID.match(value)),
        field,
        "must be 1-64 of lower-case letters, digits, '.', '_', '-', starting with a letter or digit",
    )


def check_name(value: str, field: str, violations: Violations) -> None:
    violations.check(0 < len(value.strip()) <= MAX_TEXT, field, f"must be 1-{MAX_TEXT} characters")


def check_window(valid_from: datetime | None, valid_to: datetime | None, field: str, violations: Violations) -> None:
    violations.check(
        valid_from is None or valid_to is None or valid_to > valid_from, f"{field}.valid_to", "must be after valid_from"
    )


def check_skus(
    skus: Sequence[str], field: str, violations: Violations, *, maximum: int = 1000, required: bool = True
) -> None:
    if required:
        violations.check(len(skus) > 0, field, "must name at least one SKU")
    violations.check(len(skus) <= maximum, field, f"must name at most {maximum} SKUs")
    seen: set[str] = set()
    for index, sku in enumerate(skus):
        identifiers.check_sku(violations, sku, f"{field}[{index}]")
        violations.check(sku not in seen, f"{field}[{index}]", "is listed twice")
        seen.add(sku)


def customer_scope(
    context: common_pb2.CustomerContext, default_currency: str, violations: Violations, field: str = "context"
) -> CustomerScope:
    currency = context.currency or default_currency
    violations.check(is_currency(currency), f"{field}.currency", "must be an ISO-4217 code like USD")
    violations.check(
        not context.country or bool(identifiers.COUNTRY.match(context.country)),
        f"{field}.country",
        "must be an ISO-3166-1 alpha-2 code like DE",
    )
    for name in ("customer_id", "customer_group", "account_id", "channel"):
        violations.check(
            len(getattr(context, name)) <= MAX_TEXT, f"{field}.{name}", f"must be at most {MAX_TEXT} characters"
        )
    return CustomerScope(
        currency=currency,
        customer_group=context.customer_group,
        account_id=context.account_id,
        channel=context.channel,
        country=context.country,
        customer_id=context.customer_id,
    )


def quantities(
    items: Sequence[tuple[str, int]],
    field: str,
    violations: Violations,
    max_lines: int,
    *,
    zero_means_one: bool,
    empty: str = "must contain at least one line",
) -> list[tuple[str, int]]:
    """Validated (sku, quantity) pairs; quantity 0 becomes 1 when `zero_means_one`. No items is the
    violation `empty`, unless `empty` is "" (the caller allows an empty list)."""
    violations.check(len(items) > 0 or not empty, field, empty)
    violations.check(len(items) <= max_lines, field, f"must contain at most {max_lines} lines")
    result = []
    for index, (sku, quantity) in enumerate(items):
        identifiers.check_sku(violations, sku, f"{field}[{index}].sku")
        if zero_means_one and quantity == 0:
            quantity = 1
        violations.check(
            1 <= quantity <= MAX_QUANTITY, f"{field}[{index}].quantity", f"must be between 1 and {MAX_QUANTITY}"
        )
        result.append((sku, quantity))
    return result


# ------------------------------------------------------------------------------------------------
# Prices


def reason(price: SelectedPrice) -> pricing_pb2.PriceReason:
    message = pricing_pb2.PriceReason(description=price.describe())
    if price.source is PriceSource.PRICE_LIST and price.price_list is not None:
        message.source = pricing_pb2.PRICE_SOURCE_PRICE_LIST
        message.price_list_id = price.price_list.id
        message.price_list_name = price.price_list.name
        message.price_list_kind = KINDS_PB[price.price_list.kind]
        message.tier_min_quantity = price.tier_min_quantity
    else:
        message.source = pricing_pb2.PRICE_SOURCE_BASE
    conversion = price.base.conversion
    if conversion is not None:
        message.converted = True
        message.converted_from_currency = conversion.source
        message.rate = conversion.text
    return message


def price_to_pb(price: SelectedPrice) -> pricing_pb2.Price:
    return pricing_pb2.Price(
        sku=price.sku,
        quantity=price.quantity,
        unit_price=price.unit_price.to_proto(),
        original_price=price.original_price.to_proto(),
        reason=reason(price),
    )


def no_price_problem(field: str, sku: str, currency: str, reference_currency: str) -> pricing_pb2.LineProblem:
    text = f"no base price in {currency}"
    if currency != reference_currency:
        text += f" and none in {reference_currency} to convert (or no {reference_currency}->{currency} rate)"
    return pricing_pb2.LineProblem(field=field, sku=sku, code="NO_PRICE", description=text)


def base_prices(
    request: pricing_pb2.SetBasePricesRequest, violations: Violations, maximum: int
) -> list[tuple[str, str, int]]:
    violations.check(len(request.prices) > 0, "prices", "must contain at least one price")
    violations.check(len(request.prices) <= maximum, "prices", f"must contain at most {maximum} prices")
    seen: set[tuple[str, str]] = set()
    result = []
    for index, item in enumerate(request.prices):
        field = f"prices[{index}]"
        identifiers.check_sku(violations, item.sku, f"{field}.sku")
        violations.check(item.HasField("price"), f"{field}.price", "is required")
        price = Money.from_proto(item.price, f"{field}.price", violations)
        key = (item.sku, price.currency)
        violations.check(key not in seen, field, "sets the same SKU and currency twice")
        seen.add(key)
        result.append((item.sku, price.currency, price.amount))
    return result


# ------------------------------------------------------------------------------------------------
# Price lists


def price_list_header(
    message: pricing_pb2.PriceList, violations: Violations, field: str = "price_list"
) -> PriceListHeader:
    check_id(message.id, f"{field}.id", violations)
    check_name(message.name, f"{field}.name", violations)
    kind = KINDS.get(message.kind)
    violations.check(kind is not None, f"{field}.kind", "must be PRICE_LIST_KIND_SALE or PRICE_LIST_KIND_OVERRIDE")
    scope = message.scope
    violations.check(
        not scope.currency or is_currency(scope.currency),
        f"{field}.scope.currency",
        "must be empty or an ISO-4217 code like USD",
    )
    violations.check(
        not scope.country or bool(identifiers.COUNTRY.match(scope.country)),
        f"{field}.scope.country",
        "must be empty or an ISO-3166-1 alpha-2 code like DE",
    )
    for name in ("account_id", "customer_group", "channel"):
        violations.check(
            len(getattr(scope, name)) <= MAX_TEXT, f"{field}.scope.{name}", f"must be at most {MAX_TEXT} characters"
        )
    valid_from, valid_to = optional_time(message, "valid_from"), optional_time(message, "valid_to")
    check_window(valid_from, valid_to, field, violations)
    return PriceListHeader(
        id=message.id,
        name=message.name.strip(),
        kind=kind or ListKind.OVERRIDE,
        scope=ListScope(scope.account_id, scope.customer_group, scope.channel, scope.country, scope.currency),
        priority=message.priority,
        valid_from=valid_from,
        valid_to=valid_to,
        active=message.active,
    )


def price_list_to_pb(record: PriceListRecord) -> pricing_pb2.PriceList:
    header = record.header
    scope = header.scope
    return pricing_pb2.PriceList(
        id=header.id,
        name=header.name,
        kind=KINDS_PB[header.kind],
        scope=pricing_pb2.PriceListScope(
            account_id=scope.account_id,
            customer_group=scope.customer_group,
            channel=scope.channel,
            country=scope.country,
            currency=scope.currency,
        ),
        valid_from=timestamp(header.valid_from),
        valid_to=timestamp(header.valid_to),
        priority=header.priority,
        active=header.active,
        created_at=timestamp(record.created_at),
        updated_at=timestamp(record.updated_at),
    )


def entry_tiers(
    entries: Sequence[pricing_pb2.PriceListEntry],
    violations: Violations,
    maximum: int,
    field: str = "entries",
    *,
    required: bool = True,
) -> list[EntryTier]:
    """Validated tiers of `entries`; each SKU at most once, (currency, min_quantity) unique per SKU."""
    if required:
        violations.check(len(entries) > 0, field, "must contain at least one entry")
    violations.check(len(entries) <= maximum, field, f"must contain at most {maximum} entries")
    skus: set[str] = set()
    tiers = []
    for index, entry in enumerate(entries):
        path = f"{field}[{index}]"
        identifiers.check_sku(violations, entry.sku, f"{path}.sku")
        violations.check(entry.sku not in skus, f"{path}.sku", "is listed twice")
        skus.add(entry.sku)
        violations.check(0 < len(entry.tiers) <= MAX_TIERS, f"{path}.tiers", f"must contain 1-{MAX_TIERS} tiers")
        keys: set[tuple[str, int]] = set()
        for tier_index, tier in enumerate(entry.tiers):
            tier_path = f"{path}.tiers[{tier_index}]"
            violations.check(
                1 <= tier.min_quantity <= MAX_QUANTITY,
                f"{tier_path}.min_quantity",
                f"must be between 1 and {MAX_QUANTITY}",
            )
            violations.check(tier.HasField("unit_price"), f"{tier_path}.unit_price", "is required")
            price = Money.from_proto(tier.unit_price, f"{tier_path}.unit_price", violations)
            key = (price.currency, tier.min_quantity)
            violations.check(key not in keys, tier_path, "repeats a currency and min_quantity")
            keys.add(key)
            tiers.append(EntryTier(entry.sku, price.currency, tier.min_quantity, price.amount))
    return tiers


def check_entry_currencies(
    tiers: Sequence[EntryTier],
    entries: Sequence[pricing_pb2.PriceListEntry],
    list_currency: str,
    violations: Violations,
    field: str = "entries",
) -> None:
    """A list scoped to a currency only holds prices in that currency."""
    if not list_currency:
        return
    index_of = {entry.sku: index for index, entry in enumerate(entries)}
    for tier in tiers:
        if tier.currency != list_currency:
            violations.add(
                f"{field}[{index_of[tier.sku]}].tiers",
                f"the price list is scoped to {list_currency}; prices must be in it",
            )
            return


def entries_to_pb(tiers: Sequence[EntryTier]) -> list[pricing_pb2.PriceListEntry]:
    by_sku: dict[str, pricing_pb2.PriceListEntry] = {}
    for tier in tiers:
        entry = by_sku.setdefault(tier.sku, pricing_pb2.PriceListEntry(sku=tier.sku))
        entry.tiers.append(
            pricing_pb2.PriceTier(min_quantity=tier.min_quantity, unit_price=money(tier.unit_amount, tier.currency))
        )
    return list(by_sku.values())


# ------------------------------------------------------------------------------------------------
# Promotions and coupons


def promotion(message: pricing_pb2.Promotion, violations: Violations, field: str = "promotion") -> Promotion:
    check_id(message.id, f"{field}.id", violations)
    check_name(message.name, f"{field}.name", violations)
    kind = DISCOUNT_KINDS.get(message.kind)
    target = TARGETS.get(message.target)
    violations.check(kind is not None, f"{field}.kind", "must be DISCOUNT_KIND_PERCENT or DISCOUNT_KIND_AMOUNT")
    violations.check(target is not None, f"{field}.target", "must be DISCOUNT_TARGET_ORDER or DISCOUNT_TARGET_PRODUCTS")
    amount_off = None
    if kind is DiscountKind.PERCENT:
        violations.check(1 <= message.percent_bp <= 10_000, f"{field}.percent_bp", "must be between 1 and 10000")
        violations.check(not message.HasField("amount_off"), f"{field}.amount_off", "must be unset for PERCENT")
    elif kind is DiscountKind.AMOUNT:
        violations.check(message.percent_bp == 0, f"{field}.percent_bp", "must be 0 for AMOUNT")
        violations.check(message.HasField("amount_off"), f"{field}.amount_off", "is required for AMOUNT")
        amount_off = Money.from_proto(message.amount_off, f"{field}.amount_off", violations)
        violations.check(
            amount_off.amount > 0 or not message.HasField("amount_off"),
            f"{field}.amount_off.amount",
            "must be positive",
        )
    if target is DiscountTarget.PRODUCTS:
        check_skus(message.skus, f"{field}.skus", violations)
    elif target is DiscountTarget.ORDER:
        violations.check(not message.skus, f"{field}.skus", "must be empty for an ORDER promotion")
    min_spend = None
    if message.HasField("min_spend"):
        min_spend = Money.from_proto(message.min_spend, f"{field}.min_spend", violations)
        violations.check(
            amount_off is None or amount_off.currency == min_spend.currency,
            f"{field}.min_spend.currency",
            "must be the currency of amount_off",
        )
    valid_from, valid_to = optional_time(message, "valid_from"), optional_time(message, "valid_to")
    check_window(valid_from, valid_to, field, violations)
    return Promotion(
        id=message.id,
        name=message.name.strip(),
        kind=kind or DiscountKind.PERCENT,
        target=target or DiscountTarget.ORDER,
        percent_bp=message.percent_bp,
        amount_off=amount_off,
        skus=frozenset(message.skus),
        min_spend=min_spend,
        valid_from=valid_from,
        valid_to=valid_to,
        automatic=message.automatic,
        active=message.active,
    )


def promotion_to_pb(record: PromotionRecord) -> pricing_pb2.Promotion:
    p = record.promotion
    return pricing_pb2.Promotion(
        id=p.id,
        name=p.name,
        kind=DISCOUNT_KINDS_PB[p.kind],
        percent_bp=p.percent_bp,
        amount_off=p.amount_off.to_proto() if p.amount_off else None,
        target=TARGETS_PB[p.target],
        skus=sorted(p.skus),
        min_spend=p.min_spend.to_proto() if p.min_spend else None,
        valid_from=timestamp(p.valid_from),
        valid_to=timestamp(p.valid_to),
        automatic=p.automatic,
        active=p.active,
        created_at=timestamp(record.created_at),
    )


def coupon_code(code: str, field: str, violations: Violations) -> str:
    normalised = normalise_code(code)
    violations.check(bool(_COUPON.match(normalised)), field, "must be 3-64 of letters, digits, '_' or '-'")
    return normalised


def valid_coupon_code(normalised: str) -> bool:
    return bool(_COUPON.match(normalised))


def check_key(value: str, field: str, violations: Violations) -> None:
    """Opaque identifiers from other services (customer ids, checkout ids)."""
    violations.check(0 < len(value.strip()) <= MAX_TEXT, field, f"must be 1-{MAX_TEXT} characters")


def coupon(message: pricing_pb2.Coupon, violations: Violations, field: str = "coupon") -> Coupon:
    code = coupon_code(message.code, f"{field}.code", violations)
    check_id(message.promotion_id, f"{field}.promotion_id", violations)
    violations.check(message.usage_limit_total >= 0, f"{field}.usage_limit_total", "must not be negative (0: none)")
    violations.check(
        message.usage_limit_per_customer >= 0, f"{field}.usage_limit_per_customer", "must not be negative (0: none)"
    )
    return Coupon(
        code, message.promotion_id, message.usage_limit_total, message.usage_limit_per_customer, active=message.active
    )


def coupon_to_pb(record: CouponRecord) -> pricing_pb2.Coupon:
    c = record.coupon
    return pricing_pb2.Coupon(
        code=c.code,
        promotion_id=c.promotion_id,
        usage_limit_total=c.usage_limit_total,
        usage_limit_per_customer=c.usage_limit_per_customer,
        times_used=c.times_used,
        active=c.active,
        created_at=timestamp(record.created_at),
    )


def redemption_to_pb(redemption: Redemption) -> pricing_pb2.CouponRedemption:
    status = (
        pricing_pb2.REDEMPTION_STATUS_ACTIVE
        if redemption.status == "active"
        else pricing_pb2.REDEMPTION_STATUS_RELEASED
    )
    return pricing_pb2.CouponRedemption(
        idempotency_key=redemption.idempotency_key,
        code=redemption.code,
        promotion_id=redemption.promotion_id,
        customer_id=redemption.customer_id,
        status=status,
        redeemed_at=timestamp(redemption.redeemed_at),
        released_at=timestamp(redemption.released_at),
    )


def quote_to_pb(
    totals: QuoteTotals, problems: Sequence[pricing_pb2.LineProblem], priced_at: datetime
) -> pricing_pb2.QuoteResponse:
    response = pricing_pb2.QuoteResponse(
        subtotal=totals.subtotal.to_proto(),
        discount_total=totals.discount_total.to_proto(),
        total=totals.total.to_proto(),
        problems=problems,
        priced_at=timestamp(priced_at),
    )
    for quoted in totals.lines:
        line = quoted.line
        message = response.lines.add(
            index=line.index,
            sku=line.price.sku,
            quantity=line.quantity,
            unit_price=line.price.unit_price.to_proto(),
            original_price=line.price.original_price.to_proto(),
            subtotal=line.subtotal.to_proto(),
            discount=quoted.discount_amount.to_proto(),
            line_total=quoted.total.to_proto(),
            reason=reason(line.price),
        )
        if quoted.discount is not None:
            message.applied_discount.CopyFrom(
                _discount_to_pb(quoted.discount.promotion, quoted.discount.amount, quoted.discount.coupon_code)
            )
    for discount in totals.order_discounts:
        response.order_discounts.append(_discount_to_pb(discount.promotion, discount.amount, discount.coupon_code))
    if totals.coupon is not None:
        outcome = totals.coupon
        response.coupon.CopyFrom(
            pricing_pb2.CouponOutcome(
                code=outcome.code,
                applied=outcome.applied,
                reason=outcome.problem.value if outcome.problem else "",
                description=outcome.describe(),
                discount=outcome.discount.to_proto(),
            )
        )
    return response


def _discount_to_pb(promotion: Promotion, amount: Money, code: str) -> pricing_pb2.AppliedDiscount:
    return pricing_pb2.AppliedDiscount(
        promotion_id=promotion.id,
        promotion_name=promotion.name,
        coupon_code=code,
        amount=amount.to_proto(),
        description=promotion.describe(),
    )


# ------------------------------------------------------------------------------------------------
# Rates


def exchange_rate(message: pricing_pb2.ExchangeRate, violations: Violations, field: str = "rate") -> ExchangeRate:
    for name in ("base_currency", "quote_currency"):
        violations.check(is_currency(getattr(message, name)), f"{field}.{name}", "must be an ISO-4217 code like USD")
    violations.check(
        message.base_currency != message.quote_currency, f"{field}.quote_currency", "must differ from base_currency"
    )
    value = parse_rate(message.rate)
    violations.check(
        value is not None, f"{field}.rate", "must be a positive decimal below 1e9 with at most 12 decimals, e.g. 0.9215"
    )
    return ExchangeRate(message.base_currency, message.quote_currency, value if value is not None else Decimal(1))


def rate_to_pb(record: RateRecord) -> pricing_pb2.ExchangeRate:
    rate = record.rate
    return pricing_pb2.ExchangeRate(
        base_currency=rate.base,
        quote_currency=rate.quote,
        rate=format_rate(rate.rate),
        updated_at=timestamp(record.updated_at),
    )


# ------------------------------------------------------------------------------------------------
# Dynamic pricing


def dynamic_rule(message: pricing_pb2.DynamicRule, violations: Violations, field: str = "rule") -> DynamicRule:
    check_id(message.id, f"{field}.id", violations)
    check_name(message.name, f"{field}.name", violations)
    check_skus(message.skus, f"{field}.skus", violations)
    violations.check(
        not message.currency or is_currency(message.currency),
        f"{field}.currency",
        "must be empty or an ISO-4217 code like USD",
    )
    low = message.low_stock_threshold if message.HasField("low_stock_threshold") else None
    high = message.high_stock_threshold if message.HasField("high_stock_threshold") else None
    violations.check(
        low is not None or high is not None,
        f"{field}.low_stock_threshold",
        "set low_stock_threshold, high_stock_threshold or both",
    )
    violations.check(low is None or low >= 0, f"{field}.low_stock_threshold", "must not be negative")
    violations.check(high is None or high >= 0, f"{field}.high_stock_threshold", "must not be negative")
    violations.check(
        low is None or high is None or low <= high,
        f"{field}.high_stock_threshold",
        "must not be below low_stock_threshold",
    )
    violations.check(0 <= message.raise_bp <= 100_000, f"{field}.raise_bp", "must be between 0 and 100000")
    violations.check(0 <= message.lower_bp <= FULL_BP, f"{field}.lower_bp", "must be between 0 and 10000")
    violations.check(0 <= message.floor_bp <= FULL_BP, f"{field}.floor_bp", "must be between 0 and 10000")
    violations.check(
        FULL_BP <= message.ceiling_bp <= FULL_BP + 100_000, f"{field}.ceiling_bp", "must be between 10000 and 110000"
    )
    violations.check(1 <= message.max_step_bp <= FULL_BP, f"{field}.max_step_bp", "must be between 1 and 10000")
    violations.check(
        0 <= message.cooldown_seconds <= 30 * 24 * 3600,
        f"{field}.cooldown_seconds",
        "must be between 0 and 2592000 (30 days)",
    )
    return DynamicRule(
        id=message.id,
        name=message.name.strip(),
        skus=frozenset(message.skus),
        currency=message.currency,
        low_stock_threshold=low,
        raise_bp=message.raise_bp,
        high_stock_threshold=high,
        lower_bp=message.lower_bp,
        floor_bp=message.floor_bp,
        ceiling_bp=message.ceiling_bp,
        max_step_bp=message.max_step_bp,
        cooldown_seconds=message.cooldown_seconds,
        enabled=message.enabled,
    )


def dynamic_rule_to_pb(rule: DynamicRule, created_at: datetime, updated_at: datetime) -> pricing_pb2.DynamicRule:
    message = pricing_pb2.DynamicRule(
        id=rule.id,
        name=rule.name,
        skus=sorted(rule.skus),
        currency=rule.currency,
        raise_bp=rule.raise_bp,
        lower_bp=rule.lower_bp,
        floor_bp=rule.floor_bp,
        ceiling_bp=rule.ceiling_bp,
        max_step_bp=rule.max_step_bp,
        cooldown_seconds=rule.cooldown_seconds,
        enabled=rule.enabled,
        created_at=timestamp(created_at),
        updated_at=timestamp(updated_at),
    )
    if rule.low_stock_threshold is not None:
        message.low_stock_threshold = rule.low_stock_threshold
    if rule.high_stock_threshold is not None:
        message.high_stock_threshold = rule.high_stock_threshold
    return message


def price_change_to_pb(audited: AuditedChange) -> pricing_pb2.PriceChange:
    change = audited.change
    message = pricing_pb2.PriceChange(
        id=audited.audit_id,
        sku=change.sku,
        new_price=money(change.new_amount, change.currency),
        cause=CAUSES[audited.cause],
        rule_id=audited.rule_id,
        triggering_event_id=audited.triggering_event_id,
        total_available=audited.total_available or 0,
        changed_at=timestamp(audited.changed_at),
    )
    if change.old_amount is not None:
        message.old_price.CopyFrom(money(change.old_amount, change.currency))
    return message
