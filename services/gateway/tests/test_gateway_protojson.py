"""The back office's generic mapping between the services' messages and the API's JSON: lower-case enums
without their prefix, 64-bit integers as numbers, times as RFC 3339, unset messages as null, optional
scalars absent as null; and back, with an unknown enum name or a malformed value as a field violation."""

from __future__ import annotations

from datetime import UTC, datetime

from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2
from shop.pricing.v1 import pricing_pb2
from shop_gateway.app.backoffice import protojson
from shopkit.errors import Violations


def test_a_message_becomes_the_apis_json() -> None:
    rule = pricing_pb2.DynamicRule(id="r1", skus=["A", "B"], low_stock_threshold=5, raise_bp=1000)
    rule.created_at.FromDatetime(datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC))
    plain = protojson.to_plain(rule)
    assert plain["low_stock_threshold"] == 5 and isinstance(plain["low_stock_threshold"], int)
    assert plain["high_stock_threshold"] is None  # optional and unset
    assert (plain["skus"], plain["enabled"], plain["currency"]) == (["A", "B"], False, "")
    assert plain["created_at"] == "2027-01-02T03:04:05Z" and plain["updated_at"] is None

    level = inventory_pb2.StockLevel(sku="A", on_hand=2**40)
    assert protojson.to_plain(level)["on_hand"] == 2**40
    location = inventory_pb2.Location(location_id="wh", type=inventory_pb2.LOCATION_TYPE_STORE)
    assert (protojson.to_plain(location)["type"], protojson.to_plain(location)["address"]) == ("store", None)
    assert protojson.to_plain(inventory_pb2.Location())["type"] == ""


def test_the_apis_json_becomes_a_message() -> None:
    violations = Violations()
    plain = {
        "id": "spring",
        "kind": "percent",
        "target": "products",
        "amount_off": {"amount": 500, "currency": "USD"},
        "valid_from": "2027-03-01T00:00:00+01:00",
        "skus": ["A"],
        "min_spend": None,
        "unknown_field": "ignored",
    }
    promotion = protojson.from_plain(plain, pricing_pb2.Promotion, violations)
    assert violations.items == []
    assert (promotion.kind, promotion.target) == (
        pricing_pb2.DISCOUNT_KIND_PERCENT,
        pricing_pb2.DISCOUNT_TARGET_PRODUCTS,
    )
    assert promotion.amount_off == common_pb2.Money(amount=500, currency="USD")
    assert promotion.valid_from.ToDatetime(tzinfo=UTC) == datetime(2027, 2, 28, 23, tzinfo=UTC)
    assert not promotion.HasField("min_spend")


def test_bad_values_are_field_violations() -> None:
    violations = Violations()
    protojson.from_plain({"kind": "cheap", "scope": {"currency": "USD"}}, pricing_pb2.PriceList, violations)
    assert [(v.field, v.description) for v in violations.items] == [("kind", "must be one of sale, override")]
    nested = Violations()
    entry = {"sku": "A", "tiers": [{"min_quantity": 1, "unit_price": {"amount": "many", "currency": "USD"}}]}
    protojson.from_plain(entry, pricing_pb2.PriceListEntry, nested, "entries[0]")
    assert [v.field for v in nested.items] == ["entries[0]"]
    times = Violations()
    protojson.from_plain({"valid_from": "yesterday"}, pricing_pb2.PriceList, times)
    assert [v.field for v in times.items] == ["body"]
