"""The services' messages as the HTTP API's JSON, and back: the gateway's conventions (see `app.models`)
applied to any message, so that the back office's many resources need no hand-written mapping each.

- enums are lower_snake_case without their type's prefix (PRICE_LIST_KIND_SALE -> "sale"; unset -> "");
- 64-bit integers are JSON numbers (protobuf's own JSON mapping makes them strings);
- timestamps are RFC 3339 strings; field names are the proto names (snake_case).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from shopkit.errors import Violations

M = TypeVar("M", bound=Message)
_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64}
_INT64 |= {FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}
_WELL_KNOWN = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}


def enum_prefix(enum: EnumDescriptor) -> str:
    """The prefix every value of a proto3 enum carries: its zero value's name without UNSPECIFIED."""
    return enum.values_by_number[0].name.removesuffix("UNSPECIFIED")


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def to_plain(message: Message) -> dict[str, Any]:
    """A message as the API's JSON object (every field present, unset messages as null)."""
    raw = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _out(message.DESCRIPTOR, raw)


def _out(descriptor: Any, raw: Mapping[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.name not in raw:
            plain[field.name] = [] if _repeated(field) else None
            continue
        value = raw[field.name]
        if _is_map(field):
            plain[field.name] = dict(value)
        elif _repeated(field):
            plain[field.name] = [_value_out(field, item) for item in value]
        else:
            plain[field.name] = _value_out(field, value)
    return plain


def _value_out(field: FieldDescriptor, value: Any) -> Any:
    if field.enum_type is not None:
        name = str(value).removeprefix(enum_prefix(field.enum_type))
        return "" if name == "UNSPECIFIED" else name.lower()
    if field.type in _INT64:
        return int(value)
    if field.message_type is not None and field.message_type.full_name not in _WELL_KNOWN:
        return _out(field.message_type, value)
    return value


def from_plain(plain: Mapping[str, Any], message_type: type[M], violations: Violations, path: str = "") -> M:
    """The message of the API's JSON object; an unknown enum name or a value of the wrong kind is a
    field violation (an empty message then: the caller raises before using it)."""
    before = len(violations.items)
    raw = _in(message_type.DESCRIPTOR, plain, violations, path)
    message = message_type()
    if len(violations.items) > before:
        return message
    try:
        json_format.ParseDict(raw, message)
    except json_format.ParseError as error:
        violations.add(path or "body", str(error))
    return message


def _in(descriptor: Any, plain: Mapping[str, Any], violations: Violations, path: str) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name, value in plain.items():
        field = descriptor.fields_by_name.get(name)
        if field is None or value is None:
            continue  # pydantic's model fixed the shape; None is "not set"
        where = f"{path}.{name}" if path else name
        if _is_map(field):
            raw[name] = value
        elif _repeated(field):
            raw[name] = [_value_in(field, item, violations, f"{where}[{i}]") for i, item in enumerate(value)]
        else:
            raw[name] = _value_in(field, value, violations, where)
    return raw


def _value_in(field: FieldDescriptor, value: Any, violations: Violations, where: str) -> Any:
    if field.enum_type is not None:
        if value == "":
            return 0
        found = field.enum_type.values_by_name.get(enum_prefix(field.enum_type) + str(value).upper())
        if found is None or found.number == 0:
            names = [v.name.removeprefix(enum_prefix(field.enum_type)).lower() for v in field.enum_type.values[1:]]
            violations.add(where, f"must be one of {', '.join(names)}")
            return 0
        return found.number
    if field.message_type is not None and field.message_type.full_name not in _WELL_KNOWN:
        return _in(field.message_type, value, violations, where)
    if field.message_type is not None and field.message_type.full_name == "google.protobuf.Timestamp":
        return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else value
    return value
