"""Formats of identifiers that cross service boundaries, so every service accepts the same ones."""

from __future__ import annotations

import re

from shopkit.errors import Violations

# Catalog owns SKUs; pricing, inventory, cart and order accept exactly what catalog accepts.
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SKU_RULE = "must be 1-64 of A-Z a-z 0-9 . _ -, starting alphanumeric"
COUNTRY = re.compile(r"^[A-Z]{2}$")
COUNTRY_RULE = "must be an ISO-3166-1 alpha-2 code like DE"
# Client-chosen ids that make a write idempotent (reservation id, idempotency key, request id).
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
REQUEST_ID_RULE = "must be 1-128 of A-Z a-z 0-9 . _ : / -, starting alphanumeric"
# A checkout's Idempotency-Key: a request id long enough not to collide by accident.
IDEMPOTENCY_KEY_RULE = "must be 8-128 of A-Z a-z 0-9 . _ : / -, starting alphanumeric"


def is_sku(value: str) -> bool:
    return SKU.match(value) is not None


def check_sku(violations: Violations, value: str, field: str) -> None:
    violations.check(is_sku(value), field, SKU_RULE)


def check_country(violations: Violations, value: str, field: str, *, optional: bool = False) -> None:
    violations.check((optional and not value) or COUNTRY.match(value) is not None, field, COUNTRY_RULE)


def check_request_id(violations: Violations, value: str, field: str) -> None:
    violations.check(REQUEST_ID.match(value) is not None, field, REQUEST_ID_RULE)


def check_idempotency_key(violations: Violations, value: str, field: str) -> None:
    violations.check(len(value) >= 8 and REQUEST_ID.match(value) is not None, field, IDEMPOTENCY_KEY_RULE)
