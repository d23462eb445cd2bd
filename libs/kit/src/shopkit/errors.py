"""Domain errors and their mapping to gRPC status codes with google.rpc error details.

Services raise these from any layer; the server interceptor turns them into a rich status
(`grpc-status-details-bin`) that clients and the gateway can read back with `grpc_status`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "shop.example.com"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error a service reports to its callers on purpose."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    default_reason: str = "UNKNOWN"
    # When set: a google.rpc.RetryInfo beside the ErrorInfo (HTTP: a Retry-After header).
    retry_after_seconds: int | None = None

    def __init__(self, message: str, *, reason: str | None = None, metadata: Mapping[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata)
        packed = any_pb2.Any()
        packed.Pack(info)
        if self.retry_after_seconds is None:
            return [packed]
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=self.retry_after_seconds)))
        return [packed, retry]

    def to_status(self) -> status_pb2.Status:
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=self.details())


# An error travels in the call's trailers (its message and its details), and gRPC refuses metadata
# over 8 KiB: an error that listed every problem of a huge request, or echoed a huge field name, would
# not arrive at all (the caller would see RESOURCE_EXHAUSTED). So each violation is cut short, the
# details hold as many as fit in a budget (every one, for any request a client means to send) and count
# the rest. Sizes are UTF-8 bytes; the message is percent-encoded on the wire (up to three times longer).
MAX_FIELD_BYTES = 120
MAX_DESCRIPTION_BYTES = 200
VIOLATIONS_BUDGET_BYTES = 3500
MAX_MESSAGE_BYTES = 500


def _cut(text: str, limit: int) -> str:
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode(errors="ignore") + "..."


def reportable(violations: Sequence[FieldViolation]) -> list[FieldViolation]:
    """The violations an error carries: each cut short, as many as fit, and a last one that counts the rest."""
    shown: list[FieldViolation] = []
    spent = 0
    for violation in violations:
        cut = FieldViolation(_cut(violation.field, MAX_FIELD_BYTES), _cut(violation.description, MAX_DESCRIPTION_BYTES))
        spent += len(cut.field.encode()) + len(cut.description.encode())
        if spent > VIOLATIONS_BUDGET_BYTES:
            shown.append(FieldViolation("", f"and {len(violations) - len(shown)} more problems"))
            break
        shown.append(cut)
    return shown


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Iterable[FieldViolation], message: str | None = None):
        self.violations = reportable(list(violations))
        named = (f"{v.field}: {v.description}" if v.field else v.description for v in self.violations)
        super().__init__(_cut(message or "; ".join(named), MAX_MESSAGE_BYTES) or "invalid argument")

    def details(self) -> list[any_pb2.Any]:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        return [packed, *super().details()]


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"

    def __init__(self, resource: str, key: str):
        super().__init__(f"{resource} {key!r} not found", metadata={"resource": resource, "key": key})
        self.resource = resource
        self.key = key

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ResourceInfo(resource_type=self.resource, resource_name=self.key)
        packed = any_pb2.Any()
        packed.Pack(info)
        return [packed, *super().details()]


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


@dataclass(frozen=True)
class PreconditionViolation:
    type: str  # e.g. INSUFFICIENT_STOCK
    subject: str  # what failed, e.g. "sku:ABC-1" or "lines[2]"
    description: str


class FailedPrecondition(DomainError):
    """The system is not in a state the operation needs. Optional per-item violations become a
    google.rpc.PreconditionFailure beside the ErrorInfo."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        violations: Iterable[PreconditionViolation] = (),
    ):
        super().__init__(message, reason=reason, metadata=metadata)
        self.violations = list(violations)

    def details(self) -> list[any_pb2.Any]:
        details = super().details()
        if self.violations:
            failure = error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=v.type, subject=v.subject, description=v.description
                    )
                    for v in self.violations
                ]
            )
            packed = any_pb2.Any()
            packed.Pack(failure)
            details.append(packed)
        return details


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class Aborted(DomainError):
    """A conflict that the caller may retry (optimistic-lock failure, concurrent update)."""

    code = grpc.StatusCode.ABORTED
    default_reason = "ABORTED"


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after_seconds: int | None = None,
    ):
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_seconds = retry_after_seconds


@dataclass
class Violations:
    """Collects field violations and raises them together: callers see every problem at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.items.append(FieldViolation(field_path, description))

    def check(self, ok: bool, field_path: str, description: str) -> None:
        if not ok:
            self.add(field_path, description)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)


@dataclass(frozen=True)
class RpcErrorInfo:
    """What a client can read back from a failed call."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    violations: tuple[FieldViolation, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    preconditions: tuple[PreconditionViolation, ...] = ()


def parse_rpc_error(error: grpc.RpcError | grpc.aio.AioRpcError) -> RpcErrorInfo:
    """Decode the google.rpc details of a failed call (for clients, tests and the gateway)."""
    code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
    message = error.details() or "" if callable(getattr(error, "details", None)) else ""
    reason, violations, metadata = "", list[FieldViolation](), dict[str, str]()
    preconditions: list[PreconditionViolation] = []
    trailing: Any = error.trailing_metadata() if callable(getattr(error, "trailing_metadata", None)) else None
    for key, value in trailing or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value if isinstance(value, bytes) else value.encode())
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
            elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
                failure = error_details_pb2.PreconditionFailure()
                detail.Unpack(failure)
                preconditions.extend(
                    PreconditionViolation(v.type, v.subject, v.description) for v in failure.violations
                )
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
    return RpcErrorInfo(code, message, reason, tuple(violations), metadata, tuple(preconditions))
