"""Pricing resources in the API's JSON: each model is the request body that creates or replaces the
resource and the answer that shows it (fields marked "output only" are ignored on input). Their fields
are the pricing service's (shop.pricing.v1), with enums in lower case."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar

from google.protobuf.message import Message
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shop_gateway.app.backoffice import protojson
from shop_gateway.app.validation import MAX_INT32
from shop_gateway.httpapi.backoffice.common import Id, MoneyBody
from shopkit.errors import Violations

M = TypeVar("M", bound=Message)
R = TypeVar("R", bound="Resource")
Int32 = Annotated[int, Field(ge=0, le=MAX_INT32)]
BasisPoints = Annotated[int, Field(ge=0, le=100_000, description="basis points: 100 = 1%")]
Code = Annotated[str, Field(max_length=3, description="ISO-4217")]
Skus = Annotated[list[Id], Field(max_length=1000)]
OUTPUT = "output only"


class Resource(BaseModel):
    """Forbids unknown fields (a typo is a 400, not a silent default)."""

    model_config = ConfigDict(extra="forbid")
    output_only: ClassVar[frozenset[str]] = frozenset({"created_at", "updated_at"})

    def to_proto(self, message_type: type[M]) -> M:
        violations = Violations()
        values = self.model_dump(mode="json", exclude=set(self.output_only))
        message = protojson.from_plain(values, message_type, violations)
        violations.raise_if_any()
        return message

    @classmethod
    def of(cls: type[R], message: Message) -> R:
        return cls.model_validate(protojson.to_plain(message))


def of_each(items: Any, model: type[R]) -> list[R]:
    return [model.of(item) for item in items]


class PriceListScope(Resource):
    """Who the list applies to; an empty field matches everyone (most specific list wins)."""

    account_id: Id = ""
    customer_group: Id = ""
    channel: Id = ""
    country: str = Field("", max_length=2)
    currency: Code = Field("", description="when set, every entry must be in it")


class PriceList(Resource):
    id: str = Field(
        "", max_length=64, description="client-chosen: lower-case letters, digits, '.', '_', '-'; on PUT the path's"
    )
    name: str = Field(max_length=200)
    kind: str = Field(description="sale (used when below the base price) or override (used whatever it is)")
    scope: PriceListScope | None = None
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = Field(None, description="exclusive")
    priority: Int32 = Field(0, description="higher wins among equally specific lists")
    active: bool = True
    created_at: str | None = Field(None, description=OUTPUT)
    updated_at: str | None = Field(None, description=OUTPUT)


class PriceTier(Resource):
    min_quantity: int = Field(ge=1, le=1_000_000, description="the tier applies from this quantity on")
    unit_price: MoneyBody


class PriceListEntry(Resource):
    sku: Id
    tiers: list[PriceTier] = Field(max_length=100, description="one tier from 1: a flat price")


class NewPriceList(PriceList):
    entries: list[PriceListEntry] = Field(default_factory=list, max_length=1000)


class PriceListDetail(BaseModel):
    price_list: PriceList
    entries: list[PriceListEntry] = Field(description="ordered by SKU")


class PriceListPage(BaseModel):
    price_lists: list[PriceList]
    next_page_token: str


class EntriesBody(Resource):
    entries: list[PriceListEntry] = Field(max_length=1000, description="1 to 1000, each SKU at most once")


class EntriesWritten(BaseModel):
    entries: int = Field(description="SKUs written")


class EntriesDeleted(BaseModel):
    deleted: int = Field(description="SKUs that had entries")


class Promotion(Resource):
    output_only = frozenset({"created_at"})
    id: str = Field(max_length=64)
    name: str = Field(max_length=200)
    kind: str = Field(description="percent (percent_bp) or amount (amount_off)")
    percent_bp: int = Field(0, ge=0, le=10_000, description="percent: 1 to 10000 basis points (1000 = 10%)")
    amount_off: MoneyBody | None = None
    target: str = Field(description="order, or products (the lines of `skus`)")
    skus: Skus = Field(default_factory=list)
    min_spend: MoneyBody | None = None
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    automatic: bool = Field(False, description="applies without a coupon")
    active: bool = True
    created_at: str | None = Field(None, description=OUTPUT)


class PromotionPage(BaseModel):
    promotions: list[Promotion]
    next_page_token: str


class Coupon(Resource):
    output_only = frozenset({"created_at", "times_used"})
    code: str = Field(max_length=64, description="3-64 of A-Z 0-9 _ -, case-insensitive")
    promotion_id: str = Field(max_length=64)
    usage_limit_total: Int32 = Field(0, description="0: unlimited")
    usage_limit_per_customer: Int32 = Field(0, description="0: unlimited")
    times_used: Int32 = Field(0, description=OUTPUT)
    active: bool = True
    created_at: str | None = Field(None, description=OUTPUT)


class ExchangeRate(Resource):
    """1 unit of base_currency is `rate` units of quote_currency."""

    base_currency: Code
    quote_currency: Code
    rate: str = Field(max_length=32, description='positive decimal, up to 12 decimals, e.g. "0.9215"')
    updated_at: str | None = Field(None, description=OUTPUT)


class RateBody(Resource):
    rate: str = Field(max_length=32, description='positive decimal, up to 12 decimals, e.g. "0.9215"')


class ExchangeRates(BaseModel):
    rates: list[ExchangeRate]


class DynamicRule(Resource):
    """Base prices that follow stock: raised below low_stock_threshold, lowered above
    high_stock_threshold, within [floor_bp, ceiling_bp] of the anchor, by at most max_step_bp a step."""

    id: str = Field("", max_length=64, description="on PUT the path's id")
    name: str = Field(max_length=200)
    skus: Skus
    currency: Code = Field("", description="empty: every currency of the SKUs' base prices")
    low_stock_threshold: int | None = Field(None, ge=0, le=1_000_000_000)
    raise_bp: BasisPoints = 0
    high_stock_threshold: int | None = Field(None, ge=0, le=1_000_000_000)
    lower_bp: BasisPoints = 0
    floor_bp: BasisPoints = 10_000
    ceiling_bp: BasisPoints = 10_000
    max_step_bp: BasisPoints = 10_000
    cooldown_seconds: Int32 = 0
    enabled: bool = True
    created_at: str | None = Field(None, description=OUTPUT)
    updated_at: str | None = Field(None, description=OUTPUT)


class DynamicRulePage(BaseModel):
    rules: list[DynamicRule]
    next_page_token: str


class MoneyOut(BaseModel):
    amount: int
    currency: str


class PriceChange(Resource):
    id: int
    sku: str
    old_price: MoneyOut | None = Field(description="null when the price was new")
    new_price: MoneyOut | None
    cause: str = Field(description="base_price_set (an admin or an import) or dynamic (a rule)")
    rule_id: str
    triggering_event_id: str
    total_available: int
    changed_at: str | None


class PriceChangePage(BaseModel):
    changes: list[PriceChange] = Field(description="newest first")
    next_page_token: str
