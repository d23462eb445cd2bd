"""HTTP fuzzing: schemathesis against the launched stack's two HTTP processes, the gateway (as an
anonymous shopper, a customer and an admin, each with a dev-issuer token) and the payment sandbox (over
HTTPS, checked against the stack's CA, with the tooling certificate: its server face admits tooling, so
every operation executes rather than answering 401).

Every operation of each OpenAPI document gets generated requests, valid and invalid ones, and then
stateful scenarios follow the documents' links (add to the cart, then change or remove the line;
place an order, then read its checkout and its order; tokenise a card, then authorise, capture,
void and refund). Every answer must be a deliberate one that the document allows:

- not_a_server_error: no 5xx;
- status_code_conformance: a status the operation documents;
- content_type_conformance: the documented media type (problem+json for errors);
- response_headers_conformance: the documented headers (ETag, Location, Retry-After...) well formed;
- response_schema_conformance: the body validates against the documented schema.

`make test` runs a few examples per operation; `make fuzz-http` runs thousands of cases
(FUZZ_HTTP_EXAMPLES per operation and caller, FUZZ_HTTP_SCENARIOS stateful scenarios) and prints
the answers per operation.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shop_devstack.harness import Stack
from shopkit.access import TOOLING

Case = schemathesis.Case[Any]

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(int(os.environ.get("FUZZ_HTTP_TIMEOUT", "900"))),
]

EXAMPLES = int(os.environ.get("FUZZ_HTTP_EXAMPLES", "3"))
SCENARIOS = int(os.environ.get("FUZZ_HTTP_SCENARIOS", "5"))
STEPS = int(os.environ.get("FUZZ_HTTP_STEPS", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CALL_SECONDS = 30.0
# Each caller has its own client addresses (the session stack trusts one X-Forwarded-For hop), far from
# the other system tests' shoppers, so that no rate-limit bucket is shared with them.
CALLER_IPS = {
    "anonymous": ipaddress.ip_address("198.19.250.0"),
    "customer": ipaddress.ip_address("198.19.251.0"),
    "admin": ipaddress.ip_address("198.19.252.0"),
    "sandbox": ipaddress.ip_address("198.19.253.0"),
}
TALLY: Counter[tuple[str, str, int]] = Counter()
FUZZ_SETTINGS = {
    "deadline": None,
    "database": None,
    "derandomize": False,
    "suppress_health_check": list(HealthCheck),
}


@dataclass
class Target:
    """One HTTP process as one kind of caller: its document and the headers every request carries."""

    api: str
    caller: str
    schema: schemathesis.BaseSchema
    base_url: str
    token: str = ""
    tls: dict[str, Any] = field(default_factory=dict)  # `requests`' verify= and cert= of an https target

    def __post_init__(self) -> None:
        self._addresses = (CALLER_IPS[self.caller] + n % 250 for n in itertools.count())

    def headers(self) -> dict[str, str]:
        """A fresh client address per request: the fuzz measures answers, not one client's rate limit."""
        headers = {"x-forwarded-for": str(next(self._addresses)), "x-device-id": f"fuzz-{self.caller}"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers

    def label(self, case: Case) -> str:
        return f"{self.api} {case.operation.method.upper()} {case.operation.path}"

    def send(self, case: Case) -> Response:
        response = case.call(base_url=self.base_url, headers=self.headers(), timeout=CALL_SECONDS, **self.tls)
        TALLY[(self.label(case), self.caller, response.status_code)] += 1
        return response


def _token(stack: Stack, http: httpx.Client, role: str) -> str:
    body = {"username": f"fuzz-{role}-{uuid.uuid4().hex[:10]}", "role": role}
    issued = http.post(f"{stack.gateway_url}/v1/auth/token", json=body)
    assert issued.status_code == 200, issued.text
    token: str = issued.json()["access_token"]
    return token


def _schema(url: str, **tls: Any) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=CALL_SECONDS, **tls)


@pytest.fixture(scope="module")
def targets(stack: Stack, http: httpx.Client) -> Iterator[dict[str, Target]]:
    cert, key = stack.certificate_files(TOOLING)
    sandbox_tls: dict[str, Any] = {"verify": str(stack.ca_file), "cert": (str(cert), str(key))}
    gateway, sandbox = _schema(stack.gateway_url), _schema(stack.sandbox_url, **sandbox_tls)
    found = {
        "gateway-anonymous": Target("gateway", "anonymous", gateway, stack.gateway_url),
        "gateway-customer": Target("gateway", "customer", gateway, stack.gateway_url, _token(stack, http, "customer")),
        "gateway-admin": Target("gateway", "admin", gateway, stack.gateway_url, _token(stack, http, "admin")),
        "sandbox": Target("sandbox", "sandbox", sandbox, stack.sandbox_url, tls=sandbox_tls),
    }
    yield found
    if TALLY:
        print(f"\nHTTP fuzzing: {sum(TALLY.values())} cases")
        for (label, caller, status), count in sorted(TALLY.items()):
            print(f"  {label:62} {caller:10} {status:4} {count}")


def _failure(target: Target, error: BaseException) -> str:
    return f"{target.api} as {target.caller}: {type(error).__name__}: {error}"


@pytest.mark.parametrize("target_name", ["gateway-anonymous", "gateway-customer", "gateway-admin", "sandbox"])
def test_every_operation_answers_as_documented(targets: dict[str, Target], target_name: str) -> None:
    """Generated requests (valid and invalid) for every operation of the document."""
    target = targets[target_name]
    failures: list[str] = []
    operations = 0
    for result in target.schema.get_all_operations():
        assert isinstance(result, Ok), f"{target.api}: the document has an invalid operation"
        operation = result.ok()
        operations += 1
        cases = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @settings(max_examples=EXAMPLES, **FUZZ_SETTINGS)  # type: ignore[arg-type]
        @given(case=cases)
        def check(case: Case) -> None:
            response = target.send(case)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as error:  # every operation runs; the failures are reported together
            failures.append(_failure(target, error))
    assert operations > 0
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("target_name", ["gateway-customer", "gateway-admin", "sandbox"])
def test_stateful_scenarios_answer_as_documented(targets: dict[str, Target], target_name: str) -> None:
    """Sequences that follow the document's links, each step's input taken from an earlier answer."""
    target = targets[target_name]
    machine: Any = target.schema.as_state_machine()

    class Scenario(machine):  # type: ignore[misc, valid-type]
        def call(self, case: Case, **kwargs: Any) -> Response:
            return target.send(case)

        def validate_response(self, response: Response, case: Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Scenario.run(settings=settings(max_examples=SCENARIOS, stateful_step_count=STEPS, **FUZZ_SETTINGS))  # type: ignore[arg-type]
