"""Random requests for every unary method of a gRPC service, built from its protobuf descriptors.

`requests(message_descriptor)` is a hypothesis strategy of messages of that type: every scalar over
its whole range (and the strings and numbers that break naive code: empty, huge, negative, control
characters, UUID-shaped), enums with values the proto does not define, well-known types at their
limits, nested messages a few levels deep. The fuzz suite (tests/system/test_system_grpc_fuzz.py)
sends them to a launched stack and checks what comes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor as _descriptor
from google.protobuf import message_factory
from google.protobuf.message import Message
from hypothesis import strategies as st

FD = _descriptor.FieldDescriptor
DEPTH = 3
_INT_RANGES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1),
    FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1),
    FD.TYPE_FIXED64: (0, 2**64 - 1),
}
# Seconds of google.protobuf.Timestamp/Duration that convert to datetime and timedelta, and beyond.
_SECONDS = st.one_of(st.integers(-(2**40), 2**40), st.sampled_from([0, -1, 253402300799, 253402300800]))


@dataclass(frozen=True)
class Method:
    service: str  # full name, e.g. shop.catalog.v1.CatalogService
    name: str
    request: _descriptor.Descriptor
    response: _descriptor.Descriptor

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"


def unary_methods(service: _descriptor.ServiceDescriptor) -> Iterator[Method]:
    for method in service.methods:
        if not (method.client_streaming or method.server_streaming):
            yield Method(service.full_name, method.name, method.input_type, method.output_type)


def message_class(descriptor: _descriptor.Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def _text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(["", " ", "0", "-1", "null", "%", "\x00", "../../etc/passwd", "'; DROP TABLE x; --"]),
        st.builds(lambda: str(uuid.uuid4())),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.sampled_from(["A" * 300, "é" * 5000, "x" * 70_000]),
    )


def _scalar(field: FD) -> st.SearchStrategy[Any]:
    if field.type in _INT_RANGES:
        low, high = _INT_RANGES[field.type]
        edges = st.sampled_from([low, high, 0, -1 if low < 0 else 1, 1])
        return st.one_of(edges, st.integers(low, high), st.integers(-1000, 1000).filter(lambda n: low <= n <= high))
    if field.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if field.type == FD.TYPE_FLOAT else 64)
    if field.type == FD.TYPE_BOOL:
        return st.booleans()
    if field.type == FD.TYPE_STRING:
        return _text()
    if field.type == FD.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.type == FD.TYPE_ENUM:
        assert field.enum_type is not None
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-5, max(known) + 5))
    raise AssertionError(f"unhandled field type {field.type} of {field.full_name}")


def _well_known(descriptor: _descriptor.Descriptor) -> st.SearchStrategy[dict[str, Any]] | None:
    if descriptor.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        return st.fixed_dictionaries({"seconds": _SECONDS, "nanos": st.integers(-(10**9), 10**9)})
    return None


def _fields(descriptor: _descriptor.Descriptor, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments of a message: any subset of its fields (one member per oneof at most)."""
    known = _well_known(descriptor)
    if known is not None:
        return known
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.containing_oneof is not None and not field.containing_oneof.name.startswith("_"):
            continue
        strategy = _value(field, depth)
        if strategy is not None:
            optional[field.name] = strategy
    chosen = st.fixed_dictionaries({}, optional=optional)
    oneofs = [o for o in descriptor.oneofs if not o.name.startswith("_")]
    for oneof in oneofs:
        members = [(f.name, s) for f in oneof.fields if (s := _value(f, depth)) is not None]
        if members:
            pick = st.one_of(*[_named(name, strategy) for name, strategy in members])
            chosen = st.builds(_merged, chosen, st.one_of(st.just({}), pick))
    return chosen


def _named(name: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return strategy.map(lambda value: {name: value})


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {**base, **extra}


def _value(field: FD, depth: int) -> st.SearchStrategy[Any] | None:
    if field.type == FD.TYPE_MESSAGE:
        message = field.message_type
        assert message is not None
        if depth <= 0:
            return None
        if message.GetOptions().map_entry:
            key, value = message.fields_by_name["key"], message.fields_by_name["value"]
            inner = _value(value, depth - 1)
            return None if inner is None else st.dictionaries(_scalar(key), inner, max_size=3)
        single: st.SearchStrategy[Any] = _fields(message, depth - 1)
    else:
        single = _scalar(field)
    if field.is_repeated:
        return st.lists(single, max_size=4)
    return single


def requests(descriptor: _descriptor.Descriptor) -> st.SearchStrategy[Message]:
    """Messages of the type `descriptor` (built through their keyword constructor, as a client would)."""
    cls = message_class(descriptor)

    def build(fields: dict[str, Any]) -> Message:
        try:
            return cls(**fields)
        except (ValueError, TypeError, OverflowError):  # refused by the message itself: no client can send it
            return cls()

    return _fields(descriptor, DEPTH).map(build)
