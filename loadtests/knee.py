"""The load scenarios under a step-load shape that finds the knee (`make load-knee`; see shop_load/knee.py)."""

from shop_load import tags  # noqa: F401  (drops user classes a tag filter left without tasks)
from shop_load.grpc_user import StorefrontGrpcUser
from shop_load.guest import GuestShopper
from shop_load.http_users import B2BBuyer, Browser, FlashSale, Shopper
from shop_load.international import InternationalShopper
from shop_load.knee import StepLoad

__all__ = [
    "B2BBuyer",
    "Browser",
    "FlashSale",
    "GuestShopper",
    "InternationalShopper",
    "Shopper",
    "StepLoad",
    "StorefrontGrpcUser",
]
