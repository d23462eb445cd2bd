"""Who may call which method of the order service (see shopkit.access): the gateway for its clients,
checkout for the orders its sagas create and settle, the operators' tooling for administration and
reads."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

CALLERS: Callers = {
    "GetOrder": allow("checkout", "notifications", GATEWAY, TOOLING),
    "ListOrders": allow(GATEWAY, TOOLING),
    "CancelOrder": allow("checkout", GATEWAY, TOOLING),
    "ApproveOrder": allow(GATEWAY, TOOLING),
    "RejectOrder": allow(GATEWAY, TOOLING),
    "ListPendingApprovals": allow(GATEWAY, TOOLING),
    "FulfilOrder": allow(GATEWAY, TOOLING),
    "RefundOrder": allow(GATEWAY, TOOLING),
    # Returns: customers (their own orders) and store staff through the gateway.
    "RequestReturn": allow(GATEWAY, TOOLING),
    "ReceiveReturn": allow(GATEWAY, TOOLING),
    "InspectReturn": allow(GATEWAY, TOOLING),
    "GetReturn": allow(GATEWAY, TOOLING),
    "ListReturns": allow(GATEWAY, TOOLING),
    # A customer's personal data: the gateway (the customer, an admin) and tooling.
    "ExportCustomerData": allow(GATEWAY, TOOLING),
    "EraseCustomer": allow(GATEWAY, TOOLING),
    # Steps of a checkout's saga.
    "CreateOrder": allow("checkout"),
    "ReleaseFraudHold": allow("checkout"),
    "CapturePayment": allow("checkout"),
    # Invoices and credit: buyers and staff through the gateway; checkout weighs an invoice order
    # against the account's credit before it reserves stock.
    "GetInvoice": allow(GATEWAY, TOOLING),
    "ListInvoices": allow(GATEWAY, TOOLING),
    "RecordInvoicePayment": allow(GATEWAY, TOOLING),
    "GetAccountCredit": allow("checkout", GATEWAY, TOOLING),
}
