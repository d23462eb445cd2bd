"""Detect breaking changes of the protos against the committed descriptor baseline.

Usage:
  python protos/breaking.py             compare protos/ with protos/baseline.binpb; exit 1 on a break
  python protos/breaking.py --update    write the current descriptors as the new baseline

The rules follow `buf breaking` with the FILE category (generated code and wire compatibility per
file), with one deliberate relaxation: a field or enum value may be deleted when both its number
and its name are reserved in its message or enum. Rule ids are buf's, plus FIELD_SAME_NUMBER (a
field kept its name but moved to another number). Only files under `shop/` are compared; the
well-known types in the baseline are there because it is a self-contained FileDescriptorSet.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from generate import PROTO_ROOT, proto_files
from google.protobuf import descriptor_pb2
from google.protobuf.message import Message
from grpc_tools import protoc

BASELINE = PROTO_ROOT / "baseline.binpb"
CHECKED_PREFIX = "shop/"

FileSet = descriptor_pb2.FileDescriptorSet
Field = descriptor_pb2.FieldDescriptorProto

# Options whose change breaks generated code or the wire (buf's FILE_SAME_*, MESSAGE_SAME_*,
# FIELD_SAME_* rules). Deprecation and editions features are not breaking.
_NEUTRAL_OPTIONS = frozenset({"deprecated", "uninterpreted_option", "features"})
_MESSAGE_OPTIONS = frozenset({"message_set_wire_format", "no_standard_descriptor_accessor"})
_FIELD_OPTIONS = frozenset({"ctype", "jstype"})


@dataclass(frozen=True, order=True)
class Change:
    """One breaking change: the buf rule id, the file and what happened."""

    file: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message} [{self.rule}]"


# --------------------------------------------------------------------------------------------
# Descriptor sets


def compile_protos() -> FileSet:
    """The descriptors of the protos as they are now, with their imports, without source info."""
    well_known = str(resources.files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "current.binpb"
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            *proto_files(),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        return load(out)


def load(path: Path) -> FileSet:
    fds = FileSet()
    fds.ParseFromString(path.read_bytes())
    return fds


def write_baseline(fds: FileSet, path: Path = BASELINE) -> None:
    """Write `fds` without source info (comments do not matter to compatibility) and sorted by file
    name, so that the committed baseline only changes when the contracts do."""
    stripped = FileSet()
    for file in sorted(fds.file, key=lambda f: f.name):
        copy = stripped.file.add()
        copy.CopyFrom(file)
        copy.ClearField("source_code_info")
    path.write_bytes(stripped.SerializeToString(deterministic=True))


# --------------------------------------------------------------------------------------------
# Comparison


def breaking_changes(previous: FileSet, current: FileSet, prefix: str = CHECKED_PREFIX) -> list[Change]:
    """Every breaking change from `previous` to `current` in the files whose name starts with `prefix`."""
    now = {file.name: file for file in current.file}
    changes: list[Change] = []
    for old in previous.file:
        if not old.name.startswith(prefix):
            continue
        new = now.get(old.name)
        if new is None:
            changes.append(Change(old.name, "FILE_NO_DELETE", "file was deleted"))
        else:
            changes.extend(_FileComparison(old, new).run())
    return sorted(changes)


class _FileComparison:
    def __init__(self, old: descriptor_pb2.FileDescriptorProto, new: descriptor_pb2.FileDescriptorProto):
        self.old = old
        self.new = new
        self.changes: list[Change] = []

    def report(self, rule: str, message: str) -> None:
        self.changes.append(Change(self.old.name, rule, message))

    def run(self) -> list[Change]:
        old, new = self.old, self.new
        if old.package != new.package:
            self.report("FILE_SAME_PACKAGE", f"package changed from {old.package!r} to {new.package!r}")
        if (old.syntax or "proto2") != (new.syntax or "proto2"):
            self.report("FILE_SAME_SYNTAX", f"syntax changed from {old.syntax!r} to {new.syntax!r}")
        self.compare_options("FILE_SAME", "file", old.options, new.options)

        new_messages = dict(_messages(new.message_type))
        for name, message in _messages(old.message_type):
            if name not in new_messages:
                if not message.options.map_entry:  # a deleted map field is reported as a field
                    self.report("MESSAGE_NO_DELETE", f"message {name} was deleted")
            else:
                self.compare_message(name, message, new_messages[name])

        new_enums = dict(_enums(new.enum_type, new.message_type))
        for name, enum in _enums(old.enum_type, old.message_type):
            if name not in new_enums:
                self.report("ENUM_NO_DELETE", f"enum {name} was deleted")
            else:
                self.compare_enum(name, enum, new_enums[name])

        new_services = {service.name: service for service in new.service}
        for service in old.service:
            if service.name not in new_services:
                self.report("SERVICE_NO_DELETE", f"service {service.name} was deleted")
            else:
                self.compare_service(service, new_services[service.name])
        return self.changes

    def compare_options(
        self, rule_prefix: str, what: str, old: Message, new: Message, only: frozenset[str] | None = None
    ) -> None:
        """Report changed options, e.g. FILE_SAME_GO_PACKAGE; `only` limits the options that count."""

        def relevant(name: str) -> bool:
            return name in only if only is not None else name not in _NEUTRAL_OPTIONS

        before = {f.name: value for f, value in old.ListFields() if relevant(f.name)}
        after = {f.name: value for f, value in new.ListFields() if relevant(f.name)}
        for option in sorted(before.keys() | after.keys()):
            if before.get(option) != after.get(option):
                self.report(
                    f"{rule_prefix}_{option.upper()}",
                    f"{what} option {option} changed from {before.get(option)!r} to {after.get(option)!r}",
                )

    # Messages and fields ------------------------------------------------------------------

    def compare_message(
        self, name: str, old: descriptor_pb2.DescriptorProto, new: descriptor_pb2.DescriptorProto
    ) -> None:
        new_by_number = {field.number: field for field in new.field}
        new_by_name = {field.name: field for field in new.field}
        reserved_names = set(new.reserved_name)
        reserved_numbers = [(r.start, r.end) for r in new.reserved_range]  # end exclusive
        for field in old.field:
            where = f"field {name}.{field.name} ({field.number})"
            if field.number in new_by_number:
                self.compare_field(where, old, field, new, new_by_number[field.number])
            elif field.name in new_by_name:
                self.report("FIELD_SAME_NUMBER", f"{where} changed number to {new_by_name[field.name].number}")
            else:
                missing = [
                    kind
                    for kind, ok in (
                        ("number", _covered(field.number, field.number + 1, reserved_numbers)),
                        ("name", field.name in reserved_names),
                    )
                    if not ok
                ]
                if missing:
                    self.report("FIELD_NO_DELETE", f"{where} was deleted without reserving its {' and '.join(missing)}")

        new_oneofs = {oneof.name for oneof in _real_oneofs(new)}
        for oneof in _real_oneofs(old):
            if oneof.name not in new_oneofs:
                self.report("ONEOF_NO_DELETE", f"oneof {name}.{oneof.name} was deleted")

        for r in old.reserved_range:
            if not _covered(r.start, r.end, reserved_numbers):
                self.report(
                    "RESERVED_MESSAGE_NO_DELETE", f"message {name} no longer reserves numbers {r.start}..{r.end - 1}"
                )
        for reserved in sorted(set(old.reserved_name) - reserved_names):
            self.report("RESERVED_MESSAGE_NO_DELETE", f"message {name} no longer reserves name {reserved!r}")
        self.compare_options("MESSAGE_SAME", f"message {name}", old.options, new.options, _MESSAGE_OPTIONS)

    def compare_field(
        self,
        where: str,
        old_message: descriptor_pb2.DescriptorProto,
        old: Field,
        new_message: descriptor_pb2.DescriptorProto,
        new: Field,
    ) -> None:
        if old.name != new.name:
            self.report("FIELD_SAME_NAME", f"{where} was renamed to {new.name!r}")
        if old.json_name != new.json_name:
            self.report(
                "FIELD_SAME_JSON_NAME", f"{where} changed json name from {old.json_name!r} to {new.json_name!r}"
            )
        if (old.type, old.type_name) != (new.type, new.type_name):
            self.report("FIELD_SAME_TYPE", f"{where} changed type from {_type(old)} to {_type(new)}")
        if _cardinality(old) != _cardinality(new):
            self.report("FIELD_SAME_LABEL", f"{where} changed label from {_cardinality(old)} to {_cardinality(new)}")
        before, after = _oneof_name(old_message, old), _oneof_name(new_message, new)
        if before != after:
            self.report("FIELD_SAME_ONEOF", f"{where} moved from oneof {before or '-'} to {after or '-'}")
        if old.default_value != new.default_value:
            self.report("FIELD_SAME_DEFAULT", f"{where} changed its default value")
        self.compare_options("FIELD_SAME", where, old.options, new.options, _FIELD_OPTIONS)

    # Enums ----------------------------------------------------------------------------------

    def compare_enum(
        self, name: str, old: descriptor_pb2.EnumDescriptorProto, new: descriptor_pb2.EnumDescriptorProto
    ) -> None:
        new_names: dict[int, set[str]] = {}
        for value in new.value:
            new_names.setdefault(value.number, set()).add(value.name)
        reserved_names = set(new.reserved_name)
        reserved_numbers = [(r.start, r.end + 1) for r in new.reserved_range]  # end inclusive in enums
        for value in old.value:
            where = f"enum value {name}.{value.name} ({value.number})"
            if value.number in new_names:
                if value.name not in new_names[value.number]:
                    renamed = ", ".join(sorted(new_names[value.number]))
                    self.report("ENUM_VALUE_SAME_NAME", f"{where} was renamed to {renamed}")
                continue
            missing = [
                kind
                for kind, ok in (
                    ("number", _covered(value.number, value.number + 1, reserved_numbers)),
                    ("name", value.name in reserved_names),
                )
                if not ok
            ]
            if missing:
                self.report(
                    "ENUM_VALUE_NO_DELETE", f"{where} was deleted without reserving its {' and '.join(missing)}"
                )
        for r in old.reserved_range:
            if not _covered(r.start, r.end + 1, reserved_numbers):
                self.report("RESERVED_ENUM_NO_DELETE", f"enum {name} no longer reserves numbers {r.start}..{r.end}")
        for reserved in sorted(set(old.reserved_name) - reserved_names):
            self.report("RESERVED_ENUM_NO_DELETE", f"enum {name} no longer reserves name {reserved!r}")

    # Services ---------------------------------------------------------------------------------

    def compare_service(
        self, old: descriptor_pb2.ServiceDescriptorProto, new: descriptor_pb2.ServiceDescriptorProto
    ) -> None:
        new_methods = {method.name: method for method in new.method}
        for method in old.method:
            where = f"rpc {old.name}.{method.name}"
            after = new_methods.get(method.name)
            if after is None:
                self.report("RPC_NO_DELETE", f"{where} was deleted")
                continue
            if method.input_type != after.input_type:
                self.report(
                    "RPC_SAME_REQUEST_TYPE",
                    f"{where} changed request type from {method.input_type} to {after.input_type}",
                )
            if method.output_type != after.output_type:
                self.report(
                    "RPC_SAME_RESPONSE_TYPE",
                    f"{where} changed response type from {method.output_type} to {after.output_type}",
                )
            if method.client_streaming != after.client_streaming:
                self.report("RPC_SAME_CLIENT_STREAMING", f"{where} changed client streaming")
            if method.server_streaming != after.server_streaming:
                self.report("RPC_SAME_SERVER_STREAMING", f"{where} changed server streaming")
            level = descriptor_pb2.MethodOptions.IdempotencyLevel
            before_level, after_level = method.options.idempotency_level, after.options.idempotency_level
            if before_level != after_level:
                self.report(
                    "RPC_SAME_IDEMPOTENCY_LEVEL",
                    f"{where} changed idempotency level from {level.Name(before_level)} to {level.Name(after_level)}",
                )


def _messages(
    messages: Iterable[descriptor_pb2.DescriptorProto], prefix: str = ""
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
    """Every message with its nested messages, by name relative to the file's package."""
    for message in messages:
        name = f"{prefix}{message.name}"
        yield name, message
        yield from _messages(message.nested_type, f"{name}.")


