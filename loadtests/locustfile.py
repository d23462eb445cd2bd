"""Load scenarios for the shop (see loadtests/README.md). Run: `make load`, or `locust -f loadtests/locustfile.py`."""

from shop_load import tags  # noqa: F401  (drops user classes a tag filter left without tasks)
from shop_load.account import AccountHolder
from shop_load.grpc_user import StorefrontGrpcUser
from shop_load.guest import GuestShopper
from shop_load.http_users import B2BBuyer, Browser, FlashSale, Shopper
from shop_load.international import InternationalShopper
from shop_load.returns import Returner

__all__ = [
    "AccountHolder",
    "B2BBuyer",
    "Browser",
    "FlashSale",
    "GuestShopper",
    "InternationalShopper",
    "Returner",
    "Shopper",
    "StorefrontGrpcUser",
]
