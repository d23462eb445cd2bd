"""Plain results of the use cases: the JSON of the HTTP API and, field for field, the messages of
shop.storefront.v1 (the gRPC adapter converts them by name, so keep both in step).

Statuses and kinds are lower_snake_case strings; timestamps are RFC 3339 strings (None when unset);
money is integer minor units.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Money:
    amount: int  # minor units, e.g. cents
    currency: str  # ISO-4217


@dataclass
class Address:
    name: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""  # ISO-3166-1 alpha-2
    phone: str = ""


# --- catalog ---------------------------------------------------------------------------------

# The catalog's return terms: its default window, and the longest it accepts (shop_catalog.domain).
DEFAULT_RETURN_WINDOW_DAYS = 30
MAX_RETURN_WINDOW_DAYS = 365


@dataclass
class Availability:
    available: int
    ship_available: int
    low_stock: bool
    in_stock: bool


@dataclass
class Variant:
    sku: str
    title: str
    attributes: dict[str, str]
    allow_preorder: bool
    price: Money | None = None
    original_price: Money | None = None
    availability: Availability | None = None


@dataclass
class Product:
    id: str
    slug: str
    name: str
    description: str
    brand: str
    category_id: str
    category_path: str
    attributes: dict[str, str]
    status: str
    variants: list[Variant]
    created_at: str | None
    updated_at: str | None
    # Return terms (catalog data): days after delivery a customer may still return it, and whether
    # it may come back at all (e.g. not hygiene goods). The order service applies them to returns.
    return_window_days: int = DEFAULT_RETURN_WINDOW_DAYS
    returnable: bool = True


@dataclass
class CategoryFacet:
    category_id: str
    slug: str
    path: str  # slugs from the root
    count: int  # products of the result in this category or below


@dataclass
class FacetValue:
    value: str
    count: int


@dataclass
class AttributeFacet:
    key: str
    values: list[FacetValue]  # most frequent first


@dataclass
class PriceBucket:
    min_amount: int  # minor units, inclusive
    max_amount: int  # inclusive
    count: int


@dataclass
class PriceFacet:
    currency: str
    min_amount: int
    max_amount: int
    priced: int  # products with a price in the currency
    buckets: list[PriceBucket]


@dataclass
class ProductFacets:
    """Counts over the whole filtered result, not the page."""

    total: int
    categories: list[CategoryFacet]
    attributes: list[AttributeFacet]
    price: PriceFacet | None
    in_stock: int
    out_of_stock: int


@dataclass
class ProductPage:
    products: list[Product]
    next_page_token: str
    facets: ProductFacets | None = None  # when asked for


@dataclass
class Category:
    id: str
    parent_id: str
    slug: str
    name: str
    path: str
    depth: int


@dataclass
class CategoryList:
    categories: list[Category]


@dataclass
class Store:
    store_id: str
    name: str
    country: str
    address: Address | None


@dataclass
class StoreList:
    stores: list[Store]


# --- cart ------------------------------------------------------------------------------------


@dataclass
class CartLineProblem:
    kind: str
    blocking: bool
    message: str
    available_quantity: int


@dataclass
class CartLine:
    line_id: str
    sku: str
    product_id: str
    name: str
    quantity: int
    unit_price: Money
    original_price: Money
    discount: Money
    line_total: Money
    problems: list[CartLineProblem]


@dataclass
class Coupon:
    code: str
    applied: bool
    reason: str
    description: str
    discount: Money


@dataclass
class Cart:
    cart_id: str  # empty when the customer has no cart yet
    status: str
    currency: str
    lines: list[CartLine]
    coupon: Coupon | None
    subtotal: Money
    discount_total: Money
    total: Money
    has_blocking_problems: bool
    version: int
    priced_at: str | None
    price_expires_at: str | None
    price_stale: bool


# --- checkout --------------------------------------------------------------------------------


@dataclass
class CheckoutFailure:
    code: str
    step: str
    message: str


@dataclass
class NextAction:
    """What the customer's client must do before the payment is authorised (status action_required)."""

    type: str  # three_d_secure: a challenge at the payment provider
    url: str  # POST {"client_secret", "authenticated"} there, without credentials
    client_secret: str
    expires_at: str | None  # past it the checkout fails (action_expired) and gives everything back


