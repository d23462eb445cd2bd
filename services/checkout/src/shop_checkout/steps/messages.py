"""The customer's messages that step calls of more than one peer give: for failures a call decides
itself (the saga's messages for the failures it decides are `domain.transitions.MESSAGES`), and
for a pickup store that cannot take the order.
"""

from __future__ import annotations

from shop_checkout.domain.model import FailureCode


def failure_message(code: FailureCode) -> str:
    return {
        FailureCode.INTERNAL: "Something went wrong; nothing was charged. Please try again.",
        FailureCode.PAYMENT_METHOD_INVALID: "The payment method cannot be used; please choose another one.",
        FailureCode.PAYMENT_ERROR: "The payment could not be processed; nothing was charged.",
        FailureCode.ORDER_CANCELLED: "The order was cancelled; nothing was charged.",
        FailureCode.STOCK_COMMIT_FAILED: "The items could not be set aside in time; nothing was charged.",
    }[code]


def pickup_message(store_id: str) -> str:
    return f"Pickup is not available at store {store_id!r}."
