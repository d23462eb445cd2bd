"""What the customers service decides about B2B companies: what a company, its cost centres and its
members may hold, and what a change does. Plain dataclasses and functions, no I/O.

A company's amounts (credit limit, members' spending limits) are minor units of the company's
currency, fixed when it is created: limits in one currency compare with one another and with the
orders the company places."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from shopkit.errors import FailedPrecondition, Violations
from shopkit.identifiers import check_request_id
from shopkit.money import is_currency

ACCOUNT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
ACCOUNT_ID_RULE = "must be 2-63 of a-z 0-9 -, starting with a letter or digit"
COST_CENTRE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
COST_CENTRE_RULE = "must be 1-32 of A-Z a-z 0-9 . _ -, starting alphanumeric"
STATUSES = ("active", "suspended")
ROLES = ("buyer", "approver", "company_admin")
PERIODS = ("day", "week", "month")
MAX_NAME = 200
MAX_TAX_ID = 64
MAX_USER_ID = 128
MAX_PAYMENT_TERMS_DAYS = 365
MAX_AMOUNT = 99_999_999_999  # minor units: what the services behind the gateway can hold
MAX_COST_CENTRES = 200


def check_account_id(v: Violations, value: str, field: str = "account_id") -> None:
    v.check(bool(ACCOUNT_ID.match(value)), field, ACCOUNT_ID_RULE)


def check_user_id(v: Violations, value: str, field: str = "user_id") -> None:
    ok = 1 <= len(value) <= MAX_USER_ID and value.isprintable() and " " not in value
    v.check(ok, field, f"must be 1-{MAX_USER_ID} printable characters without spaces (a token subject)")


def _amount(v: Violations, value: int | None, field: str) -> None:
    v.check(value is None or 0 <= value <= MAX_AMOUNT, field, f"must be 0-{MAX_AMOUNT} minor units")


@dataclass(frozen=True)
class CostCentre:
    code: str
    name: str


def check_cost_centres(v: Violations, items: tuple[CostCentre, ...], path: str = "cost_centres") -> None:
    v.check(len(items) <= MAX_COST_CENTRES, path, f"at most {MAX_COST_CENTRES}")
    seen: set[str] = set()
    for i, item in enumerate(items):
        v.check(bool(COST_CENTRE.match(item.code)), f"{path}[{i}].code", COST_CENTRE_RULE)
        v.check(item.code not in seen, f"{path}[{i}].code", "appears twice")
        v.check(0 < len(item.name) <= MAX_NAME, f"{path}[{i}].name", f"required, at most {MAX_NAME} characters")
        seen.add(item.code)


@dataclass(frozen=True)
class Company:
    account_id: str
    name: str
    currency: str
    tax_id: str = ""
    payment_terms_days: int = 0
    credit_limit: int = 0
    status: str = "active"
    cost_centres: tuple[CostCentre, ...] = ()
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def has_cost_centre(self, code: str) -> bool:
        return any(c.code == code for c in self.cost_centres)


def _check_terms(v: Violations, name: str | None, tax_id: str | None, terms: int | None) -> None:
    if name is not None:
        v.check(0 < len(name) <= MAX_NAME, "name", f"required, at most {MAX_NAME} characters")
    if tax_id is not None:
        v.check(len(tax_id) <= MAX_TAX_ID and tax_id.isprintable(), "tax_id", f"at most {MAX_TAX_ID} characters")
    if terms is not None:
        v.check(0 <= terms <= MAX_PAYMENT_TERMS_DAYS, "payment_terms_days", f"must be 0-{MAX_PAYMENT_TERMS_DAYS}")


@dataclass(frozen=True)
class NewCompany:
    request_id: str
    company: Company

    def check(self) -> None:
        v = Violations()
        c = self.company
        check_request_id(v, self.request_id, "request_id")
        check_account_id(v, c.account_id)
        _check_terms(v, c.name, c.tax_id, c.payment_terms_days)
        v.check(is_currency(c.currency), "credit_limit.currency", "must be an ISO-4217 code like EUR")
        _amount(v, c.credit_limit, "credit_limit.amount")
        check_cost_centres(v, c.cost_centres)
        v.raise_if_any()


@dataclass(frozen=True)
class CompanyChange:
    """The fields an update sets (None: unchanged)."""

    name: str | None = None
    tax_id: str | None = None
    payment_terms_days: int | None = None
    credit_limit: tuple[int, str] | None = None  # amount, currency (must be the company's)
    status: str | None = None
    cost_centres: tuple[CostCentre, ...] | None = None

    def check(self) -> None:
        v = Violations()
        _check_terms(v, self.name, self.tax_id, self.payment_terms_days)
        if self.credit_limit is not None:
            _amount(v, self.credit_limit[0], "credit_limit.amount")
        v.check(self.status is None or self.status in STATUSES, "status", f"one of {', '.join(STATUSES)}")
        if self.cost_centres is not None:
            check_cost_centres(v, self.cost_centres, "cost_centres.items")
        v.raise_if_any()

    def apply(self, company: Company, in_use: set[str], now: datetime) -> Company:
        """The company with the change; the same object when nothing changes (no new version)."""
        fields: dict[str, object] = {
            k: getattr(self, k)
            for k in ("name", "tax_id", "payment_terms_days", "status", "cost_centres")
            if getattr(self, k) is not None
        }
        if self.credit_limit is not None:
            amount, currency = self.credit_limit
            if currency != company.currency:
                v = Violations()
                v.add("credit_limit.currency", f"must be the company's currency {company.currency}")
                v.raise_if_any()
            fields["credit_limit"] = amount
        if self.cost_centres is not None:
            kept = {c.code for c in self.cost_centres}
            if gone := sorted(in_use - kept):
                raise FailedPrecondition(
                    f"cost centres in use by members or approval rules cannot be removed: {', '.join(gone)}",
                    reason="COST_CENTRE_IN_USE",
                    metadata={"cost_centres": ",".join(gone)},
                )
        changed = {k: value for k, value in fields.items() if getattr(company, k) != value}
        if not changed:
            return company
        return replace(company, **changed, version=company.version + 1, updated_at=now)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Member:
    account_id: str
    user_id: str
    role: str
    cost_centre: str = ""
    order_limit: int | None = None
    period_limit: int | None = None
    limit_period: str = ""
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def check(self, company: Company, v: Violations) -> None:
        """Against its company: a known cost centre, a period with a period limit."""
        v.check(self.role in ROLES, "role", f"one of {', '.join(ROLES)}")
        if self.cost_centre:
            v.check(company.has_cost_centre(self.cost_centre), "cost_centre", "not a cost centre of the company")
        _amount(v, self.order_limit, "order_limit.amount")
        _amount(v, self.period_limit, "period_limit.amount")
        if self.period_limit is not None:
            v.check(self.limit_period in PERIODS, "limit_period", f"one of {', '.join(PERIODS)} with a period limit")
        else:
            v.check(not self.limit_period, "limit_period", "only with a period limit")


def check_limit_currency(v: Violations, currency: str | None, company: Company, field: str) -> None:
    if currency is not None:
        v.check(currency == company.currency, f"{field}.currency", f"must be the company's currency {company.currency}")


@dataclass(frozen=True)
class MemberChange:
    """The fields an update sets (None: unchanged); `clear_*` removes a limit."""

    role: str | None = None
    cost_centre: str | None = None
    order_limit: tuple[int, str] | None = None
    period_limit: tuple[int, str] | None = None
    limit_period: str | None = None
    clear_order_limit: bool = False
    clear_period_limit: bool = False

    def apply(self, member: Member, company: Company, now: datetime) -> Member:
        v = Violations()
        check_limit_currency(v, self.order_limit and self.order_limit[1], company, "order_limit")
        check_limit_currency(v, self.period_limit and self.period_limit[1], company, "period_limit")
        changed = replace(
            member,
            role=self.role if self.role is not None else member.role,
            cost_centre=self.cost_centre if self.cost_centre is not None else member.cost_centre,
            order_limit=None
            if self.clear_order_limit
            else (self.order_limit[0] if self.order_limit else member.order_limit),
            period_limit=None
            if self.clear_period_limit
            else (self.period_limit[0] if self.period_limit else member.period_limit),
            limit_period="" if self.clear_period_limit else (self.limit_period or member.limit_period),
        )
        changed.check(company, v)
        v.raise_if_any()
        if changed == member:
            return member
        return replace(changed, version=member.version + 1, updated_at=now)
