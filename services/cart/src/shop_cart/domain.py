"""Carts, their lines and problems, and the pure rules that change them. No I/O.

Amounts are integer minor units in the cart's currency (fixed when the cart is created), so lines
and snapshots store bare integers; the API adds the currency back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shopkit.errors import Aborted, FailedPrecondition, NotFound
from shopkit.money import MINOR_UNITS

# ErrorInfo reasons of the cart service.
CART_NOT_ACTIVE = "CART_NOT_ACTIVE"
CART_VERSION_MISMATCH = "CART_VERSION_MISMATCH"
CART_ALREADY_CHECKED_OUT = "CART_ALREADY_CHECKED_OUT"
SKU_NOT_SELLABLE = "SKU_NOT_SELLABLE"
QUANTITY_LIMIT_EXCEEDED = "QUANTITY_LIMIT_EXCEEDED"
TOO_MANY_LINES = "TOO_MANY_LINES"
COUPON_INVALID = "COUPON_INVALID"
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
# The cart's own coupon reason: a usable code on a cart without lines.
CART_EMPTY = "CART_EMPTY"

# Pricing's coupon reasons that no change of the cart can cure: ApplyCoupon refuses such codes and a
# merge drops a guest coupon with one. Others (MIN_SPEND_NOT_MET, NOT_APPLICABLE, NOT_BEST) may
# still apply once the cart changes, so the code stays attached.
UNUSABLE_COUPON_REASONS = frozenset(
    {
        "NOT_FOUND",
        "INACTIVE",
        "NOT_YET_VALID",
        "EXPIRED",
        "USAGE_LIMIT_REACHED",
        "CUSTOMER_LIMIT_REACHED",
        "CURRENCY_MISMATCH",
    }
)

CHANNELS = ("web", "mobile", "b2b", "pos")


class CartStatus(StrEnum):
    ACTIVE = "active"
    CHECKED_OUT = "checked_out"
    MERGED = "merged"
    ABANDONED = "abandoned"


class ProblemKind(StrEnum):
    OUT_OF_STOCK = "out_of_stock"
    INSUFFICIENT_STOCK = "insufficient_stock"
    PRICE_CHANGED = "price_changed"
    DISCONTINUED = "discontinued"
    NOT_SELLABLE = "not_sellable"
    PRICE_UNAVAILABLE = "price_unavailable"


# Checkout refuses a cart with any of these; a changed price is only shown.
BLOCKING = frozenset(kind for kind in ProblemKind if kind is not ProblemKind.PRICE_CHANGED)


class Sellability(StrEnum):
    SELLABLE = "sellable"
    DISCONTINUED = "discontinued"
    NOT_SELLABLE = "not_sellable"  # a draft product, not sold in the cart's channel, or gone from the catalog


@dataclass(frozen=True, slots=True)
class CustomerContext:
    customer_id: str = ""
    customer_group: str = ""
    account_id: str = ""
    channel: str = ""
    country: str = ""
    currency: str = ""


@dataclass(frozen=True, slots=True)
class VariantFacts:
    """What the catalog says about a SKU, reduced to what a cart needs."""

    sku: str
    product_id: str
    name: str
    sellability: Sellability
    why_not_sellable: str = ""  # e.g. "the product is a draft"
    tracks_stock: bool = True  # False: stock is not counted or preorders are allowed, so no stock problems
    weight_grams: int = 0  # shipping weight of one unit; 0 when the catalog does not know it


def judge_variant(
    *,
    sku: str,
    product_id: str,
    name: str,
    product_status: str,
    channels: Iterable[str],
    channel: str,
    track_inventory: bool,
    allow_preorder: bool,
    weight_grams: int = 0,
) -> VariantFacts:
    """Whether a SKU can be sold in `channel`, from the catalog's product status and channels."""
    sellability, why = Sellability.SELLABLE, ""
    if product_status == "discontinued":
        sellability, why = Sellability.DISCONTINUED, "the product is discontinued"
    elif product_status != "active":
        sellability, why = Sellability.NOT_SELLABLE, f"the product is {product_status or 'not active'}"
    elif channel not in set(channels):
        sellability, why = Sellability.NOT_SELLABLE, f"the product is not sold in channel {channel}"
    return VariantFacts(sku, product_id, name, sellability, why, track_inventory and not allow_preorder, weight_grams)


