"""One review of the fraud queue through the gateway, against the REAL fraud service: the reasons with
their weights, the scores and the purchase's signals for an analyst (and an admin); customers refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from shop.common.v1 import common_pb2
from shop.fraud.v1 import fraud_pb2, fraud_pb2_grpc
from shop.storefront.v1 import backoffice_pb2_grpc
from shop_fraud.main import build as build_fraud
from shop_fraud.settings import FraudSettings
from shop_fraud.testing import predictable
from shopkit.auth import metadata_for
from shopkit.testing import Postgres, grpc_address, peer

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

REVIEW_COUNTRY = "KP"


@pytest.fixture(scope="module")
async def analysts(
    postgres: Postgres, nats_url: str, make_gateway: GatewayFactory
) -> AsyncIterator[tuple[Client, str]]:
    """A gateway with fraud behind it, and the id of a review a purchase from REVIEW_COUNTRY opened."""
    settings = predictable(blocked_domain="throwaway.test", review_country=REVIEW_COUNTRY)
    async with peer(build_fraud, FraudSettings, postgres, nats_url, **settings) as fraud:
        channel = grpc.aio.insecure_channel(grpc_address(fraud))
        stub = fraud_pb2_grpc.FraudServiceStub(channel)  # type: ignore[no-untyped-call]
        context = fraud_pb2.PurchaseContext(
            customer_id=f"cus-{uuid.uuid4().hex[:8]}",
            email="held@example.com",
            amount=common_pb2.Money(amount=4200, currency="USD"),
            ip="203.0.113.9",
            ip_country=REVIEW_COUNTRY,
            device_id="device-9",
            billing_country="US",
            shipping_country="US",
            lines=[
                fraud_pb2.AssessedLine(
                    sku="SKU-1", quantity=2, unit_price=common_pb2.Money(amount=2100, currency="USD")
                )
            ],
            channel="web",
        )
        assessed = await stub.Assess(
            fraud_pb2.AssessRequest(checkout_id=str(uuid.uuid4()), context=context), metadata=metadata_for("service")
        )
        assert assessed.assessment.decision == fraud_pb2.DECISION_REVIEW, assessed
        async with make_gateway(fraud_addr=grpc_address(fraud)) as client:
            yield client, assessed.assessment.review_id
        await channel.close(grace=None)


async def test_an_analyst_reads_the_reasons_and_signals(analysts: tuple[Client, str]) -> None:
    client, review_id = analysts
    for role in ("fraud_analyst", "admin"):
        response = await client.http.get(f"/v1/reviews/{review_id}", headers=await client.auth(role))
        assert response.status_code == 200, response.text
        review = response.json()
        assert review["status"] == "open" and review["assessment"]["decision"] == "review"
        reasons = {r["code"]: r["weight"] for r in review["assessment"]["reasons"]}
        assert reasons.get("high_risk_country") == 50
        signals = review["assessment"]["context"]
        assert (signals["ip"], signals["ip_country"], signals["device_id"]) == ("203.0.113.9", "KP", "device-9")
        assert signals["amount"] == {"amount": 4200, "currency": "USD"}
        assert signals["lines"] == [{"sku": "SKU-1", "quantity": 2, "unit_price": {"amount": 2100, "currency": "USD"}}]
    queue = await client.http.get("/v1/reviews", headers=await client.auth("fraud_analyst"))
    assert review_id in [r["review_id"] for r in queue.json()["reviews"]]


async def test_unknown_reviews_are_404_and_customers_are_refused(analysts: tuple[Client, str]) -> None:
    client, review_id = analysts
    analyst = await client.auth("fraud_analyst")
    missing = await client.http.get(f"/v1/reviews/{uuid.uuid4()}", headers=analyst)
    assert missing.status_code == 404, missing.text
    not_an_id = await client.http.get("/v1/reviews/not-a-uuid", headers=analyst)
    assert not_an_id.status_code in (400, 404), not_an_id.text
    client.problem(await client.http.get(f"/v1/reviews/{review_id}", headers=await client.auth()), 403, "ROLE_REQUIRED")
    client.problem(await client.http.get(f"/v1/reviews/{review_id}"), 401, "TOKEN_REQUIRED")


async def test_get_review_over_grpc(analysts: tuple[Client, str]) -> None:
    client, review_id = analysts
    analyst = (("authorization", f"Bearer {await client.token(role='fraud_analyst')}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{client.runtime.grpc_port}") as channel:
        office = backoffice_pb2_grpc.BackOfficeServiceStub(channel)  # type: ignore[no-untyped-call]
        found = await office.GetReview(fraud_pb2.GetReviewRequest(review_id=review_id), metadata=analyst)
        assert found.review.assessment.context.ip_country == REVIEW_COUNTRY
        assert fraud_pb2.REASON_CODE_HIGH_RISK_COUNTRY in [r.code for r in found.review.assessment.reasons]