def _enums(
    enums: Iterable[descriptor_pb2.EnumDescriptorProto], messages: Iterable[descriptor_pb2.DescriptorProto]
) -> Iterator[tuple[str, descriptor_pb2.EnumDescriptorProto]]:
    for enum in enums:
        yield enum.name, enum
    for name, message in _messages(messages):
        for enum in message.enum_type:
            yield f"{name}.{enum.name}", enum


def _real_oneofs(message: descriptor_pb2.DescriptorProto) -> list[descriptor_pb2.OneofDescriptorProto]:
    """The declared oneofs, without the synthetic ones protoc adds for proto3 `optional` fields."""
    synthetic = {
        field.oneof_index for field in message.field if field.proto3_optional and field.HasField("oneof_index")
    }
    return [oneof for index, oneof in enumerate(message.oneof_decl) if index not in synthetic]


def _oneof_name(message: descriptor_pb2.DescriptorProto, field: Field) -> str:
    if field.proto3_optional or not field.HasField("oneof_index"):
        return ""
    return message.oneof_decl[field.oneof_index].name


def _cardinality(field: Field) -> str:
    label = Field.Label.Name(field.label).removeprefix("LABEL_").lower()
    return "optional (explicit presence)" if field.proto3_optional else label


def _type(field: Field) -> str:
    return field.type_name or Field.Type.Name(field.type).removeprefix("TYPE_").lower()


def _covered(start: int, end: int, ranges: list[tuple[int, int]]) -> bool:
    """Whether every number in [start, end) lies in one of the half-open `ranges`."""
    position = start
    for low, high in sorted(ranges):
        if low > position:
            break
        position = max(position, high)
        if position >= end:
            return True
    return position >= end


# --------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help="write the current descriptors as the baseline")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    ns = parser.parse_args(argv)
    current = compile_protos()
    if ns.update:
        write_baseline(current, ns.baseline)
        print(f"wrote {ns.baseline} ({len(current.file)} files)", file=sys.stderr)
        return 0
    if not ns.baseline.exists():
        print(f"no baseline at {ns.baseline}; create it with --update", file=sys.stderr)
        return 2
    changes = breaking_changes(load(ns.baseline), current)
    for change in changes:
        print(change)
    if changes:
        print(f"{len(changes)} breaking change(s) against {ns.baseline}", file=sys.stderr)
        return 1
    print(f"no breaking changes against {ns.baseline}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
