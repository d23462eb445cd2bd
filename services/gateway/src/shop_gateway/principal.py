"""Who is calling the gateway: the identity a verified token establishes, and the client's network facts."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import datetime

from shopkit.auth import metadata_for
from shopkit.errors import FieldViolation, InvalidArgument
from shopkit.money import Money

# Roles a token may carry (`service` is for calls inside the cluster, never for clients). `sales`: the
# shop's sales users, who answer B2B quote requests (app.quotes).
CLIENT_ROLES = ("customer", "b2b_buyer", "b2b_approver", "admin", "fraud_analyst", "store_staff", "sales")
SHOPPER_ROLES = ("customer", "b2b_buyer", "b2b_approver")
B2B_ROLES = ("b2b_buyer", "b2b_approver")


@dataclass(frozen=True)
class Principal:
    """The caller. `subject` is empty for an anonymous client (no token); an anonymous client that
    holds a guest cart (its id, an unguessable UUID, is the guest's only credential) is a guest."""

    subject: str = ""
    role: str = ""
    account_id: str = ""
    email: str = ""
    customer_group: str = ""
    country: str = ""
    currency: str = ""
    customer_since: datetime | None = None
    # B2B facts: from the account's company and the user's membership there (customers service,
    # app.companies.BuyingContexts), never from the token; a buyer without limits gets the settings'.
    approval_limit: Money | None = None
    approval_period: str = ""  # order, day, week or month
    order_limit: Money | None = None  # the member's per-order limit (counts beside a period limit)
    payment_terms_days: int | None = None  # invoice terms of the account; 0: no invoices
    guest_cart_id: str = ""  # a guest's cart (never set together with a subject)
    tax_id: str = ""  # the B2B account's tax (VAT) id: exempts its orders where the tax rule allows
    cost_centre: str = ""  # the member's cost centre in the company
    credit_limit: Money | None = None  # the company's
    company_role: str = ""  # buyer, approver or company_admin
    # store_staff: the inventory locations (stores, warehouses) they work at (the `shop_locations` claim)
    locations: tuple[str, ...] = ()
    # A machine client (OAuth 2.0 client credentials; see shop_gateway.scopes): its id and scopes.
    client_id: str = ""
    scopes: tuple[str, ...] = ()

    @property
    def authenticated(self) -> bool:
        return bool(self.subject)

    @property
    def is_guest(self) -> bool:
        return bool(self.guest_cart_id) and not self.subject

    @property
    def channel(self) -> str:
        return "b2b" if self.role in B2B_ROLES else "web"

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata that forwards this identity to the services."""
        if not self.authenticated:
            return ()
        return metadata_for(self.role, customer_id=self.subject, account_id=self.account_id)


ANONYMOUS = Principal()
# How a guest names its cart: an HTTP header, and the same key in gRPC metadata (lower case).
CART_TOKEN_HEADER = "X-Cart-Token"


def guest(cart_token: str) -> Principal:
    """The guest holding the cart that `cart_token` names (400 when it cannot be a cart id)."""
    try:
        cart_id = uuid.UUID(cart_token.strip())
    except ValueError:
        violation = FieldViolation(CART_TOKEN_HEADER, "must be the cart_id of a guest cart (a UUID)")
        raise InvalidArgument([violation]) from None
    return Principal(guest_cart_id=str(cart_id))


@dataclass(frozen=True)
class ClientInfo:
    """Network facts about the client, passed to checkout for fraud scoring."""

    ip: str = ""
    ip_country: str = ""
    device_id: str = ""


def parse_ip(value: str) -> str | None:
    """An IP address in its canonical form (IPv4-mapped IPv6 as IPv4); None when `value` is not one."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
