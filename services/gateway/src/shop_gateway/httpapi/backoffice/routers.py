"""Every back-office router, in the order the document lists them, and the uploads they stream."""

from __future__ import annotations

from fastapi import APIRouter

from shop_gateway.httpapi.backoffice.catalog import UPLOAD, imports
from shop_gateway.httpapi.backoffice.feeds import PRICE_FEEDS, STOCK_FEEDS, price_feeds, stock_feeds
from shop_gateway.httpapi.backoffice.fraud import reviews
from shop_gateway.httpapi.backoffice.inventory import locations
from shop_gateway.httpapi.backoffice.orders import staff_orders
from shop_gateway.httpapi.backoffice.pricing import prices
from shop_gateway.httpapi.backoffice.search import projection
from shop_gateway.httpapi.backoffice.webhooks import hooks

ROUTERS: tuple[APIRouter, ...] = (
    staff_orders,
    locations,
    reviews,
    prices,
    imports,
    projection,
    hooks,
    stock_feeds,
    price_feeds,
)
# Read as they arrive and bounded by their routes (IMPORT_MAX_BYTES, FEED_MAX_BYTES), not by
# MAX_REQUEST_BODY_BYTES.
STREAMED_PATHS = frozenset({UPLOAD, STOCK_FEEDS, PRICE_FEEDS})
