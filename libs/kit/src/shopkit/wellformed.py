"""Values no method can use, refused for every request before its handler runs.

A protobuf message can carry what no service can store or convert: a NUL character (PostgreSQL text
and JSONB cannot hold it), a Timestamp or Duration outside the range its own specification allows
(Python's datetime cannot represent it). Each would otherwise surface deep in a handler as a
server error; the server interceptor answers INVALID_ARGUMENT naming the field instead. Only the
fields a request sets are visited, so the usual small request costs a few microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from shopkit.errors import FieldViolation

TIMESTAMP = "google.protobuf.Timestamp"
DURATION = "google.protobuf.Duration"
# google/protobuf/timestamp.proto: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z; duration.proto: ±10,000 years.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
MAX_DURATION_SECONDS = 315_576_000_000
NANOS = 1_000_000_000
NUL = "\x00"


def violations(message: Message) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    _visit(message, "", found)
    return found


def _visit(message: Message, path: str, found: list[FieldViolation]) -> None:
    kind = message.DESCRIPTOR.full_name
    if kind == TIMESTAMP:
        _check_timestamp(message, path, found)
        return
    if kind == DURATION:
        _check_duration(message, path, found)
        return
    for field, value in message.ListFields():
        where = f"{path}.{field.name}" if path else field.name
        if field.type == FieldDescriptor.TYPE_MESSAGE and _is_map(field):
            _visit_map(field, value, where, found)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for item_path, item in _each(field, value, where):
                _visit(item, item_path, found)
        elif field.type == FieldDescriptor.TYPE_STRING:
            for item_path, text in _each(field, value, where):
                if NUL in text:
                    found.append(FieldViolation(item_path, "must not contain NUL"))


def _each(field: FieldDescriptor, value: Any, path: str) -> Iterable[tuple[str, Any]]:
    """(path, value) of a field's values: `path[i]` for each item of a repeated field."""
    if field.is_repeated:
        return ((f"{path}[{index}]", item) for index, item in enumerate(value))
    return ((path, value),)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _visit_map(field: FieldDescriptor, entries: Any, path: str, found: list[FieldViolation]) -> None:
    assert field.message_type is not None
    value_field = field.message_type.fields_by_name["value"]
    for key, value in entries.items():
        where = f"{path}[{key!r}]"
        if isinstance(key, str) and NUL in key:
            found.append(FieldViolation(path, "keys must not contain NUL"))
        if value_field.type == FieldDescriptor.TYPE_MESSAGE:
            _visit(value, where, found)
        elif isinstance(value, str) and NUL in value:
            found.append(FieldViolation(where, "must not contain NUL"))


def _check_timestamp(message: Any, path: str, found: list[FieldViolation]) -> None:
    if not (MIN_TIMESTAMP_SECONDS <= message.seconds <= MAX_TIMESTAMP_SECONDS and 0 <= message.nanos < NANOS):
        found.append(FieldViolation(path, "must be a timestamp from 0001-01-01 to 9999-12-31 (nanos 0 to 999999999)"))


def _check_duration(message: Any, path: str, found: list[FieldViolation]) -> None:
    seconds, nanos = message.seconds, message.nanos
    in_range = abs(seconds) <= MAX_DURATION_SECONDS and abs(nanos) < NANOS
    if not in_range or (seconds > 0 > nanos) or (seconds < 0 < nanos):
        found.append(FieldViolation(path, "must be a duration within ±10,000 years (seconds and nanos of one sign)"))
