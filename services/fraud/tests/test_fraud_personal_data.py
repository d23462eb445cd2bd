"""What fraud holds about a customer: export, and erasure that drops the raw e-mail, IP and device id
of the customer's assessments once per request id, keeps the hashed counters, and lets the model go
on scoring the customer's purchases."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import grpc

from shop.common.v1 import common_pb2
from shopkit.auth import metadata_for
from shopkit.personal_data import pseudonym_email

if TYPE_CHECKING:
    from conftest import FraudService

ADMIN = metadata_for("admin")


async def export(fraud: FraudService, customer_id: str) -> dict[str, list[dict[str, object]]]:
    request = common_pb2.ExportCustomerDataRequest(customer_id=customer_id)
    document: dict[str, list[dict[str, object]]] = json.loads(
        (await fraud.stub.ExportCustomerData(request, metadata=ADMIN)).document
    )
    return document


async def test_erasure_drops_raw_identifiers_and_keeps_counting(fraud: FraudService) -> None:
    context = fraud.context()
    customer_id = context.customer_id
    first = await fraud.assess(context)
    observations = await fraud.count("observations")

    before = await export(fraud, customer_id)
    assert [a["id"] for a in before["assessments"]] == [first.assessment_id]
    assert before["assessments"][0]["context"]["ip"] == context.ip  # type: ignore[index]

    request = common_pb2.EraseCustomerRequest(customer_id=customer_id, request_id=str(uuid.uuid4()))
    as_customer = metadata_for("customer", customer_id=customer_id)
    erased = await fraud.stub.EraseCustomer(request, metadata=as_customer)
    assert dict(erased.changed) == {"assessments": 1}
    assert (await fraud.stub.EraseCustomer(request, metadata=ADMIN)).repeated
    again = common_pb2.EraseCustomerRequest(customer_id=customer_id, request_id=str(uuid.uuid4()))
    assert dict((await fraud.stub.EraseCustomer(again, metadata=ADMIN)).changed) == {"assessments": 0}

    after = await export(fraud, customer_id)
    kept = after["assessments"][0]["context"]
    assert isinstance(kept, dict)
    assert (kept["email"], kept["ip"], kept["device_id"]) == (pseudonym_email(customer_id), "", "")
    assert (kept["ip_country"], kept["card_fingerprint"]) == (context.ip_country, context.card_fingerprint)
    assert len(after["erasures"]) == 2
    # The hashed counters stay: the customer's next purchase is scored with the earlier one counted.
    assert await fraud.count("observations") == observations
    second = await fraud.assess(fraud.context(customer_id=customer_id))
    assert second.assessment_id and second.decision == first.decision
    rows = await fraud.sql(
        "SELECT count(DISTINCT ref) AS n FROM observations o WHERE kind = 'customer' AND key IN "
        "(SELECT key FROM observations WHERE ref = :ref AND kind = 'customer')",
        ref=first.checkout_id,
    )
    assert rows[0].n == 2


async def test_someone_else_may_not_export(fraud: FraudService) -> None:
    request = common_pb2.ExportCustomerDataRequest(customer_id="cust-x")
    error = await fraud.fails(
        fraud.stub.ExportCustomerData(request, metadata=metadata_for("customer", customer_id="cust-y"))
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    error = await fraud.fails(fraud.stub.ExportCustomerData(request, metadata=metadata_for("fraud_analyst")))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
