"""Request bodies of the HTTP API (and the problem document, for OpenAPI).

The models only fix the JSON shape; the rules (required fields, formats, limits) live in the
application layer so that HTTP and gRPC clients get the same answers. One rule is the shape's:
every integer fits the int64 of the services' messages (JSON numbers have no bound of their own).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shop_gateway.app import models
from shop_gateway.app.validation import MAX_INT64
from shopkit import problems

Int64 = Annotated[int, Field(ge=-MAX_INT64 - 1, le=MAX_INT64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MoneyBody(Body):
    amount: Int64 = Field(description="integer minor units, e.g. cents")
    currency: str = Field(description="ISO-4217 code, e.g. USD")

    def to_model(self) -> models.Money:
        return models.Money(amount=self.amount, currency=self.currency)


class TokenBody(Body):
    username: str = Field(description="becomes the token's subject (the customer id)")
    role: str = Field(description="customer, b2b_buyer, b2b_approver, admin, fraud_analyst or store_staff")
    account_id: str = Field(
        "", description="B2B account; required for b2b_buyer and b2b_approver (who must be a member of its company)"
    )
    email: str = Field("", description="defaults to <username>@example.com")
    customer_group: str = Field("", description="pricing group, e.g. wholesale")
    country: str = Field("", description="ISO-3166-1 alpha-2; defaults to DEFAULT_COUNTRY")
    currency: str = Field("", description="ISO-4217; defaults to DEFAULT_CURRENCY")
    customer_since: Int64 | None = Field(None, description="account creation, unix seconds; defaults to a year ago")
    locations: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="store_staff: the inventory locations they work at (the token's shop_locations claim)",
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="seconds")


class AddItemBody(Body):
    sku: str
    quantity: Int64 = Field(description="1 to 1,000,000; added to the quantity the cart already holds")


class UpdateItemBody(Body):
    quantity: Int64 = Field(description="the new quantity, 0 to 1,000,000; 0 removes the line")


class CouponBody(Body):
    code: str


class AddressBody(Body):
    name: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = Field("", description="ISO-3166-1 alpha-2")
    phone: str = ""

    def to_model(self) -> models.Address:
        return models.Address(**self.model_dump())


class FulfillmentBody(Body):
    method: str = Field("ship", description='"ship" or "pickup"')
    store_id: str = Field("", description="pickup: a store from GET /v1/stores")


class CheckoutBody(Body):
    payment_method: str = Field(
        description="a payment method id from the payment provider (pm_...; a saved card's payment_method_id of "
        'GET /v1/me/payment-methods is one), or "invoice"'
    )
    purchase_order_number: str = Field("", description="invoice only: the buyer's PO reference")
    shipping_address: AddressBody | None = Field(None, description="required for ship (or shipping_address_id)")
    billing_address: AddressBody | None = Field(None, description="defaults to the shipping address")
    shipping_address_id: str = Field(
        "", max_length=64, description="signed in: a saved address (GET /v1/me/addresses) instead of shipping_address"
    )
    billing_address_id: str = Field(
        "", max_length=64, description="signed in: a saved address instead of billing_address"
    )
    fulfillment: FulfillmentBody = Field(default_factory=FulfillmentBody)
    email: str = Field("", description="defaults to the token's email claim")
    cart_version: Int64 = Field(
        0, description="optional: the cart version the shopper confirmed (ETag of GET /v1/cart)"
    )
    shipping_method: str = Field(
        "",
        description="ship only: a code of GET /v1/cart/shipping-options for the shipping address (e.g. standard); "
        "empty: the cheapest option",
    )
    quote_id: str = Field(
        "",
        max_length=128,
        description="B2B: an accepted quote (POST /v1/quotes) whose prices the order carries; the cart must hold "
        "exactly its lines (409 QUOTE_UNAVAILABLE otherwise, as for a quote already ordered or expired)",
    )


class NoteBody(Body):
    note: str = Field("", description="up to 2000 characters; required to reject")


class Precondition(BaseModel):
    type: str = Field(description="what kind of precondition failed, e.g. STOCK, CART_VERSION")
    subject: str = Field(description="what it is about, e.g. a SKU")
    description: str


class Problem(problems.Problem):
    """An error (RFC 9457 problem details, media type application/problem+json)."""

    code: str = Field(description="machine-readable reason, e.g. INSUFFICIENT_STOCK, PAYMENT_DECLINED")
    preconditions: list[Precondition] | None = Field(None, description="the state that refused the request")
    metadata: dict[str, str] | None = Field(None, description="details of the reason, e.g. retry_after_seconds")
    trace_id: str | None = Field(None, description="the request's trace, when it was traced")


# --- admin -------------------------------------------------------------------------------------


class CategoryBody(Body):
    slug: str
    name: str
    parent_id: str = ""


class VariantBody(Body):
    sku: str
    title: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    allow_preorder: bool = False


class ProductBody(Body):
    name: str
    category: str = Field(description="category id or slug")
    variants: list[VariantBody]
    slug: str = ""
    description: str = ""
    brand: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    channels: list[str] = Field(default_factory=lambda: ["web", "mobile", "b2b"])
    status: str = Field("active", description="draft or active")
    request_id: str = Field("", description="optional idempotency key")
    return_window_days: Int64 | None = Field(
        None, description="days after delivery a customer may return it, 0 to 365; default 30"
    )
    returnable: bool | None = Field(None, description="false for goods that may not be returned; default true")


class PriceBody(Body):
    sku: str
    price: MoneyBody


class PricesBody(Body):
    prices: list[PriceBody]


class StockEntryBody(Body):
    sku: str
    location_id: str
    on_hand: Int64


class StockBody(Body):
    entries: list[StockEntryBody]
    reason: str = ""


class Health(BaseModel):
    status: str
    backends: dict[str, str] = Field(default_factory=dict)


class Readiness(BaseModel):
    status: str = Field(description="ready, not_ready or draining")