@dataclass
class PlaceOrderResult:
    checkout_id: str
    order_id: str  # empty until the order exists
    order_number: str  # e.g. SO-000123, with order_id
    status: str
    next_action: NextAction | None = None  # set when action_required


@dataclass
class CheckoutStep:
    kind: str
    state: str
    attempts: int
    error: str


@dataclass
class Totals:
    subtotal: Money
    discount_total: Money
    shipping_total: Money
    tax_total: Money
    total: Money
    tax_included: bool = False  # prices include the tax (EU VAT): tax_total is part of total, not added to it


@dataclass
class Checkout:
    checkout_id: str
    status: str
    order_id: str
    order_number: str
    totals: Totals | None
    failure: CheckoutFailure | None
    steps: list[CheckoutStep]
    hold_expires_at: str | None
    created_at: str | None
    updated_at: str | None
    next_action: NextAction | None = None  # while action_required


# --- orders ----------------------------------------------------------------------------------


@dataclass
class OrderLine:
    line_id: str
    sku: str
    product_id: str
    name: str
    quantity: int
    unit_price: Money
    discount: Money
    line_total: Money
    fulfilled_quantity: int
    refunded_quantity: int
    tax: Money | None = None  # the line's tax (added, or contained in line_total when the totals say tax_included)


@dataclass
class OrderFulfillment:
    method: str  # ship or pickup
    store_id: str = ""
    shipping_address: Address | None = None


@dataclass
class ShipmentLine:
    line_id: str
    quantity: int


@dataclass
class Shipment:
    """One fulfilment of the order: what left, with which carrier, and its tracking number."""

    shipment_id: str
    carrier: str  # empty for a pickup
    tracking_number: str
    lines: list[ShipmentLine]
    shipped_at: str | None


@dataclass
class ApprovalDecision:
    """One approver's decision on a step of the order's approval chain."""

    approver: str
    decision: str  # approve or reject
    note: str
    at: str | None


@dataclass
class ApprovalStep:
    """One step of the order's approval chain: who may decide it, how many must approve, its decisions."""

    name: str
    approvers: list[str]  # empty: any approver of the account other than the buyer
    quorum: int
    state: str  # pending, approved or rejected
    decisions: list[ApprovalDecision]


@dataclass
class Approval:
    status: str
    limit: Money | None
    decided_by: str
    note: str
    decided_at: str | None
    steps: list[ApprovalStep] = field(default_factory=list)  # the approval chain, decided in order
    current_step: int = 0  # the step waiting for decisions (len(steps) once all are approved)


@dataclass
class OrderInvoice:
    """An invoice order's invoice (the whole of it: GET /v1/invoices/{number})."""

    number: str
    status: str  # open, paid or void
    due_at: str | None
    balance: Money | None
    overdue: bool


@dataclass
class Order:
    order_id: str
    number: str
    customer_id: str
    account_id: str
    status: str
    payment_status: str
    fulfillment_status: str
    currency: str
    lines: list[OrderLine]
    totals: Totals | None
    coupon_code: str
    fulfillment: OrderFulfillment | None
    billing_address: Address | None
    payment_method: str
    approval: Approval | None
    cancellation_reason: str
    created_at: str | None
    updated_at: str | None
    shipments: list[Shipment] = field(default_factory=list)  # oldest first
    quote_id: str = ""  # B2B: the accepted sales quote it was ordered at; empty: none
    invoice: OrderInvoice | None = None  # invoice orders: their invoice (in lists too)


@dataclass
class OrderPage:
    orders: list[Order]
    next_page_token: str


# --- fraud reviews ---------------------------------------------------------------------------


@dataclass
class RiskReason:
    code: str
    weight: int
    detail: str


@dataclass
class Review:
    review_id: str
    status: str
    checkout_id: str
    score: int
    decision: str
    reasons: list[RiskReason]
    amount: Money | None
    customer_id: str
    email: str
    decided_by: str
    note: str
    created_at: str | None
    decided_at: str | None


@dataclass
class ReviewPage:
    reviews: list[Review]
    next_page_token: str


# --- admin -----------------------------------------------------------------------------------


@dataclass
class PricesSet:
    changed: int  # prices that were new or different


@dataclass
class StockLevel:
    sku: str
    location_id: str
    on_hand: int
    reserved: int
    available: int


@dataclass
class StockLevels:
    stock: list[StockLevel] = field(default_factory=list)
