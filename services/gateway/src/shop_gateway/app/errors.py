"""Errors of the application layer: a backend's error re-raised as the gateway's own, and a failed checkout.

Both are `shopkit.errors.DomainError`s, so the gRPC adapter answers them through the kit's
interceptor (status code plus google.rpc details) and the HTTP adapter turns them into
problem+json; neither adapter needs to know where an error came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2

from shopkit.errors import DomainError, FieldViolation, PreconditionViolation, parse_rpc_error

# A backend failing in these ways is the gateway's problem to report, not the client's: the
# client gets INTERNAL with reason UPSTREAM_ERROR (HTTP 502) and no backend internals.
_OPAQUE_CODES = frozenset(
    {
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.UNAUTHENTICATED,  # services do not authenticate; this is a gateway bug
    }
)


class UpstreamError(DomainError):
    """An error a backend service answered, with its google.rpc details kept for the client."""

    def __init__(
        self,
        service: str,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        violations: tuple[FieldViolation, ...] = (),
        preconditions: tuple[PreconditionViolation, ...] = (),
        metadata: Mapping[str, str] | None = None,
    ):
        super().__init__(message, reason=reason or code.name, metadata=metadata)
        self.code = code
        self.service = service
        self.violations = violations
        self.preconditions = preconditions

    @classmethod
    def from_rpc(cls, service: str, error: grpc.aio.AioRpcError, fields: Mapping[str, str]) -> UpstreamError:
        info = parse_rpc_error(error)
        if info.code in _OPAQUE_CODES:
            return cls(service, grpc.StatusCode.INTERNAL, f"the {service} service failed", reason="UPSTREAM_ERROR")
        if info.code is grpc.StatusCode.UNAVAILABLE:
            message = f"the {service} service is unavailable; try again"
        elif info.code is grpc.StatusCode.DEADLINE_EXCEEDED:
            message = f"the {service} service did not answer in time"
        else:
            message = info.message
        return cls(
            service,
            info.code,
            message,
            reason=info.reason,
            violations=tuple(FieldViolation(_rename(v.field, fields), v.description) for v in info.violations),
            preconditions=info.preconditions,
            metadata=info.metadata,
        )

    def details(self) -> list[any_pb2.Any]:
        details = super().details()
        if self.violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in self.violations
                ]
            )
            packed = any_pb2.Any()
            packed.Pack(bad)
            details.insert(0, packed)
        if self.preconditions:
            failure = error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=v.type, subject=v.subject, description=v.description
                    )
                    for v in self.preconditions
                ]
            )
            packed = any_pb2.Any()
            packed.Pack(failure)
            details.append(packed)
        return details


def _rename(field: str, fields: Mapping[str, str]) -> str:
    """A backend's field path in the client's terms (e.g. page.page_token -> page_token)."""
    for prefix, replacement in fields.items():
        if field == prefix or field.startswith(prefix + ".") or field.startswith(prefix + "["):
            rest = field[len(prefix) :]
            return replacement + rest if replacement else rest.removeprefix(".")
    return field


@contextmanager
def upstream(service: str, fields: Mapping[str, str] | None = None) -> Iterator[None]:
    """Re-raise a failed backend call as UpstreamError; `fields` renames violation paths."""
    try:
        yield
    except grpc.aio.AioRpcError as error:
        raise UpstreamError.from_rpc(service, error, fields or {}) from error


class CheckoutFailed(DomainError):
    """A checkout that ended without an order (declined card, out of stock, fraud block, ...).

    The reason is the checkout's failure code (PAYMENT_DECLINED, OUT_OF_STOCK, ...), so a repeat
    with the same idempotency key gets the same error. HTTP maps the reasons to statuses (402 for
    a declined payment).
    """

    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "CHECKOUT_FAILED"
