"""Who is calling the gateway: the identity a verified token establishes, and the client's network facts."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from shopkit.auth import metadata_for
from shopkit.money import Money

# Roles a token may carry (`service` is for calls inside the cluster, never for clients).
CLIENT_ROLES = ("customer", "b2b_buyer", "b2b_approver", "admin", "fraud_analyst", "store_staff")
SHOPPER_ROLES = ("customer", "b2b_buyer", "b2b_approver")
B2B_ROLES = ("b2b_buyer", "b2b_approver")


@dataclass(frozen=True)
class Principal:
    """The caller. `subject` is empty for an anonymous client (no token)."""

    subject: str = ""
    role: str = ""
    account_id: str = ""
    email: str = ""
    customer_group: str = ""
    country: str = ""
    currency: str = ""
    customer_since: datetime | None = None
    approval_limit: Money | None = None  # B2B account facts from the token; defaults from settings
    approval_period: str = ""  # order, day, week or month
    payment_terms_days: int | None = None  # invoice terms of the account; 0: no invoices
    tax_id: str = ""  # the B2B account's tax (VAT) id: exempts its orders where the tax rule allows

    @property
    def authenticated(self) -> bool:
        return bool(self.subject)

    @property
    def channel(self) -> str:
        return "b2b" if self.role in B2B_ROLES else "web"

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata that forwards this identity to the services."""
        if not self.authenticated:
            return ()
        return metadata_for(self.role, customer_id=self.subject, account_id=self.account_id)


ANONYMOUS = Principal()


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
