"""Profiles: created on the first read, changed field by field with a version, checked, published,
and each shopper's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from shop.customers.v1 import customers_pb2 as pb
from shop.customers.v1 import events_pb2
from shopkit.testing import published_event

if TYPE_CHECKING:
    from conftest import Stack


async def test_the_first_read_creates_an_empty_profile_and_the_second_reads_it(stack: Stack) -> None:
    customer = stack.new_customer()
    first = (await stack.stub.GetProfile(pb.GetProfileRequest(), metadata=stack.shopper(customer))).profile
    again = (await stack.stub.GetProfile(pb.GetProfileRequest(), metadata=stack.shopper(customer))).profile
    assert first.customer_id == customer and first.version == 1 and not first.email
    assert again == first


async def test_an_update_changes_the_fields_it_sets_and_stamps_the_consent(stack: Stack) -> None:
    customer = stack.new_customer()
    who = stack.shopper(customer)
    request = pb.UpdateProfileRequest(
        display_name="Ada", email="ada@example.com", locale="en-GB", currency="eur", country="de"
    )
    request.marketing_consent = True
    updated = (await stack.stub.UpdateProfile(request, metadata=who)).profile
    assert (updated.display_name, updated.currency, updated.country) == ("Ada", "EUR", "DE")
    assert updated.marketing_consent and updated.HasField("marketing_consent_at")
    phone = pb.UpdateProfileRequest(phone="+49 30 1234567", expected_version=updated.version)
    later = (await stack.stub.UpdateProfile(phone, metadata=who)).profile
    assert later.phone == "+49 30 1234567" and later.email == "ada@example.com"
    assert later.version == updated.version + 1 and later.marketing_consent_at == updated.marketing_consent_at
    # The same change again is no change: no new version.
    same = (await stack.stub.UpdateProfile(pb.UpdateProfileRequest(phone="+49 30 1234567"), metadata=who)).profile
    assert same.version == later.version

    def changed(payload: bytes) -> bool:
        event = events_pb2.ProfileChanged.FromString(payload)
        return event.profile.customer_id == customer and event.profile.version == later.version

    event = events_pb2.ProfileChanged.FromString(
        await published_event(stack.nats_url, "shop.customers.profile_changed", changed)
    )
    assert event.meta.event_id and event.profile.phone == "+49 30 1234567"


async def test_a_stale_version_is_aborted_and_changes_nothing(stack: Stack) -> None:
    customer = stack.new_customer()
    who = stack.shopper(customer)
    current = (await stack.stub.UpdateProfile(pb.UpdateProfileRequest(display_name="A"), metadata=who)).profile
    error = await stack.failure(
        stack.stub.UpdateProfile(
            pb.UpdateProfileRequest(display_name="B", expected_version=current.version - 1), metadata=who
        )
    )
    assert error.code == grpc.StatusCode.ABORTED and error.reason == "VERSION_MISMATCH"
    assert (await stack.stub.GetProfile(pb.GetProfileRequest(), metadata=who)).profile == current


async def test_bad_fields_are_named_and_change_nothing(stack: Stack) -> None:
    customer = stack.new_customer()
    who = stack.shopper(customer)
    before = (await stack.stub.GetProfile(pb.GetProfileRequest(), metadata=who)).profile
    request = pb.UpdateProfileRequest(
        display_name="x" * 101, email="not-mail", phone="call me", locale="English!", currency="EURO", country="Germany"
    )
    error = await stack.failure(stack.stub.UpdateProfile(request, metadata=who))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"display_name", "email", "phone", "locale", "currency", "country"}
    assert (await stack.stub.GetProfile(pb.GetProfileRequest(), metadata=who)).profile == before


async def test_a_shopper_reads_their_own_record_and_tooling_names_one(stack: Stack) -> None:
    customer = stack.new_customer()
    await stack.stub.UpdateProfile(pb.UpdateProfileRequest(display_name="Own"), metadata=stack.shopper(customer))
    other = await stack.failure(
        stack.stub.GetProfile(pb.GetProfileRequest(customer_id=customer), metadata=stack.shopper(stack.new_customer()))
    )
    assert other.code == grpc.StatusCode.PERMISSION_DENIED and other.reason == "NOT_OWN_ACCOUNT"
    b2b = await stack.stub.GetProfile(
        pb.GetProfileRequest(customer_id=customer), metadata=stack.shopper(customer, "b2b_buyer")
    )
    assert b2b.profile.display_name == "Own"
    read = (await stack.stub.GetProfile(pb.GetProfileRequest(customer_id=customer), metadata=stack.admin)).profile
    assert read.display_name == "Own"
    unnamed = await stack.failure(stack.stub.GetProfile(pb.GetProfileRequest(), metadata=stack.admin))
    assert unnamed.code == grpc.StatusCode.INVALID_ARGUMENT and unnamed.violations[0].field == "customer_id"
    staff = await stack.failure(
        stack.stub.GetProfile(pb.GetProfileRequest(), metadata=stack.shopper(customer, "store_staff"))
    )
    assert staff.code == grpc.StatusCode.PERMISSION_DENIED
