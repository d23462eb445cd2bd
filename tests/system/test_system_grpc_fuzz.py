"""gRPC fuzzing: every unary method of every service and of the gateway's public API (storefront,
back office, returns, account, integrations, companies, quotes, invoices), called on the launched
stack with generated requests
(hypothesis, from the protobuf descriptors) as each kind of caller (each service method over mutual TLS with the
certificate of an identity its allow-list admits: tooling where it may, else the service whose step
it is; the gateway's staff services also with an admin's bearer token). Whatever comes in, the answer is a
deliberate one: never INTERNAL, UNKNOWN or DATA_LOSS (a server error with a traceback behind it),
never a deadline blown by one request, and a refused call changes no row: the called service's
database (every database, for the gateway's API) holds the same rows at the same versions after it
(`shop_devstack.rowversions`). Other processes may write in the same moment (an earlier call's events,
the outbox relay), so a refused call after which rows changed is made again once the databases are
quiet: a change that comes back with it fails the test.

`make test` runs a few examples per method; `make fuzz` runs many (FUZZ_EXAMPLES, default 200) and
prints a table of the status codes per method.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop_devstack.grpcfuzz import Method, message_class, requests, unary_methods
from shop_devstack.layout import GATEWAY_GRPC_PORT, SERVICE_PORTS
from shop_devstack.rowversions import RowVersions, stack_databases
from shopkit.access import TOOLING

if TYPE_CHECKING:
    from shop_devstack.harness import Stack

# `make test` keeps to a few per method (the CI budget: about 300 methods); `make fuzz` runs many.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
SERVER_ERRORS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS})
# Answers that say the call did nothing (not UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED: whether
# those did anything is unknown to the caller).
REFUSALS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)
DATABASES = (*SERVICE_PORTS, "sandbox")
CALL_SECONDS = 20.0
# On whose behalf: nobody, a customer, the calling process itself, an admin.
CALLERS: dict[str, tuple[tuple[str, str], ...]] = {
    "anonymous": (),
    "customer": (("x-shop-role", "customer"), ("x-shop-customer-id", "fuzz-customer")),
    "service": (("x-shop-role", "service"),),
    "admin": (("x-shop-role", "admin"),),
}
# The gateway's public API takes a bearer token instead: the storefront is called without one (an
# anonymous shopper), the shopper's account also with a customer's, the staff services (back office,
# returns) also with an admin's.
GATEWAY_SERVICE = "shop.storefront.v1.StorefrontService"
GATEWAY_ACCOUNT = "shop.storefront.v1.AccountService"
GATEWAY_MODULES = ("storefront", "backoffice", "returns", "account", "integrations", "companies", "quotes", "invoices")
TALLY: Counter[tuple[str, str]] = Counter()
NOT_REPEATED: Counter[str] = Counter()  # refused calls after which rows changed, but not when made again
WRITES_SEEN: Counter[str] = Counter()  # admitted calls after which rows changed: the reads see writes


def identity_for(process: str, method: Method) -> str:
    """Who calls `method`: tooling when its allow-list admits tooling, else the first service it names."""
    allowed = importlib.import_module(f"shop_{process}.access").CALLERS[method.name]
    return TOOLING if TOOLING in allowed else sorted(allowed)[0]


def _services() -> Iterator[tuple[str, int, Method]]:
    for name, (port, _) in SERVICE_PORTS.items():
        module = importlib.import_module(f"shop.{name}.v1.{name}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in unary_methods(service):
                yield name, port, method
    for name in GATEWAY_MODULES:
        module = importlib.import_module(f"shop.storefront.v1.{name}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in unary_methods(service):
                yield "gateway", GATEWAY_GRPC_PORT, method


METHODS = list(_services())


def _serialized(message: Message) -> bytes:
    return message.SerializeToString()


@pytest.fixture(scope="module")
def channels(stack: Stack) -> Iterator[dict[tuple[str, str], grpc.Channel]]:
    """(process, identity) -> channel; the gateway's public port in plain text, as its clients call it."""
    opened = {("gateway", ""): grpc.insecure_channel(f"127.0.0.1:{GATEWAY_GRPC_PORT + stack.offset}")}
    for process, _, method in METHODS:
        if process != "gateway" and (key := (process, identity_for(process, method))) not in opened:
            opened[key] = stack.service_channel(*key)
    yield opened
    for channel in opened.values():
        channel.close()
    if TALLY:
        print("\nstatus codes per method:")
        for (path, code), count in sorted(TALLY.items()):
            print(f"  {path:70} {code:20} {count}")
    refused = sum(count for (_, code), count in TALLY.items() if code in {c.name for c in REFUSALS})
    print(f"\nrefused calls: {refused}, each followed by a read of its rows' versions; changes that did not")
    print(f"come back when the call was made again (other processes' work): {dict(NOT_REPEATED) or 'none'}")
    print(f"admitted calls after which rows had changed: {sum(WRITES_SEEN.values())} in {len(WRITES_SEEN)} methods")


