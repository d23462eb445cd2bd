"""Every service's protos follow the platform conventions (see docs/architecture.md and protos/README.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

PROTOS = Path(__file__).resolve().parents[1]
SERVICES = sorted(path.parent.name for path in (PROTOS / "shop").glob("*/v1") if path.parent.name != "common")
PUBLISHERS = [service for service in SERVICES if (PROTOS / "shop" / service / "v1" / "events.proto").exists()]
PROTO_FILES = sorted(path.relative_to(PROTOS).as_posix() for path in (PROTOS / "shop").rglob("*.proto"))

# Second services, each in a file of its own: the gateway's public gRPC API for staff, returns and
# accounts; customers' integration clients (kept apart from the shopper API so that they can move out).
SECOND_SERVICE_FILES = {
    "shop/storefront/v1/backoffice.proto",
    "shop/storefront/v1/returns.proto",
    "shop/storefront/v1/account.proto",
    "shop/storefront/v1/integrations.proto",
    "shop/storefront/v1/companies.proto",
    "shop/storefront/v1/quotes.proto",
    "shop/storefront/v1/invoices.proto",
    "shop/customers/v1/integration_clients.proto",
}
READ_ONLY_RPC = re.compile(r"^(Get|List|Search|BatchGet|Quote)([A-Z]|$)")
EVENT_META = ".shop.common.v1.EventMeta"
MESSAGE_TYPE_FIELD = 4  # FileDescriptorProto.message_type, for source-info paths

Files = dict[str, descriptor_pb2.FileDescriptorProto]


@pytest.fixture(scope="module")
def files(descriptor_set: descriptor_pb2.FileDescriptorSet) -> Files:
    return {file.name: file for file in descriptor_set.file}


def _camel(service: str) -> str:
    return "".join(part.capitalize() for part in service.split("_"))


def _service_file(files: Files, service: str) -> descriptor_pb2.FileDescriptorProto:
    name = f"shop/{service}/v1/{service}.proto"
    assert name in files, f"{name} is missing"
    return files[name]


@pytest.mark.parametrize("service", SERVICES)
def test_service_proto_has_its_package_and_one_service(files: Files, service: str) -> None:
    file = _service_file(files, service)
    assert file.package == f"shop.{service}.v1"
    assert [s.name for s in file.service] == [f"{_camel(service)}Service"]
    elsewhere = [
        f.name
        for f in files.values()
        if f.name.startswith(f"shop/{service}/v1/") and f.name not in (file.name, *SECOND_SERVICE_FILES) and f.service
    ]
    assert not elsewhere, f"services declared outside {file.name}: {elsewhere}"


@pytest.mark.parametrize("service", SERVICES)
def test_read_only_rpcs_declare_no_side_effects(files: Files, service: str) -> None:
    file = _service_file(files, service)
    seconds = [files[name] for name in SECOND_SERVICE_FILES if name.startswith(f"shop/{service}/v1/")]
    offenders = [
        f"{s.name}.{m.name}"
        for s in [*file.service, *(second for f in seconds for second in f.service)]
        for m in s.method
        if READ_ONLY_RPC.match(m.name) and m.options.idempotency_level != descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
    ]
    assert not offenders, f"read-only RPCs without `option idempotency_level = NO_SIDE_EFFECTS;`: {offenders}"


@pytest.mark.parametrize("service", PUBLISHERS)
def test_events_carry_meta_and_a_documented_subject(files: Files, service: str) -> None:
    file = files[f"shop/{service}/v1/events.proto"]
    assert file.package == f"shop.{service}.v1"
    subject = re.compile(rf"^\s*Subject:\s*(shop\.{service}\.[a-z][a-z0-9_]*)\s*$", re.MULTILINE)
    comments = _message_comments(file)
    used_as_fields = _message_types_used_in_fields(files)
    problems: list[str] = []
    subjects: list[str] = []
    for message in file.message_type:
        full_name = f".{file.package}.{message.name}"
        found = subject.findall(comments.get(message.name, ""))
        if not found and full_name in used_as_fields:
            continue  # a part of events (e.g. a line), not an event itself
        subjects.extend(found)
        if len(found) != 1:
            problems.append(f"{message.name}: needs one `// Subject: shop.{service}.<event_snake_case>` comment")
        first = min(message.field, key=lambda f: f.number, default=None)
        if first is None or (first.name, first.number, first.type_name) != ("meta", 1, EVENT_META):
            problems.append(f"{message.name}: field 1 must be `shop.common.v1.EventMeta meta = 1;`")
    duplicated = sorted({s for s in subjects if subjects.count(s) > 1})
    if duplicated:
        problems.append(f"subjects used by more than one message: {duplicated}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", PROTO_FILES)
def test_enum_zero_values_are_unspecified(files: Files, name: str) -> None:
    offenders = [
        f"{enum_name}: {enum.value[0].name if enum.value else '(no values)'}"
        for enum_name, enum in _enums(files[name])
        if not enum.value or enum.value[0].number != 0 or not enum.value[0].name.endswith("_UNSPECIFIED")
    ]
    assert not offenders, f"enums whose zero value does not end in _UNSPECIFIED: {offenders}"


def _enums(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[str, descriptor_pb2.EnumDescriptorProto]]:
    for enum in file.enum_type:
        yield enum.name, enum
    stack = [(message.name, message) for message in file.message_type]
    while stack:
        name, message = stack.pop()
        for enum in message.enum_type:
            yield f"{name}.{enum.name}", enum
        stack.extend((f"{name}.{nested.name}", nested) for nested in message.nested_type)


def _message_comments(file: descriptor_pb2.FileDescriptorProto) -> dict[str, str]:
    """The leading comment of each top-level message (needs the descriptor's source info)."""
    comments: dict[str, str] = {}
    for location in file.source_code_info.location:
        if len(location.path) == 2 and location.path[0] == MESSAGE_TYPE_FIELD:
            comments[file.message_type[location.path[1]].name] = location.leading_comments
    return comments


def _message_types_used_in_fields(files: Files) -> set[str]:
    used: set[str] = set()
    for file in files.values():
        stack = list(file.message_type)
        while stack:
            message = stack.pop()
            used.update(
                f.type_name for f in message.field if f.type == descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
            )
            stack.extend(message.nested_type)
    return used
