"""Approval rules of B2B companies as the customers service holds them: the admins' use cases (any
company) and a company_admin member's (their own company). The customers service checks again who may
change which company's rules; here the request is made and the version a change is made to is read."""

from __future__ import annotations

from typing import Any

from shop.customers.v1 import customers_pb2 as pb
from shop_gateway.app import companies
from shop_gateway.app.validation import version_of_etag
from shop_gateway.backends import Backends
from shop_gateway.principal import Principal
from shopkit.errors import FieldViolation, InvalidArgument


def expected_version(if_match: str | None, in_body: int) -> int:
    """The version a change is made to: the If-Match header (the rule's ETag, e.g. "3"), else the
    body's `expected_version` (0: any); both set and different is a 400."""
    in_header = version_of_etag(if_match, "rule")
    if in_header and in_body and in_header != in_body:
        raise InvalidArgument([FieldViolation("expected_version", "differs from the If-Match header")])
    return in_header or in_body


async def call(backends: Backends, who: Principal, operation: str, request: Any, *, own: bool) -> Any:
    """`operation` for an admin (any company), or for a member on their own company (`own`)."""
    if own:
        return await companies.call_for_own(backends, who, operation, request)
    return await companies.call(backends, who, operation, request)


def update(account_id: str, rule_id: str, version: int, spec: pb.ApprovalRuleSpec) -> pb.UpdateApprovalRuleRequest:
    return pb.UpdateApprovalRuleRequest(account_id=account_id, rule_id=rule_id, expected_version=version, rule=spec)
