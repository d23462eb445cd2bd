"""Saved addresses: the defaults (one of each), the limit, repeatable adds, versioned changes,
deletes, bad input that changes nothing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc

from shop.customers.v1 import customers_pb2 as pb
from shop_customers.domain import MAX_ADDRESSES

if TYPE_CHECKING:
    from conftest import Stack


def _defaults(found: pb.ListAddressesResponse) -> dict[str, tuple[bool, bool]]:
    return {a.label: (a.default_shipping, a.default_billing) for a in found.addresses}


async def test_the_first_address_is_both_defaults_and_a_later_one_takes_a_default_over(stack: Stack) -> None:
    who = stack.shopper(stack.new_customer())
    home = pb.AddAddressRequest(request_id="home-1", label="Home", address=stack.address())
    added = (await stack.stub.AddAddress(home, metadata=who)).address
    assert added.default_shipping and added.default_billing and added.address.city == "Berlin"
    office = pb.AddAddressRequest(
        request_id="office-1", label="Office", address=stack.address("Hamburg"), default_shipping=True
    )
    await stack.stub.AddAddress(office, metadata=who)
    found = await stack.stub.ListAddresses(pb.ListAddressesRequest(), metadata=who)
    assert _defaults(found) == {"Home": (False, True), "Office": (True, False)}
    assert [a.label for a in found.addresses] == ["Home", "Office"]
    # The same request again answers the address it added, and adds nothing.
    again = (await stack.stub.AddAddress(home, metadata=who)).address
    assert again.address_id == added.address_id
    assert len((await stack.stub.ListAddresses(pb.ListAddressesRequest(), metadata=who)).addresses) == 2


async def test_an_update_moves_the_billing_default_and_checks_the_version(stack: Stack) -> None:
    who = stack.shopper(stack.new_customer())
    home = (
        await stack.stub.AddAddress(
            pb.AddAddressRequest(request_id="h", label="Home", address=stack.address()), metadata=who
        )
    ).address
    office = (
        await stack.stub.AddAddress(
            pb.AddAddressRequest(request_id="o", label="Office", address=stack.address("Bonn")), metadata=who
        )
    ).address
    request = pb.UpdateAddressRequest(address_id=office.address_id, expected_version=office.version, label="Work")
    request.default_billing = True
    moved = (await stack.stub.UpdateAddress(request, metadata=who)).address
    assert moved.label == "Work" and moved.default_billing and moved.version == office.version + 1
    found = await stack.stub.ListAddresses(pb.ListAddressesRequest(), metadata=who)
    assert _defaults(found) == {"Home": (True, False), "Work": (False, True)}
    stale = await stack.failure(stack.stub.UpdateAddress(request, metadata=who))
    assert stale.code == grpc.StatusCode.ABORTED
    unknown = pb.UpdateAddressRequest(address_id="00000000-0000-0000-0000-000000000000", label="x")
    assert (await stack.failure(stack.stub.UpdateAddress(unknown, metadata=who))).code == grpc.StatusCode.NOT_FOUND
    # Another shopper does not find it.
    theirs = pb.UpdateAddressRequest(address_id=home.address_id, label="Mine")
    error = await stack.failure(stack.stub.UpdateAddress(theirs, metadata=stack.shopper(stack.new_customer())))
    assert error.code == grpc.StatusCode.NOT_FOUND


async def test_a_delete_is_repeatable(stack: Stack) -> None:
    who = stack.shopper(stack.new_customer())
    added = (
        await stack.stub.AddAddress(pb.AddAddressRequest(request_id="d", address=stack.address()), metadata=who)
    ).address
    request = pb.DeleteAddressRequest(address_id=added.address_id)
    assert (await stack.stub.DeleteAddress(request, metadata=who)).deleted
    assert not (await stack.stub.DeleteAddress(request, metadata=who)).deleted
    assert not (await stack.stub.ListAddresses(pb.ListAddressesRequest(), metadata=who)).addresses


async def test_a_customer_keeps_at_most_twenty_addresses(stack: Stack) -> None:
    customer = stack.new_customer()
    who = stack.shopper(customer)
    for index in range(MAX_ADDRESSES):
        await stack.stub.AddAddress(pb.AddAddressRequest(request_id=f"r{index}", address=stack.address()), metadata=who)
    error = await stack.failure(
        stack.stub.AddAddress(pb.AddAddressRequest(request_id="one-more", address=stack.address()), metadata=who)
    )
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "ADDRESS_LIMIT_REACHED"
    assert await stack.count("addresses", customer) == MAX_ADDRESSES


async def test_bad_addresses_are_named_and_add_nothing(stack: Stack) -> None:
    customer = stack.new_customer()
    who = stack.shopper(customer)
    bad = pb.AddAddressRequest(
        request_id="",
        label="x" * 51,
        address=stack.address(city="", country="Germany", name="", line1="", phone="call me"),
    )
    error = await stack.failure(stack.stub.AddAddress(bad, metadata=who))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {
        "request_id",
        "label",
        "address.name",
        "address.line1",
        "address.city",
        "address.country",
        "address.phone",
    }
    assert await stack.count("addresses", customer) == 0
    bad_id = pb.UpdateAddressRequest(address_id="not-a-uuid", label="x")
    error = await stack.failure(stack.stub.UpdateAddress(bad_id, metadata=who))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.violations[0].field == "address_id"


async def test_concurrent_adds_keep_the_limit_and_one_default_of_each(stack: Stack) -> None:
    customer = stack.new_customer()
    who = stack.shopper(customer)

    async def add(index: int) -> grpc.StatusCode:
        request = pb.AddAddressRequest(
            request_id=f"c{index}", address=stack.address(), default_shipping=True, default_billing=index % 2 == 0
        )
        try:
            await stack.stub.AddAddress(request, metadata=who)
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    codes = await asyncio.gather(*(add(index) for index in range(MAX_ADDRESSES + 5)))
    assert codes.count(grpc.StatusCode.OK) == MAX_ADDRESSES
    assert codes.count(grpc.StatusCode.FAILED_PRECONDITION) == 5
    found = (await stack.stub.ListAddresses(pb.ListAddressesRequest(), metadata=who)).addresses
    assert len(found) == MAX_ADDRESSES
    assert sum(a.default_shipping for a in found) == 1 and sum(a.default_billing for a in found) == 1