def gone_from_catalog(line: Line) -> VariantFacts:
    return VariantFacts(
        line.sku,
        line.product_id,
        line.name,
        Sellability.NOT_SELLABLE,
        "the SKU is no longer in the catalog",
        weight_grams=line.weight_grams,
    )


@dataclass(frozen=True, slots=True)
class LinePrice:
    unit_price: int
    original_price: int
    discount: int
    line_total: int


@dataclass(frozen=True, slots=True)
class Line:
    line_id: uuid.UUID
    sku: str
    quantity: int
    position: int  # order of addition within the cart
    product_id: str
    name: str
    sellability: Sellability
    tracks_stock: bool
    available: int | None  # total availability when last checked; None: unknown
    added_at: datetime
    price: LinePrice | None = None  # None: pricing has no price in the cart's currency
    shown_unit_price: int | None = None  # the unit price when the customer last set the quantity
    weight_grams: int = 0  # the catalog's shipping weight of one unit (pricing's shipping rates by weight)

    def with_facts(self, facts: VariantFacts, available: int | None) -> Line:
        return replace(
            self,
            product_id=facts.product_id,
            name=facts.name,
            sellability=facts.sellability,
            tracks_stock=facts.tracks_stock,
            available=self.available if available is None else available,
            weight_grams=facts.weight_grams,
        )


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    message: str
    available_quantity: int = 0
    previous_unit_price: int | None = None

    @property
    def blocking(self) -> bool:
        return self.kind in BLOCKING


def format_amount(amount: int, currency: str) -> str:
    exponent = MINOR_UNITS.get(currency, 2)
    if exponent == 0:
        return f"{amount} {currency}"
    whole, part = divmod(abs(amount), 10**exponent)
    return f"{'-' if amount < 0 else ''}{whole}.{part:0{exponent}d} {currency}"


def line_problems(line: Line, currency: str) -> list[Problem]:
    """Why the line cannot be bought as it is, from what was known at the last validation."""
    problems: list[Problem] = []
    if line.sellability is Sellability.DISCONTINUED:
        problems.append(Problem(ProblemKind.DISCONTINUED, "This product is no longer sold"))
    elif line.sellability is Sellability.NOT_SELLABLE:
        problems.append(Problem(ProblemKind.NOT_SELLABLE, "This product cannot be bought here"))
    if line.tracks_stock and line.available is not None:
        if line.available <= 0:
            problems.append(Problem(ProblemKind.OUT_OF_STOCK, "Out of stock", 0))
        elif line.available < line.quantity:
            problems.append(Problem(ProblemKind.INSUFFICIENT_STOCK, f"Only {line.available} left", line.available))
    if line.price is None:
        problems.append(Problem(ProblemKind.PRICE_UNAVAILABLE, f"No price in {currency}"))
    elif line.shown_unit_price is not None and line.shown_unit_price != line.price.unit_price:
        before, now = format_amount(line.shown_unit_price, currency), format_amount(line.price.unit_price, currency)
        problems.append(
            Problem(
                ProblemKind.PRICE_CHANGED,
                f"The price changed from {before} to {now}",
                previous_unit_price=line.shown_unit_price,
            )
        )
    return problems


@dataclass(frozen=True, slots=True)
class CouponState:
    code: str  # normalised upper-case
    applied: bool = False
    reason: str = ""
    description: str = ""
    discount: int = 0

    @property
    def unusable(self) -> bool:
        return self.reason in UNUSABLE_COUPON_REASONS


def normalise_code(code: str) -> str:
    return code.strip().upper()


@dataclass(frozen=True, slots=True)
class PriceSnapshot:
    subtotal: int
    discount_total: int
    total: int
    priced_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Quote:
    """What pricing made of a cart: prices by SKU (SKUs without a price are absent) and totals."""

    prices: Mapping[str, LinePrice]
    subtotal: int
    discount_total: int
    total: int
    coupon: CouponState | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    max_line_quantity: int
    max_lines: int


