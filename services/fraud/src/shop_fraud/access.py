"""Who may call which method of the fraud service (see shopkit.access): the gateway for its clients,
checkout for assessments and the decisions it confirms, the operators' tooling for administration
and reads."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

CALLERS: Callers = {
    "Assess": allow("checkout"),
    "GetAssessment": allow(GATEWAY, TOOLING),
    "ListReviews": allow(GATEWAY, TOOLING),
    "GetReview": allow("checkout", GATEWAY, TOOLING),
    "ApproveReview": allow(GATEWAY, TOOLING),
    "RejectReview": allow(GATEWAY, TOOLING),
    # A customer's personal data: the gateway (the customer, an admin) and tooling.
    "ExportCustomerData": allow(GATEWAY, TOOLING),
    "EraseCustomer": allow(GATEWAY, TOOLING),
}
