"""The payment port (`port`) and its adapters: the payment sandbox and Stripe; `connect` picks one."""

from shop_payments.port import (
    Authorisation,
    AuthorisationStatus,
    Card,
    Conflict,
    Declined,
    InvalidRequest,
    NextAction,
    NotFound,
    PaymentError,
    PaymentProvider,
    Refund,
    Unavailable,
)
from shop_payments.settings import PaymentSettings, connect

__all__ = [
    "Authorisation",
    "AuthorisationStatus",
    "Card",
    "Conflict",
    "Declined",
    "InvalidRequest",
    "NextAction",
    "NotFound",
    "PaymentError",
    "PaymentProvider",
    "PaymentSettings",
    "Refund",
    "Unavailable",
    "connect",
]