@dataclass(frozen=True, slots=True)
class Cart:
    cart_id: uuid.UUID
    context: CustomerContext
    status: CartStatus
    lines: tuple[Line, ...]
    coupon: CouponState | None
    pricing: PriceSnapshot
    version: int
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    merged_into: uuid.UUID | None = None
    checkout_id: str = ""
    order_id: str = ""

    @property
    def customer_id(self) -> str:
        return self.context.customer_id

    @property
    def currency(self) -> str:
        return self.context.currency

    @property
    def has_blocking_problems(self) -> bool:
        return any(p.blocking for line in self.lines for p in line_problems(line, self.currency))

    def line(self, line_id: uuid.UUID) -> Line | None:
        return next((line for line in self.lines if line.line_id == line_id), None)

    def line_for(self, sku: str) -> Line | None:
        return next((line for line in self.lines if line.sku == sku), None)

    def next_position(self) -> int:
        return max((line.position for line in self.lines), default=0) + 1

    def expires_at(self, idle_ttl: timedelta) -> datetime:
        """When the sweeper abandons the cart without further activity."""
        return self.last_activity_at + idle_ttl


def new_cart(cart_id: uuid.UUID, context: CustomerContext, now: datetime, price_ttl: timedelta) -> Cart:
    return Cart(
        cart_id=cart_id,
        context=context,
        status=CartStatus.ACTIVE,
        lines=(),
        coupon=None,
        pricing=PriceSnapshot(0, 0, 0, now, now + price_ttl),
        version=1,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )


# --- access -------------------------------------------------------------------------------------


def visible_to(cart: Cart, customer_id: str, is_admin: bool) -> bool:
    """A customer's cart is open to that customer (and admin/service); a guest cart to whoever holds its id."""
    if is_admin or not cart.customer_id:
        return True
    return customer_id == cart.customer_id


def require_active(cart: Cart) -> None:
    if cart.status is not CartStatus.ACTIVE:
        raise FailedPrecondition(
            f"cart {cart.cart_id} is {cart.status.value} and can no longer change",
            reason=CART_NOT_ACTIVE,
            metadata={"cart_id": str(cart.cart_id), "status": cart.status.value},
        )


def check_version(cart: Cart, expected_version: int) -> None:
    """Optimistic concurrency: 0 skips the check."""
    if expected_version and expected_version != cart.version:
        raise Aborted(
            f"cart {cart.cart_id} is at version {cart.version}, not {expected_version}; read it again",
            reason=CART_VERSION_MISMATCH,
            metadata={
                "cart_id": str(cart.cart_id),
                "version": str(cart.version),
                "expected_version": str(expected_version),
            },
        )


def require_writable(cart: Cart, expected_version: int) -> None:
    require_active(cart)
    check_version(cart, expected_version)


def require_sellable(facts: VariantFacts) -> None:
    if facts.sellability is not Sellability.SELLABLE:
        raise FailedPrecondition(
            f"SKU {facts.sku} cannot be added: {facts.why_not_sellable}",
            reason=SKU_NOT_SELLABLE,
            metadata={"sku": facts.sku, "sellability": facts.sellability.value},
        )


# --- changes --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """A cart as a change would leave it, before pricing."""

    cart: Cart
    # Lines whose new price the customer sees now (they set the quantity): no PRICE_CHANGED for them.
    acknowledged: frozenset[uuid.UUID] = frozenset()
    line_id: uuid.UUID | None = None  # the line AddCartLine reports


def _replace_line(cart: Cart, line: Line) -> Cart:
    return replace(cart, lines=tuple(line if old.line_id == line.line_id else old for old in cart.lines))


def _quantity_limit(sku: str, quantity: int, limits: Limits) -> FailedPrecondition:
    return FailedPrecondition(
        f"a line holds at most {limits.max_line_quantity} units; {sku} would have {quantity}",
        reason=QUANTITY_LIMIT_EXCEEDED,
        metadata={"sku": sku, "quantity": str(quantity), "max_line_quantity": str(limits.max_line_quantity)},
    )


