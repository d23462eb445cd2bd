"""Every back-office router, in the order the document lists them."""

from __future__ import annotations

from fastapi import APIRouter

from shop_gateway.httpapi.backoffice.fraud import reviews
from shop_gateway.httpapi.backoffice.inventory import locations
from shop_gateway.httpapi.backoffice.orders import staff_orders
from shop_gateway.httpapi.backoffice.pricing import prices

ROUTERS: tuple[APIRouter, ...] = (staff_orders, locations, reviews, prices)
