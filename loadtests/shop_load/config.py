"""Where the load goes: every address can be overridden by an environment variable."""

from __future__ import annotations

import os

GATEWAY_URL = os.environ.get("SHOP_GATEWAY_URL", "http://localhost:8080").rstrip("/")
SANDBOX_URL = os.environ.get("SHOP_SANDBOX_URL", "https://localhost:8090").rstrip("/")
# With an https SHOP_SANDBOX_URL: the CA (PEM) the sandbox's certificate is checked against, alone.
SANDBOX_CA_FILE = os.environ.get("SHOP_SANDBOX_CA_FILE", "")
GATEWAY_GRPC = os.environ.get("SHOP_GATEWAY_GRPC", "localhost:9090")

# Demo catalogue terms that find products (the seeded data is outdoor and apparel goods).
SEARCH_TERMS = ("trail", "classic", "jacket", "running", "wool", "lightweight")

# Problem codes that mean "the stock ran out": an expected answer under load, not an error.
STOCK_CODES = frozenset({"INSUFFICIENT_STOCK", "OUT_OF_STOCK"})
# A checkout of a cart whose lines the cart already knows to be unavailable: expected when every
# reason it gives (its preconditions) is one of STOCK_CODES.
CART_NOT_CHECKOUTABLE = "CART_NOT_CHECKOUTABLE"

# Units of the flash sale's hot SKU, set at test start (see shop_load/flash_sale.py).
FLASH_SALE_UNITS = int(os.environ.get("SHOP_FLASH_SALE_UNITS", "10"))

SHIPPING_ADDRESS = {
    "name": "Load Tester",
    "line1": "1 Main St",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "US",
}
# The taxed international order's destination (the demo: DE VAT included in EUR prices).
INTERNATIONAL_ADDRESS = {
    "name": "Last Tester",
    "line1": "Rosenthaler Str. 40",
    "city": "Berlin",
    "postal_code": "10178",
    "country": "DE",
}
TEST_CARD = "4242424242424242"
