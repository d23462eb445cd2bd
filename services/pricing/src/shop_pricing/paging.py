"""Cursor pages of the admin list RPCs: fetch limit + 1 rows, the token names the last row shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from shopkit.errors import FieldViolation, InvalidArgument
from shopkit.pagination import decode_token, encode_token

T = TypeVar("T")


def split_page(items: list[T], limit: int, cursor: Callable[[T], dict[str, Any]]) -> tuple[list[T], str]:
    """Items were fetched with limit + 1: the extra one only says whether there is a next page."""
    if len(items) <= limit:
        return items, ""
    return items[:limit], encode_token(cursor(items[limit - 1]))


def cursor_value(token: str, key: str, kind: type[T], field: str = "page.page_token") -> T | None:
    cursor = decode_token(token, field)
    if cursor is None:
        return None
    value = cursor.get(key)
    if not isinstance(value, kind):
        raise InvalidArgument([FieldViolation(field, "is not a token this service issued")])
    return value
