"""Pure helpers of the kit: money arithmetic, page tokens, retry policies from proto options."""

from __future__ import annotations

import json

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from shop.common.v1 import common_pb2
from shopkit.clients import channel_options, retry_service_config
from shopkit.errors import InvalidArgument, Violations
from shopkit.money import Money, is_currency, minor_units, percent_of
from shopkit.pagination import decode_token, encode_token, page_size


@pytest.mark.parametrize(
    ("amount", "bp", "expected"),
    [
        (1000, 1000, 100),
        (999, 1000, 100),
        (994, 1000, 99),
        (995, 1000, 100),
        (-995, 1000, -100),
        (1, 5000, 1),
        (0, 2500, 0),
    ],
)
def test_percent_of_rounds_half_away_from_zero(amount: int, bp: int, expected: int) -> None:
    assert percent_of(amount, bp) == expected


def test_money_refuses_mixed_currencies() -> None:
    assert Money(150, "USD") + Money(50, "USD") == Money(200, "USD")
    assert Money(150, "USD").times(3) == Money(450, "USD")
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(1, "USD") + Money(1, "EUR")


def test_currencies_and_their_minor_units_are_iso_4217s() -> None:
    assert [minor_units(code) for code in ("USD", "JPY", "KWD", "CLF", "ISK", "HUF")] == [2, 0, 3, 4, 0, 2]
    assert is_currency("EUR") and is_currency("UYW")
    # Codes of the right shape that are not money one can price in: unassigned, gold, "no currency".
    assert not any(is_currency(code) for code in ("ABC", "XAU", "XXX", "usd", "US"))


def test_money_from_proto_collects_violations() -> None:
    violations = Violations()
    Money.from_proto(common_pb2.Money(amount=-5, currency="usd"), "price", violations)
    Money.from_proto(common_pb2.Money(amount=5, currency="ABC"), "cost", violations)
    assert [v.field for v in violations.items] == ["price.currency", "price.amount", "cost.currency"]
    with pytest.raises(InvalidArgument):
        violations.raise_if_any()


def test_page_tokens_round_trip_and_reject_garbage() -> None:
    token = encode_token({"after": "p-42", "rank": 0.5})
    assert decode_token(token) == {"after": "p-42", "rank": 0.5}
    assert decode_token("") is None
    for bad in ("!!!", encode_token({"a": 1})[:-3] + "@@@", "WzFd"):  # "WzFd" is a JSON list
        with pytest.raises(InvalidArgument) as err:
            decode_token(bad)
        assert err.value.violations[0].field == "page.page_token"
    assert page_size(0) == 50 and page_size(10_000) == 500
    with pytest.raises(InvalidArgument):
        page_size(-1)


def _service_with_levels() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="kit_retry_test.proto", package="kit.retry.v1")
    file.message_type.add(name="M")
    service = file.service.add(name="RetryService")
    for name, level in (
        ("GetThing", descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS),
        ("PutThing", descriptor_pb2.MethodOptions.IDEMPOTENT),
        ("CreateThing", descriptor_pb2.MethodOptions.IDEMPOTENCY_UNKNOWN),
    ):
        method = service.method.add(name=name, input_type=".kit.retry.v1.M", output_type=".kit.retry.v1.M")
        method.options.idempotency_level = level
    return file


def test_retry_policy_covers_exactly_the_idempotent_methods() -> None:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_service_with_levels())
    service = pool.FindServiceByName("kit.retry.v1.RetryService")
    config = retry_service_config([service])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    (method_config,) = config["methodConfig"]
    assert {n["method"] for n in method_config["name"]} == {"GetThing", "PutThing"}
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    options = dict(channel_options([service]))
    assert json.loads(options["grpc.service_config"]) == config