def add_line(
    cart: Cart,
    facts: VariantFacts,
    quantity: int,
    available: int | None,
    limits: Limits,
    line_id: uuid.UUID,
    now: datetime,
) -> Draft:
    """Add a SKU, or raise the quantity of the line that has it, within the limits."""
    existing = cart.line_for(facts.sku)
    if existing is not None:
        total = existing.quantity + quantity
        if total > limits.max_line_quantity:
            raise _quantity_limit(facts.sku, total, limits)
        line = replace(existing.with_facts(facts, available), quantity=total)
        return Draft(_replace_line(cart, line), frozenset({line.line_id}), line.line_id)
    if quantity > limits.max_line_quantity:
        raise _quantity_limit(facts.sku, quantity, limits)
    if len(cart.lines) >= limits.max_lines:
        raise FailedPrecondition(
            f"a cart holds at most {limits.max_lines} lines",
            reason=TOO_MANY_LINES,
            metadata={"max_lines": str(limits.max_lines)},
        )
    line = Line(
        line_id=line_id,
        sku=facts.sku,
        quantity=quantity,
        position=cart.next_position(),
        product_id=facts.product_id,
        name=facts.name,
        sellability=facts.sellability,
        tracks_stock=facts.tracks_stock,
        available=available,
        added_at=now,
        weight_grams=facts.weight_grams,
    )
    return Draft(replace(cart, lines=(*cart.lines, line)), frozenset({line_id}), line_id)


def find_line(cart: Cart, line_id: uuid.UUID) -> Line:
    line = cart.line(line_id)
    if line is None:
        raise NotFound("cart line", str(line_id))
    return line


def set_quantity(
    cart: Cart, line_id: uuid.UUID, quantity: int, facts: VariantFacts | None, available: int | None, limits: Limits
) -> Draft | None:
    """Absolute quantity of a line; 0 removes it. None: nothing changes."""
    line = find_line(cart, line_id)
    if quantity == 0:
        return remove_line(cart, line_id)
    if quantity > limits.max_line_quantity:
        raise _quantity_limit(line.sku, quantity, limits)
    updated = replace(line if facts is None else line.with_facts(facts, available), quantity=quantity)
    return Draft(_replace_line(cart, updated), frozenset({line_id}), line_id)


def remove_line(cart: Cart, line_id: uuid.UUID) -> Draft | None:
    if cart.line(line_id) is None:
        return None  # already gone: the cart stays as it is
    return Draft(replace(cart, lines=tuple(line for line in cart.lines if line.line_id != line_id)))


def set_coupon(cart: Cart, code: str | None) -> Draft | None:
    if (cart.coupon.code if cart.coupon else None) == code:
        return None
    return Draft(replace(cart, coupon=CouponState(code) if code else None))


def refresh_lines(
    cart: Cart, looked_up: frozenset[str], facts: Mapping[str, VariantFacts], availability: Mapping[str, int]
) -> Draft:
    """New catalog facts and availability for the lines whose SKUs were looked up (a looked-up SKU
    missing from `facts` has left the catalog); lines added meanwhile keep theirs."""
    lines = tuple(
        line.with_facts(facts.get(line.sku) or gone_from_catalog(line), availability.get(line.sku, 0))
        if line.sku in looked_up
        else line
        for line in cart.lines
    )
    return Draft(replace(cart, lines=lines))


def merge_into(target: Cart, guest: Cart, limits: Limits, new_id: Callable[[], uuid.UUID]) -> Draft:
    """The customer's cart with the guest's lines: quantities of one SKU are added (capped at the line
    limit), new SKUs appended while the cart has room; the guest coupon is kept when the target has none."""
    lines = list(target.lines)
    touched: set[uuid.UUID] = set()
    position = target.next_position()
    for guest_line in guest.lines:
        index = next((i for i, line in enumerate(lines) if line.sku == guest_line.sku), None)
        if index is not None:
            line = lines[index]
            quantity = min(line.quantity + guest_line.quantity, limits.max_line_quantity)
            if quantity != line.quantity:
                lines[index] = replace(line, quantity=quantity)
                touched.add(line.line_id)
        elif len(lines) < limits.max_lines:
            lines.append(
                replace(
                    guest_line,
                    line_id=new_id(),
                    position=position,
                    quantity=min(guest_line.quantity, limits.max_line_quantity),
                )
            )
            position += 1
    coupon = target.coupon or guest.coupon
    return Draft(replace(target, lines=tuple(lines), coupon=coupon), frozenset(touched))


