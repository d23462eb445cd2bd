"""Who may call which method of the customers service (see shopkit.access): the gateway on behalf
of a shopper, and the operators' tooling (support, the system tests); checkout resolves a B2B
order's approval chain. Consumers learn of changes from its events."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

_EDGE = allow(GATEWAY, TOOLING)

CALLERS: Callers = {
    "GetProfile": _EDGE,
    "UpdateProfile": _EDGE,
    "ListAddresses": _EDGE,
    "AddAddress": _EDGE,
    "UpdateAddress": _EDGE,
    "DeleteAddress": _EDGE,
    "ListPaymentMethods": _EDGE,
    "AddPaymentMethod": _EDGE,
    "DeletePaymentMethod": _EDGE,
    # A customer's personal data: the gateway (the customer, an admin) and tooling.
    "ExportCustomerData": _EDGE,
    "EraseCustomer": _EDGE,
    # B2B companies: administered through the gateway (admins; a company_admin member for their own
    # company's members) and by tooling; the gateway reads a member's buying context on B2B requests.
    "CreateCompany": _EDGE,
    "UpdateCompany": _EDGE,
    "GetCompany": _EDGE,
    "ListCompanies": _EDGE,
    "AddCompanyMember": _EDGE,
    "UpdateCompanyMember": _EDGE,
    "RemoveCompanyMember": _EDGE,
    "GetBuyingContext": _EDGE,
    # Approval rules: administered as members are; checkout resolves an order's chain from them.
    "CreateApprovalRule": _EDGE,
    "UpdateApprovalRule": _EDGE,
    "DeleteApprovalRule": _EDGE,
    "ListApprovalRules": _EDGE,
    "ResolveApprovalChain": allow("checkout", TOOLING),
}
