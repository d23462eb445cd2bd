"""Saved payment methods: the provider's token with what the provider says about the card, saved
once, by one customer; unknown tokens refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from shop.customers.v1 import customers_pb2 as pb
from shop.customers.v1 import events_pb2
from shopkit.testing import published_event

if TYPE_CHECKING:
    from conftest import Stack


async def test_a_saved_card_shows_what_the_provider_says_and_saving_again_changes_nothing(stack: Stack) -> None:
    customer = stack.new_customer()
    who = stack.shopper(customer)
    token = await stack.card()
    saved = await stack.stub.AddPaymentMethod(pb.AddPaymentMethodRequest(payment_method_id=token), metadata=who)
    method = saved.payment_method
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == ("visa", "4242", 7, 2031)
    again = await stack.stub.AddPaymentMethod(pb.AddPaymentMethodRequest(payment_method_id=token), metadata=who)
    assert again == saved
    listed = await stack.stub.ListPaymentMethods(pb.ListPaymentMethodsRequest(), metadata=who)
    assert [m.payment_method_id for m in listed.payment_methods] == [token]

    def about(payload: bytes) -> bool:
        event = events_pb2.PaymentMethodChanged.FromString(payload)
        return event.customer_id == customer and not event.deleted

    event = events_pb2.PaymentMethodChanged.FromString(
        await published_event(stack.nats_url, "shop.customers.payment_method_changed", about)
    )
    assert event.payment_method.last4 == "4242"


async def test_a_token_belongs_to_the_customer_who_saved_it(stack: Stack) -> None:
    token = await stack.card("5555555555554444")
    owner = stack.new_customer()
    await stack.stub.AddPaymentMethod(
        pb.AddPaymentMethodRequest(payment_method_id=token), metadata=stack.shopper(owner)
    )
    other = stack.new_customer()
    error = await stack.failure(
        stack.stub.AddPaymentMethod(pb.AddPaymentMethodRequest(payment_method_id=token), metadata=stack.shopper(other))
    )
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "PAYMENT_METHOD_TAKEN"
    assert await stack.count("payment_methods", other) == 0
    # Nor may another delete it.
    gone = pb.DeletePaymentMethodRequest(payment_method_id=token)
    assert not (await stack.stub.DeletePaymentMethod(gone, metadata=stack.shopper(other))).deleted
    assert await stack.count("payment_methods", owner) == 1


async def test_an_unknown_token_is_refused_and_a_delete_is_repeatable(stack: Stack) -> None:
    customer = stack.new_customer()
    who = stack.shopper(customer)
    error = await stack.failure(
        stack.stub.AddPaymentMethod(pb.AddPaymentMethodRequest(payment_method_id="pm_unknown"), metadata=who)
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.violations[0].field == "payment_method_id"
    empty = await stack.failure(stack.stub.AddPaymentMethod(pb.AddPaymentMethodRequest(), metadata=who))
    assert empty.code == grpc.StatusCode.INVALID_ARGUMENT
    # Not an id at all (the HTTP fuzzer sent this; it was a 503), and one the provider cannot read (its 422).
    for odd in ("Ì­Ïàà\U00069d10", "pm.x:y/z"):
        refused = await stack.failure(
            stack.stub.AddPaymentMethod(pb.AddPaymentMethodRequest(payment_method_id=odd), metadata=who)
        )
        assert refused.code == grpc.StatusCode.INVALID_ARGUMENT, (odd, refused)
        assert refused.violations[0].field == "payment_method_id"
    assert await stack.count("payment_methods", customer) == 0
    token = await stack.card()
    await stack.stub.AddPaymentMethod(pb.AddPaymentMethodRequest(payment_method_id=token), metadata=who)
    request = pb.DeletePaymentMethodRequest(payment_method_id=token)
    assert (await stack.stub.DeletePaymentMethod(request, metadata=who)).deleted
    assert not (await stack.stub.DeletePaymentMethod(request, metadata=who)).deleted
    assert not (await stack.stub.ListPaymentMethods(pb.ListPaymentMethodsRequest(), metadata=who)).payment_methods