def adopt(guest: Cart, context: CustomerContext) -> Draft:
    """A guest cart becomes the signed-in customer's cart; its currency stays (it is fixed at creation)."""
    return Draft(replace(guest, context=replace(context, currency=guest.currency)))


def drop_unusable_coupon(cart: Cart) -> Cart:
    """After pricing a merge: a guest coupon the customer cannot use is not carried over."""
    if cart.coupon is not None and cart.coupon.unusable:
        return replace(cart, coupon=None)
    return cart


# --- pricing ----------------------------------------------------------------------------------------


def priced(draft: Draft, quote: Quote, now: datetime, price_ttl: timedelta) -> Cart:
    """The draft with pricing's answer: line prices, coupon outcome, totals and a fresh snapshot."""
    cart = draft.cart
    lines = []
    for line in cart.lines:
        price = quote.prices.get(line.sku)
        shown = line.shown_unit_price
        if price is not None and (shown is None or line.line_id in draft.acknowledged):
            shown = price.unit_price
        lines.append(replace(line, price=price, shown_unit_price=shown))
    coupon = None
    if cart.coupon is not None:
        coupon = quote.coupon or CouponState(cart.coupon.code)
        if not cart.lines and not coupon.unusable:
            coupon = CouponState(coupon.code, False, CART_EMPTY, "add items to the cart to use this coupon")
    return replace(
        cart,
        lines=tuple(lines),
        coupon=coupon,
        pricing=PriceSnapshot(quote.subtotal, quote.discount_total, quote.total, now, now + price_ttl),
    )


def _content(cart: Cart) -> tuple[object, ...]:
    """What a customer can see change; timestamps and raw availability figures are not part of it."""
    lines = tuple(
        (line.line_id, line.sku, line.quantity, line.price, tuple(line_problems(line, cart.currency)))
        for line in cart.lines
    )
    totals = (cart.pricing.subtotal, cart.pricing.discount_total, cart.pricing.total)
    return (cart.status, cart.context, lines, cart.coupon, totals, cart.merged_into, cart.checkout_id, cart.order_id)


def stamped(before: Cart, after: Cart, now: datetime, *, activity: bool) -> Cart:
    """`after` as it will be stored: the version moves when anything visible changed; activity (a
    customer's action) postpones abandonment."""
    changed = _content(before) != _content(after)
    return replace(
        after,
        version=before.version + 1 if changed else before.version,
        updated_at=now,
        last_activity_at=now if activity else before.last_activity_at,
    )


def needs_repricing(cart: Cart, now: datetime) -> bool:
    """An active cart whose snapshot expired; an empty cart without coupon has nothing to price."""
    if cart.status is not CartStatus.ACTIVE or not (cart.lines or cart.coupon):
        return False
    return cart.pricing.expires_at <= now


# --- lifecycle --------------------------------------------------------------------------------------


def checked_out(cart: Cart, checkout_id: str, order_id: str, now: datetime) -> Cart | None:
    """CHECKED_OUT once its order exists. None: a repeat of the same checkout (nothing to do).

    An ABANDONED cart may still be checked out: the order exists, so the saga's last step must succeed.
    """
    if cart.status is CartStatus.CHECKED_OUT:
        if cart.checkout_id == checkout_id:
            return None
        raise FailedPrecondition(
            f"cart {cart.cart_id} was checked out by checkout {cart.checkout_id}",
            reason=CART_ALREADY_CHECKED_OUT,
            metadata={"cart_id": str(cart.cart_id), "checkout_id": cart.checkout_id},
        )
    if cart.status is CartStatus.MERGED:
        require_active(cart)
    return replace(
        cart,
        status=CartStatus.CHECKED_OUT,
        checkout_id=checkout_id,
        order_id=order_id,
        version=cart.version + 1,
        updated_at=now,
    )


def merged(guest: Cart, target_id: uuid.UUID, now: datetime) -> Cart:
    return replace(guest, status=CartStatus.MERGED, merged_into=target_id, version=guest.version + 1, updated_at=now)


def item_count(cart: Cart) -> int:
    return sum(line.quantity for line in cart.lines)
