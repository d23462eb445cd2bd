"""What every use case works with: the backend stubs, the settings, and small shared caches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shop_gateway.app import mapping, models
from shop_gateway.app.errors import upstream
from shop_gateway.app.guest_tokens import OrderTokens
from shop_gateway.backends import Backends
from shop_gateway.principal import Principal
from shop_gateway.public_cache import PublicCache
from shop_gateway.settings import GatewaySettings
from shopkit.auth import metadata_for

SERVICE_IDENTITY = metadata_for("service")
CATEGORY_CACHE_SECONDS = 60.0


@dataclass
class _Categories:
    items: list[models.Category] = field(default_factory=list)
    fetched_at: float | None = None


@dataclass
class Shop:
    backends: Backends
    settings: GatewaySettings
    _categories: _Categories = field(default_factory=_Categories)
    public_cache: PublicCache = field(init=False)
    order_tokens: OrderTokens = field(init=False)  # guests' order tokens and their lookups' limits

    def __post_init__(self) -> None:
        self.public_cache = PublicCache(
            self.settings.public_cache_seconds,
            self.settings.public_cache_max_entries,
            self.settings.public_cache_max_body_bytes,
        )
        self.order_tokens = OrderTokens(self.settings)

    def customer_context(self, who: Principal) -> common_pb2.CustomerContext:
        """The pricing/cart context of a caller, as the gateway asserts it."""
        return common_pb2.CustomerContext(
            customer_id=who.subject,
            customer_group=who.customer_group,
            account_id=who.account_id,
            channel=who.channel,
            country=who.country or self.settings.default_country,
            currency=who.currency or self.settings.default_currency,
        )

    def currency(self, who: Principal) -> str:
        return who.currency or self.settings.default_currency

    async def categories(self) -> list[models.Category]:
        """The category tree (cached briefly: it changes rarely and slugs resolve through it)."""
        cached = self._categories
        if cached.fetched_at is not None and time.monotonic() - cached.fetched_at < CATEGORY_CACHE_SECONDS:
            return cached.items
        items: list[models.Category] = []
        token = ""
        while True:
            request = catalog_pb2.ListCategoriesRequest(page=common_pb2.PageRequest(page_size=500, page_token=token))
            with upstream("catalog"):
                response = await self.backends.catalog.ListCategories(request)
            items.extend(mapping.category(c) for c in response.categories)
            token = response.page.next_page_token
            if not token:
                break
        self._categories = _Categories(items, time.monotonic())
        return items

    def forget_categories(self) -> None:
        self._categories = _Categories()

    def catalog_changed(self) -> None:
        """This gateway changed catalog, price or stock data: cached public answers are out of date."""
        self.public_cache.purge()