@pytest.fixture(scope="module")
def gateway_users(stack: Stack) -> dict[str, tuple[tuple[str, str], ...]]:
    """An admin and a customer of the gateway's public API: bearer tokens of the stack's dev issuer."""
    users: dict[str, tuple[tuple[str, str], ...]] = {}
    for role in ("admin", "customer"):
        issued = httpx.post(f"{stack.gateway_url}/v1/auth/token", json={"username": f"fuzz-{role}", "role": role})
        assert issued.status_code == 200, issued.text
        users[role] = (("authorization", f"Bearer {issued.json()['access_token']}"),)
    return users


@pytest.fixture(scope="module")
def row_versions(stack: Stack) -> Iterator[RowVersions]:
    versions = RowVersions(stack_databases(stack.data_dir, DATABASES))
    yield versions
    versions.close()


@pytest.mark.parametrize(("process", "port", "method"), METHODS, ids=[f"{p}.{m.name}" for p, _, m in METHODS])
def test_no_request_gets_a_server_error_and_a_refused_one_changes_nothing(
    stack: Stack,
    channels: dict[tuple[str, str], grpc.Channel],
    row_versions: RowVersions,
    gateway_users: dict[str, tuple[tuple[str, str], ...]],
    process: str,
    port: int,
    method: Method,
) -> None:
    identity = "" if process == "gateway" else identity_for(process, method)
    call = channels[(process, identity)].unary_unary(
        method.path,
        request_serializer=_serialized,
        response_deserializer=message_class(method.response).FromString,
    )
    if process != "gateway":
        callers = sorted(CALLERS)
    else:
        signed_in = {GATEWAY_SERVICE: [], GATEWAY_ACCOUNT: ["customer"]}.get(method.service, ["admin"])
        callers = ["anonymous", *signed_in]
    databases = DATABASES if process == "gateway" else (process,)

    def signed(caller: str) -> tuple[tuple[str, str], ...]:
        """A user as the gateway names one to a service: in a token it signed for that service; to the
        gateway itself, a bearer token (or nothing)."""
        if process == "gateway":
            return gateway_users.get(caller, ())
        return stack.as_user(process, CALLERS[caller])

    def attempt(request: Message, caller: str) -> tuple[grpc.StatusCode, str]:
        try:
            call(request, metadata=signed(caller), timeout=CALL_SECONDS)
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
        return grpc.StatusCode.OK, ""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(request=requests(method.request), caller=st.sampled_from(callers))
    def check(request: Message, caller: str) -> None:
        before = row_versions.read(databases)
        code, details = attempt(request, caller)
        TALLY[(method.path, code.name)] += 1
        assert code not in SERVER_ERRORS, f"{method.path} as {caller}: {code.name} {details!r} for {request}"
        assert code is not grpc.StatusCode.DEADLINE_EXCEEDED, f"{method.path} as {caller}: no answer in time"
        if code not in REFUSALS:
            if code is grpc.StatusCode.OK and RowVersions.changed(before, row_versions.read(databases)):
                WRITES_SEEN[method.path] += 1
            return
        if not RowVersions.changed(before, row_versions.read(databases)):
            return
        quiet = row_versions.quiet(databases)
        again, _ = attempt(request, caller)
        changed = RowVersions.changed(quiet, row_versions.read(databases))
        if again in REFUSALS and changed:
            pytest.fail(f"{method.path} as {caller}: refused ({again.name}) yet changed {changed}: {request}")
        NOT_REPEATED[method.path] += 1

    check()
