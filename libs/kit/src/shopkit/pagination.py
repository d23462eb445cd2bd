"""Opaque cursor page tokens (keyset pagination) and page-size limits."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from shopkit.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if requested < 0:
        raise InvalidArgument([FieldViolation("page.page_size", "must not be negative")])
    return min(requested or default, maximum)


def encode_token(cursor: dict[str, Any]) -> str:
    raw = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, field: str = "page.page_token") -> dict[str, Any] | None:
    """The cursor in `token`, None for the first page; a malformed token is INVALID_ARGUMENT."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument([FieldViolation(field, "is not a token this service issued")]) from exc
    if not isinstance(cursor, dict):
        raise InvalidArgument([FieldViolation(field, "is not a token this service issued")])
    return cursor
