"""Checks of client input shared by the use cases (field names are the HTTP/JSON names)."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from shop_gateway.app import models
from shopkit.errors import FieldViolation, InvalidArgument, Violations
from shopkit.identifiers import check_country

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_NOTE = 2000
MAX_INT64 = 2**63 - 1  # versions and other int64 fields of the services' messages
MAX_INT32 = 2**31 - 1  # the int32 ones (quote versions, priorities, limits)
MAX_VERSION_DIGITS = len(str(MAX_INT64))
# A cart line's quantity: the most any service accepts for one SKU (the cart's own limit is lower).
MAX_QUANTITY = 1_000_000


def check_quantity(violations: Violations, quantity: int, *, least: int, field: str = "quantity") -> None:
    violations.check(least <= quantity <= MAX_QUANTITY, field, f"must be between {least} and {MAX_QUANTITY}")


def check_version(violations: Violations, version: int, field: str = "expected_version") -> None:
    """An optional version a client last saw (0: none)."""
    violations.check(0 <= version <= MAX_INT64, field, f"must be between 0 and {MAX_INT64}")


def set_timestamp(target: Timestamp, value: datetime, field: str) -> None:
    """`target` = `value`, or 400 for a time protobuf cannot hold (before year 1 in UTC, e.g.
    0001-01-01T00:00:00+23:59)."""
    try:
        target.FromDatetime(value)
    except (ValueError, OverflowError):
        raise InvalidArgument([FieldViolation(field, "is not a time the API can record")]) from None


def version_of_etag(if_match: str | None, what: str) -> int:
    """The version an If-Match header names (an ETag such as "3" or W/"3"); 0 without one."""
    if not if_match:
        return 0
    value = if_match.strip().removeprefix("W/").strip('"')
    # ASCII digits only (str.isdigit also takes "²" and other scripts' digits), within int64.
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_VERSION_DIGITS and int(value) <= MAX_INT64):
        raise InvalidArgument([FieldViolation("If-Match", f'must be an ETag of the {what}, e.g. "3"')])
    return int(value)


def check_page(violations: Violations, page_size: int, field: str = "page_size") -> int:
    """The page size to ask for: 0 means the default."""
    violations.check(0 <= page_size <= MAX_PAGE_SIZE, field, f"must be between 1 and {MAX_PAGE_SIZE}")
    return page_size or DEFAULT_PAGE_SIZE


def check_address(violations: Violations, address: models.Address, field: str) -> None:
    for name in ("name", "line1", "city", "postal_code"):
        value = getattr(address, name)
        violations.check(bool(value.strip()), f"{field}.{name}", "is required")
    for name in ("name", "line1", "line2", "city", "region", "postal_code", "phone"):
        violations.check(len(getattr(address, name)) <= 200, f"{field}.{name}", "must be at most 200 characters")
    check_country(violations, address.country, f"{field}.country")


def check_note(violations: Violations, note: str, *, required: bool = False) -> None:
    violations.check(not required or bool(note.strip()), "note", "is required")
    violations.check(len(note) <= MAX_NOTE, "note", f"must be at most {MAX_NOTE} characters")
