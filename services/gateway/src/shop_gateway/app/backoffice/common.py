"""What every back-office use case checks: the staff roles, an Idempotency-Key where money or stock moves,
and the bounds of texts, lists and quantities (the services check again; these name the client's fields)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from shop_gateway.app.access import require_role
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import Principal
from shopkit.errors import FieldViolation, InvalidArgument, Violations
from shopkit.identifiers import check_idempotency_key

ADMIN = ("admin",)
ANALYSTS = ("fraud_analyst", "admin")
MAX_ID = 128
MAX_TEXT = 2000
MAX_ENTRIES = 1000  # entries of one stock or price-list write (the services' own limit)
MAX_SKUS = 200  # SKUs of one stock-level read (inventory's limit)
IDEMPOTENCY_FIELD = "idempotency_key"  # over HTTP the Idempotency-Key header


def require_admin(who: Principal) -> Principal:
    return require_role(who, ADMIN)


def require_analyst(who: Principal) -> Principal:
    return require_role(who, ANALYSTS)


def require_key(violations: Violations, key: str) -> None:
    """A write of money or stock needs its client's key: a retry then does nothing twice."""
    if not key:
        error = InvalidArgument(
            [FieldViolation(IDEMPOTENCY_FIELD, "is required (over HTTP: the Idempotency-Key header)")]
        )
        error.reason = "IDEMPOTENCY_KEY_REQUIRED"
        raise error
    check_idempotency_key(violations, key, IDEMPOTENCY_FIELD)


def check_text(violations: Violations, value: str, field: str, *, limit: int = MAX_ID, required: bool = False) -> None:
    violations.check(not required or bool(value.strip()), field, "is required")
    violations.check(len(value) <= limit, field, f"must be at most {limit} characters")


def check_count(violations: Violations, items: Sequence[object], field: str, *, least: int, most: int) -> None:
    violations.check(least <= len(items) <= most, field, f"must hold {least} to {most} items")


@contextmanager
def changing(shop: Shop, service: str, fields: Mapping[str, str] | None = None) -> Iterator[None]:
    """A write of data that public answers show (stock, stores, prices): the gateway's cached public
    answers are dropped whatever the outcome (a deadline may pass after the change was made)."""
    with upstream(service, fields):
        try:
            yield
        finally:
            shop.catalog_changed()
