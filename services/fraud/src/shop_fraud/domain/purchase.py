"""What a purchase looks like to fraud, and the normalised keys its velocity is counted under."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from shopkit.money import Money


class KeyKind(Enum):
    """What a velocity counter counts by."""

    CUSTOMER = "customer"
    EMAIL = "email"
    IP = "ip"
    DEVICE = "device"
    CARD = "card"


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    unit_price: Money


@dataclass(frozen=True)
class Purchase:
    """The input of an assessment (PurchaseContext). Countries are ISO-3166-1 alpha-2, empty when unknown."""

    email: str
    amount: Money
    ip: str
    lines: tuple[Line, ...]
    customer_id: str = ""
    account_id: str = ""
    account_created_at: datetime | None = None
    ip_country: str = ""
    device_id: str = ""
    card_fingerprint: str = ""
    card_country: str = ""
    billing_country: str = ""
    shipping_country: str = ""
    channel: str = ""

    @property
    def is_guest(self) -> bool:
        return not self.customer_id

    @property
    def email_domain(self) -> str:
        return self.email.rpartition("@")[2].lower()

    @property
    def buyer(self) -> str:
        """Who buys: the customer, or a guest identified by their normalised email."""
        return self.customer_id or f"guest:{normalise_email(self.email)}"


# Providers where dots in the local part are ignored, so a.b@ and ab@ are one mailbox.
_DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def normalise_email(email: str) -> str:
    """One key per mailbox: lower case, without a +tag, and without dots where the provider ignores them.
    Fraudsters vary exactly these to look like many buyers."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _DOTLESS_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def network_of(ip: str) -> str:
    """The counting unit of an IP: the address for IPv4, the /64 for IPv6 (one subscriber gets a /64)."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def counter_keys(purchase: Purchase) -> list[tuple[KeyKind, str]]:
    """The keys a purchase is counted under (kinds the purchase has no value for are left out)."""
    keys = [(KeyKind.EMAIL, normalise_email(purchase.email)), (KeyKind.IP, network_of(purchase.ip))]
    if purchase.customer_id:
        keys.append((KeyKind.CUSTOMER, purchase.customer_id))
    if purchase.device_id:
        keys.append((KeyKind.DEVICE, purchase.device_id))
    if purchase.card_fingerprint:
        keys.append((KeyKind.CARD, purchase.card_fingerprint))
    return keys


def digest(secret: bytes, kind: str, value: str) -> bytes:
    """The stored form of a counter key: a keyed hash, so counters hold no raw emails, IPs or cards."""
    return hmac.new(secret, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()[:16]


@dataclass(frozen=True)
class Hasher:
    """Turns counter keys into their stored digests with the service's secret."""

    secret: bytes

    def key(self, kind: KeyKind, value: str) -> bytes:
        return digest(self.secret, kind.value, value)

    def keys(self, purchase: Purchase) -> list[tuple[KeyKind, bytes]]:
        return [(kind, self.key(kind, value)) for kind, value in counter_keys(purchase)]

    def buyer(self, purchase: Purchase) -> bytes:
        return digest(self.secret, "buyer", purchase.buyer)
