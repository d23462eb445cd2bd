"""What the customers service decides: what a profile, an address and a saved payment method may
hold, and who may touch whose record. Plain dataclasses and functions, no I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from shopkit.auth import ADMIN_ROLES, Caller
from shopkit.errors import Aborted, PermissionDenied, Violations
from shopkit.identifiers import REQUEST_ID, check_country, check_request_id
from shopkit.money import is_currency

SHOPPER_ROLES = ("customer", "b2b_buyer", "b2b_approver")
MAX_ADDRESSES = 20
MAX_PAYMENT_METHODS = 20
MAX_CUSTOMER_ID = 128
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ()\-]{3,32}$")
LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# Longest text of each field (characters).
LIMITS = {
    "display_name": 100,
    "email": 254,
    "label": 50,
    "name": 100,
    "line1": 200,
    "line2": 200,
    "city": 100,
    "region": 50,
    "postal_code": 20,
}


def customer_of(who: Caller, requested: str) -> str:
    """The customer a call is about: a shopper's own (naming another is refused), or the one the
    operators' tooling names."""
    if who.role in SHOPPER_ROLES:
        if not who.customer_id:
            raise PermissionDenied("the token names no customer", reason="CUSTOMER_REQUIRED")
        if requested and requested != who.customer_id:
            raise PermissionDenied("a shopper reads and changes their own account alone", reason="NOT_OWN_ACCOUNT")
        return who.customer_id
    if who.role in ADMIN_ROLES:
        violations = Violations()
        violations.check(bool(requested), "customer_id", "required")
        violations.check(len(requested) <= MAX_CUSTOMER_ID, "customer_id", f"at most {MAX_CUSTOMER_ID} characters")
        violations.raise_if_any()
        return requested
    raise PermissionDenied(
        f"this operation needs one of the roles {', '.join((*SHOPPER_ROLES, *ADMIN_ROLES))}",
        reason="ROLE_REQUIRED",
        metadata={"role": who.role or "anonymous"},
    )


def check_version(expected: int, actual: int, what: str) -> None:
    if expected and expected != actual:
        raise Aborted(
            f"the {what} changed (version {actual}, expected {expected}): read it again",
            reason="VERSION_MISMATCH",
            metadata={"expected_version": str(expected), "version": str(actual)},
        )


def _text(violations: Violations, value: str, field: str, path: str = "") -> None:
    limit = LIMITS[field]
    violations.check(len(value) <= limit, f"{path}{field}", f"at most {limit} characters")


@dataclass(frozen=True)
class Profile:
    customer_id: str
    display_name: str = ""
    email: str = ""
    phone: str = ""
    locale: str = ""
    currency: str = ""
    country: str = ""
    marketing_consent: bool = False
    marketing_consent_at: datetime | None = None
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ProfileChange:
    """The fields an update sets (None: unchanged)."""

    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    currency: str | None = None
    country: str | None = None
    marketing_consent: bool | None = None

    def check(self) -> None:
        v = Violations()
        if self.display_name is not None:
            _text(v, self.display_name, "display_name")
        if self.email:
            v.check(len(self.email) <= LIMITS["email"] and bool(EMAIL.match(self.email)), "email", "an e-mail address")
        if self.phone:
            v.check(bool(PHONE.match(self.phone)), "phone", "at most 32 of + 0-9 space ( ) -")
        if self.locale:
            v.check(len(self.locale) <= 35 and bool(LOCALE.match(self.locale)), "locale", "a BCP 47 tag like en-US")
        if self.currency:
            v.check(is_currency(self.currency), "currency", "an ISO-4217 code like EUR")
        if self.country:
            check_country(v, self.country, "country")
        v.raise_if_any()

    def apply(self, profile: Profile, now: datetime) -> Profile:
        """The profile with the change; the same object when nothing changes (no new version)."""
        fields = {k: getattr(self, k) for k in ProfileChange.__dataclass_fields__ if getattr(self, k) is not None}
        changed = {k: value for k, value in fields.items() if getattr(profile, k) != value}
        if not changed:
            return profile
        if "marketing_consent" in changed:
            changed["marketing_consent_at"] = now
        return replace(profile, **changed, version=profile.version + 1, updated_at=now)


@dataclass(frozen=True)
class PostalAddress:
    name: str
    line1: str
    city: str
    country: str
    line2: str = ""
    region: str = ""
    postal_code: str = ""
    phone: str = ""

    def check(self, v: Violations, path: str = "address.") -> None:
        for field in ("name", "line1", "city"):
            v.check(bool(getattr(self, field).strip()), f"{path}{field}", "required")
        for field in ("name", "line1", "line2", "city", "region", "postal_code"):
            _text(v, getattr(self, field), field, path)
        check_country(v, self.country, f"{path}country")
        if self.phone:
            v.check(bool(PHONE.match(self.phone)), f"{path}phone", "at most 32 of + 0-9 space ( ) -")


@dataclass(frozen=True)
class SavedAddress:
    address_id: uuid.UUID
    customer_id: str
    label: str
    address: PostalAddress
    default_shipping: bool
    default_billing: bool
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class NewAddress:
    request_id: str
    label: str
    address: PostalAddress
    default_shipping: bool
    default_billing: bool

    def check(self) -> None:
        v = Violations()
        check_request_id(v, self.request_id, "request_id")
        _text(v, self.label, "label")
        self.address.check(v)
        v.raise_if_any()


@dataclass(frozen=True)
class AddressChange:
    label: str | None = None
    address: PostalAddress | None = None
    default_shipping: bool | None = None
    default_billing: bool | None = None

    def check(self) -> None:
        v = Violations()
        if self.label is not None:
            _text(v, self.label, "label")
        if self.address is not None:
            self.address.check(v)
        v.raise_if_any()

    def apply(self, saved: SavedAddress, now: datetime) -> SavedAddress:
        changed = replace(
            saved,
            label=saved.label if self.label is None else self.label,
            address=self.address or saved.address,
            default_shipping=saved.default_shipping if self.default_shipping is None else self.default_shipping,
            default_billing=saved.default_billing if self.default_billing is None else self.default_billing,
        )
        if changed == saved:
            return saved
        return replace(changed, version=saved.version + 1, updated_at=now)


@dataclass(frozen=True)
class SavedPaymentMethod:
    payment_method_id: str
    customer_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: datetime | None = None


def check_payment_method_id(payment_method_id: str) -> None:
    v = Violations()
    v.check(bool(payment_method_id), "payment_method_id", "required")
    # A provider's token is an opaque id of the request-id alphabet (as checkout takes it).
    v.check(
        not payment_method_id or REQUEST_ID.match(payment_method_id) is not None,
        "payment_method_id",
        "must be a payment method id of the payment provider (1-128 of A-Z a-z 0-9 . _ : / -)",
    )
    v.raise_if_any()
