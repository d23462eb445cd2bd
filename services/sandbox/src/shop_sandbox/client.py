"""The sandbox's client library now lives with the payment port (`shop_payments.sandbox.client`);
this name stays for the storefront tooling and tests that tokenise cards with it."""

from shop_payments.sandbox import client as _library
from shop_payments.sandbox.client import *  # noqa: F403

__all__ = _library.__all__
