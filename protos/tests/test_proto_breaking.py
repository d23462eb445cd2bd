"""No breaking change against protos/baseline.binpb, and the checker finds every kind of break.

The unit tests take the current descriptors, change a copy in memory the way an edit of a .proto
would, and compare (baseline = `old`, edited = `new`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import breaking
import pytest
from google.protobuf import descriptor_pb2

FileSet = descriptor_pb2.FileDescriptorSet
Field = descriptor_pb2.FieldDescriptorProto
MethodOptions = descriptor_pb2.MethodOptions
Edit = Callable[[FileSet, FileSet], object]

ORDER = "shop/order/v1/order.proto"


def test_no_breaking_change_against_the_baseline(descriptor_set: FileSet) -> None:
    assert breaking.BASELINE.exists(), "protos/baseline.binpb is missing: run `python protos/breaking.py --update`"
    changes = breaking.breaking_changes(breaking.load(breaking.BASELINE), descriptor_set)
    assert not changes, (
        "breaking changes against protos/baseline.binpb (add fields and RPCs instead of changing them; "
        "reserve the number and name of a deleted field):\n" + "\n".join(map(str, changes))
    )


# --------------------------------------------------------------------------------------------
# Helpers that find the parts of order.proto the edits touch


def _file(fds: FileSet, name: str = ORDER) -> descriptor_pb2.FileDescriptorProto:
    return next(f for f in fds.file if f.name == name)


def _message(fds: FileSet, name: str) -> descriptor_pb2.DescriptorProto:
    return next(m for m in _file(fds).message_type if m.name == name)


def _field(fds: FileSet, message: str, name: str) -> Field:
    return next(f for f in _message(fds, message).field if f.name == name)


def _enum(fds: FileSet, name: str) -> descriptor_pb2.EnumDescriptorProto:
    return next(e for e in _file(fds).enum_type if e.name == name)


def _enum_value(fds: FileSet, enum: str, name: str) -> descriptor_pb2.EnumValueDescriptorProto:
    return next(v for v in _enum(fds, enum).value if v.name == name)


def _rpc(fds: FileSet, name: str) -> descriptor_pb2.MethodDescriptorProto:
    return next(m for m in _file(fds).service[0].method if m.name == name)


def _remove_message(fds: FileSet, name: str) -> None:
    _file(fds).message_type.remove(_message(fds, name))


def _remove_field(fds: FileSet, message: str, name: str) -> Field:
    field = _field(fds, message, name)
    removed = Field()
    removed.CopyFrom(field)
    _message(fds, message).field.remove(field)
    return removed


def _reserve_field(fds: FileSet, message: str, field: Field, *, number: bool, name: bool) -> None:
    if number:
        _message(fds, message).reserved_range.add(start=field.number, end=field.number + 1)
    if name:
        _message(fds, message).reserved_name.append(field.name)


def _delete_field(number: bool, name: bool) -> Edit:
    def edit(old: FileSet, new: FileSet) -> None:
        removed = _remove_field(new, "Order", "email")
        _reserve_field(new, "Order", removed, number=number, name=name)

    return edit


def _delete_enum_value(number: bool, name: bool) -> Edit:
    def edit(old: FileSet, new: FileSet) -> None:
        enum = _enum(new, "OrderStatus")
        value = _enum_value(new, "OrderStatus", "ORDER_STATUS_REFUNDED")
        if number:
            enum.reserved_range.add(start=value.number, end=value.number)  # end inclusive in enums
        if name:
            enum.reserved_name.append(value.name)
        enum.value.remove(value)

    return edit


def _make_optional(old: FileSet, new: FileSet) -> None:
    message = _message(new, "Order")
    field = _field(new, "Order", "email")
    field.proto3_optional = True
    field.oneof_index = len(message.oneof_decl)
    message.oneof_decl.add(name="_email")


def _drop_oneof(old: FileSet, new: FileSet) -> None:
    message = _message(new, "FulfilmentMethod")
    for field in message.field:
        field.ClearField("oneof_index")
    del message.oneof_decl[:]


def _rename_field(old: FileSet, new: FileSet) -> None:
    field = _field(new, "Order", "email")
    field.name, field.json_name = "email_address", "emailAddress"


def _set(getter: Callable[[FileSet], object], attribute: str, value: object) -> Edit:
    """An edit that sets one attribute of a part of the new descriptors."""

    def edit(old: FileSet, new: FileSet) -> None:
        setattr(getter(new), attribute, value)

    return edit


def _in_old(edit: Edit) -> Edit:
    """Apply `edit` to the baseline: what it adds there is missing from the new descriptors."""

    def swapped(old: FileSet, new: FileSet) -> None:
        edit(new, old)

    return swapped


def _add_nested(old: FileSet, new: FileSet) -> None:
    _message(new, "Order").nested_type.add(name="Note").field.add(
        name="text", number=1, type=Field.TYPE_STRING, label=Field.LABEL_OPTIONAL, json_name="text"
    )


def _add_nested_enum(old: FileSet, new: FileSet) -> None:
    _message(new, "Order").enum_type.add(name="Kind").value.add(name="KIND_UNSPECIFIED", number=0)


def _add_reserved(old: FileSet, new: FileSet) -> None:
    _message(new, "Order").reserved_range.add(start=100, end=103)
    _message(new, "Order").reserved_name.append("legacy")
    _enum(new, "OrderStatus").reserved_range.add(start=50, end=52)
    _enum(new, "OrderStatus").reserved_name.append("ORDER_STATUS_LEGACY")


# (edit, rule expected among the reported changes, fragment of its message)
BREAKS: dict[str, tuple[Edit, str, str]] = {
    "file deleted": (lambda old, new: new.file.remove(_file(new)), "FILE_NO_DELETE", "deleted"),
    "package changed": (_set(_file, "package", "shop.orders.v1"), "FILE_SAME_PACKAGE", "shop.orders.v1"),
    "syntax changed": (_set(_file, "syntax", "proto2"), "FILE_SAME_SYNTAX", "proto2"),
    "file option changed": (
        _set(lambda f: _file(f).options, "java_package", "com.example.order"),
        "FILE_SAME_JAVA_PACKAGE",
        "java_package",
    ),
    "message deleted": (lambda old, new: _remove_message(new, "Refund"), "MESSAGE_NO_DELETE", "Refund"),
    "nested message deleted": (_in_old(_add_nested), "MESSAGE_NO_DELETE", "Order.Note"),
    "message option changed": (
        _set(lambda f: _message(f, "Order").options, "message_set_wire_format", True),
        "MESSAGE_SAME_MESSAGE_SET_WIRE_FORMAT",
        "Order",
    ),
    "enum deleted": (
        lambda old, new: _file(new).enum_type.remove(_enum(new, "OrderView")),
        "ENUM_NO_DELETE",
        "OrderView",
    ),
    "nested enum deleted": (_in_old(_add_nested_enum), "ENUM_NO_DELETE", "Order.Kind"),
    "service deleted": (
        lambda old, new: _file(new).service.remove(_file(new).service[0]),
        "SERVICE_NO_DELETE",
        "OrderService",
    ),
    "rpc deleted": (
        lambda old, new: _file(new).service[0].method.remove(_rpc(new, "RefundOrder")),
        "RPC_NO_DELETE",
        "RefundOrder",
    ),
    "field deleted": (_delete_field(number=False, name=False), "FIELD_NO_DELETE", "number and name"),
    "field deleted, only its number reserved": (_delete_field(number=True, name=False), "FIELD_NO_DELETE", "name"),
    "field deleted, only its name reserved": (_delete_field(number=False, name=True), "FIELD_NO_DELETE", "number"),
    "field number changed": (_set(lambda f: _field(f, "Order", "email"), "number", 99), "FIELD_SAME_NUMBER", "99"),
    "field scalar type changed": (
        _set(lambda f: _field(f, "Order", "email"), "type", Field.TYPE_BYTES),
        "FIELD_SAME_TYPE",
        "bytes",
    ),
    "field message type changed": (
        _set(lambda f: _field(f, "Order", "totals"), "type_name", ".shop.common.v1.Money"),
        "FIELD_SAME_TYPE",
        "Money",
    ),
    "field enum type changed": (
        _set(lambda f: _field(f, "Order", "payment_status"), "type_name", ".shop.order.v1.FulfilmentStatus"),
        "FIELD_SAME_TYPE",
        "FulfilmentStatus",
    ),
    "field label changed": (
        _set(lambda f: _field(f, "Order", "email"), "label", Field.LABEL_REPEATED),
        "FIELD_SAME_LABEL",
        "repeated",
    ),
    "field presence changed": (_make_optional, "FIELD_SAME_LABEL", "explicit presence"),
    "field json name changed": (
        _set(lambda f: _field(f, "Order", "email"), "json_name", "eMail"),
        "FIELD_SAME_JSON_NAME",
        "eMail",
    ),
    "field renamed": (_rename_field, "FIELD_SAME_NAME", "email_address"),
    "field left its oneof": (
        lambda old, new: _field(new, "FulfilmentMethod", "ship").ClearField("oneof_index"),
        "FIELD_SAME_ONEOF",
        "ship",
    ),
    "oneof deleted": (_drop_oneof, "ONEOF_NO_DELETE", "FulfilmentMethod.method"),
    "field jstype changed": (
        _set(lambda f: _field(f, "Order", "version").options, "jstype", descriptor_pb2.FieldOptions.JS_STRING),
        "FIELD_SAME_JSTYPE",
        "version",
    ),
    "enum value deleted": (_delete_enum_value(number=False, name=False), "ENUM_VALUE_NO_DELETE", "REFUNDED"),
    "enum value deleted, only its number reserved": (
        _delete_enum_value(number=True, name=False),
        "ENUM_VALUE_NO_DELETE",
        "name",
    ),
    "enum value renamed": (
        _set(lambda f: _enum_value(f, "OrderStatus", "ORDER_STATUS_REFUNDED"), "name", "ORDER_STATUS_MONEY_BACK"),
        "ENUM_VALUE_SAME_NAME",
        "ORDER_STATUS_MONEY_BACK",
    ),
    "message reservation removed": (_in_old(_add_reserved), "RESERVED_MESSAGE_NO_DELETE", "100..102"),
    "message reserved name removed": (_in_old(_add_reserved), "RESERVED_MESSAGE_NO_DELETE", "legacy"),
    "enum reservation removed": (_in_old(_add_reserved), "RESERVED_ENUM_NO_DELETE", "50..52"),
    "enum reserved name removed": (_in_old(_add_reserved), "RESERVED_ENUM_NO_DELETE", "ORDER_STATUS_LEGACY"),
    "rpc request type changed": (
        _set(lambda f: _rpc(f, "GetOrder"), "input_type", ".shop.order.v1.ListOrdersRequest"),
        "RPC_SAME_REQUEST_TYPE",
        "ListOrdersRequest",
    ),
    "rpc response type changed": (
        _set(lambda f: _rpc(f, "GetOrder"), "output_type", ".shop.order.v1.Order"),
        "RPC_SAME_RESPONSE_TYPE",
        ".shop.order.v1.Order",
    ),
    "rpc client streaming changed": (
        _set(lambda f: _rpc(f, "GetOrder"), "client_streaming", True),
        "RPC_SAME_CLIENT_STREAMING",
        "GetOrder",
    ),
    "rpc server streaming changed": (
        _set(lambda f: _rpc(f, "ListOrders"), "server_streaming", True),
        "RPC_SAME_SERVER_STREAMING",
        "ListOrders",
    ),
    "rpc idempotency level changed": (
        _set(lambda f: _rpc(f, "GetOrder").options, "idempotency_level", MethodOptions.IDEMPOTENCY_UNKNOWN),
        "RPC_SAME_IDEMPOTENCY_LEVEL",
        "NO_SIDE_EFFECTS to IDEMPOTENCY_UNKNOWN",
    ),
}


def _add_field(old: FileSet, new: FileSet) -> None:
    _message(new, "Order").field.add(
        name="gift_message", number=100, type=Field.TYPE_STRING, label=Field.LABEL_OPTIONAL, json_name="giftMessage"
    )


def _add_rpc(old: FileSet, new: FileSet) -> None:
    _file(new).service[0].method.add(
        name="ArchiveOrder", input_type=".shop.order.v1.GetOrderRequest", output_type=".shop.order.v1.GetOrderResponse"
    )


def _add_file(old: FileSet, new: FileSet) -> None:
    new.file.add(name="shop/returns/v1/returns.proto", package="shop.returns.v1", syntax="proto3")


def _change_outside_shop(old: FileSet, new: FileSet) -> None:
    timestamp = next(f for f in new.file if f.name == "google/protobuf/timestamp.proto")
    del timestamp.message_type[:]


def _strip_comments(old: FileSet, new: FileSet) -> None:
    for file in new.file:
        file.ClearField("source_code_info")


def _deprecate_field(old: FileSet, new: FileSet) -> None:
    _field(new, "Order", "email").options.deprecated = True


COMPATIBLE: dict[str, Edit] = {
    "nothing changed": lambda old, new: None,
    "field added": _add_field,
    "message added": lambda old, new: _file(new).message_type.add(name="GiftWrap"),
    "nested message added": _add_nested,
    "enum added": lambda old, new: _file(new).enum_type.add(name="Colour").value.add(name="COLOUR_UNSPECIFIED"),
    "enum value added": lambda old, new: _enum(new, "OrderStatus").value.add(name="ORDER_STATUS_ARCHIVED", number=9),
    "rpc added": _add_rpc,
    "file added": _add_file,
    "reservations added": _add_reserved,
    "field deleted with its number and name reserved": _delete_field(number=True, name=True),
    "enum value deleted with its number and name reserved": _delete_enum_value(number=True, name=True),
    "field deprecated": _deprecate_field,
    "comments changed": _strip_comments,
    "file outside shop/ changed": _change_outside_shop,
}


def _compare(current: FileSet, edit: Edit) -> list[breaking.Change]:
    old, new = FileSet(), FileSet()
    old.CopyFrom(current)
    new.CopyFrom(current)
    edit(old, new)
    return breaking.breaking_changes(old, new)


@pytest.mark.parametrize("case", BREAKS)
def test_checker_detects(descriptor_set: FileSet, case: str) -> None:
    edit, rule, fragment = BREAKS[case]
    changes = _compare(descriptor_set, edit)
    assert any(c.rule == rule and fragment in c.message and c.file == ORDER for c in changes), changes


@pytest.mark.parametrize("case", COMPATIBLE)
def test_checker_accepts(descriptor_set: FileSet, case: str) -> None:
    assert _compare(descriptor_set, COMPATIBLE[case]) == []


def test_command_line_updates_then_checks_a_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.binpb"
    assert breaking.main(["--baseline", str(baseline)]) == 2  # no baseline yet
    assert breaking.main(["--update", "--baseline", str(baseline)]) == 0
    written = breaking.load(baseline)
    assert [f.name for f in written.file] == sorted(f.name for f in written.file)
    assert not any(f.HasField("source_code_info") for f in written.file)
    assert any(f.name.startswith("google/protobuf/") for f in written.file)  # imports included
    assert breaking.main(["--baseline", str(baseline)]) == 0

    # A baseline that had one more field makes the current protos a break.
    edited = breaking.load(baseline)
    _add_field(edited, edited)
    breaking.write_baseline(edited, baseline)
    capsys.readouterr()
    assert breaking.main(["--baseline", str(baseline)]) == 1
    assert "Order.gift_message (100) was deleted" in capsys.readouterr().out
