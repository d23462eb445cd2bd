"""The account's credit for invoice orders: weighed once the quote gives the total, before anything
is reserved (order's GetAccountCredit), so that a buyer past the limit gets a clear answer and no
stock is held; and order's own refusal at CreateOrder (the atomic check under the account's lock,
which a concurrent checkout of the same account can reach first), which the saga compensates.
"""

from __future__ import annotations

from shop.order.v1 import order_pb2
from shop_checkout.domain.model import Checkout, FailureCode, InvoicePayment, StepKind
from shop_checkout.domain.outcomes import Failed
from shop_checkout.peers import PeerError, Peers
from shopkit.money import Money, minor_units

CREDIT_LIMIT_EXCEEDED = "CREDIT_LIMIT_EXCEEDED"
INVOICES_OVERDUE = "INVOICES_OVERDUE"


def _amount(money: Money) -> str:
    digits = minor_units(money.currency)
    return f"{money.amount / 10**digits:,.{digits}f} {money.currency}"


def over_limit_message(open_balance: Money, total: Money, limit: Money) -> str:
    available = Money(max(limit.amount - open_balance.amount, 0), limit.currency)
    return (
        f"This order ({_amount(total)}) exceeds your account's available credit ({_amount(available)} of "
        f"{_amount(limit)}; {_amount(open_balance)} is owed on open invoices). Pay open invoices or pay by card."
    )


OVERDUE_MESSAGE = "Your account has overdue invoices: pay them before placing invoice orders, or pay by card."


async def precheck(peers: Peers, c: Checkout, total: Money) -> Failed | None:
    """A Failed QUOTE_PRICES outcome when an invoice order of this total cannot be placed now."""
    request = c.request
    account_id = request.customer.account_id
    if not isinstance(request.payment, InvoicePayment) or not account_id:
        return None
    answer = await peers.call(
        "order", peers.order.GetAccountCredit, order_pb2.GetAccountCreditRequest(account_id=account_id)
    )
    if answer.overdue_count:
        return Failed(StepKind.QUOTE_PRICES, FailureCode.INVOICES_OVERDUE, OVERDUE_MESSAGE)
    limit = request.credit_limit
    if limit is None:
        return None
    if limit.currency != total.currency:
        message = f"Your account's credit is in {limit.currency}: pay this {total.currency} order by card."
        return Failed(StepKind.QUOTE_PRICES, FailureCode.CREDIT_LIMIT_EXCEEDED, message)
    owed = next((m.amount for m in answer.open_balance if m.currency == total.currency), 0)
    if owed + total.amount > limit.amount:
        message = over_limit_message(Money(owed, total.currency), total, limit)
        return Failed(StepKind.QUOTE_PRICES, FailureCode.CREDIT_LIMIT_EXCEEDED, message)
    return None


def refusal(exc: PeerError) -> Failed | None:
    """Order refusing an invoice order at CreateOrder (another checkout of the account took the credit
    first, or an invoice fell overdue since the pre-check): a definitive failure to compensate."""
    if exc.reason == INVOICES_OVERDUE:
        return Failed(StepKind.CREATE_ORDER, FailureCode.INVOICES_OVERDUE, OVERDUE_MESSAGE)
    if exc.reason == CREDIT_LIMIT_EXCEEDED:
        meta = exc.info.metadata
        currency = meta.get("currency", "")
        if meta.get("order_currency", currency) != currency:
            message = f"Your account's credit is in {currency}: pay this order by card."
            return Failed(StepKind.CREATE_ORDER, FailureCode.CREDIT_LIMIT_EXCEEDED, message)
        try:
            owed, total, limit = (
                Money(int(meta[k]), currency) for k in ("open_balance", "order_total", "credit_limit")
            )
        except (KeyError, ValueError):
            return Failed(StepKind.CREATE_ORDER, FailureCode.CREDIT_LIMIT_EXCEEDED, "This order exceeds your credit.")
        return Failed(StepKind.CREATE_ORDER, FailureCode.CREDIT_LIMIT_EXCEEDED, over_limit_message(owed, total, limit))
    return None
