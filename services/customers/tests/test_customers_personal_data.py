"""A customer's account: export, and erasure that deletes the profile, addresses, saved payment
methods and company memberships once per request id (with shop.customers.customer_erased); others'
accounts and the companies stay."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import grpc

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb
from shopkit.testing import published_event

if TYPE_CHECKING:
    from conftest import Stack


async def test_erasure_deletes_the_account_once(stack: Stack) -> None:
    customer, other = stack.new_customer(), stack.new_customer()
    who = stack.shopper(customer)
    await stack.stub.UpdateProfile(pb.UpdateProfileRequest(display_name="Ada", email="ada@example.com"), metadata=who)
    await stack.stub.AddAddress(pb.AddAddressRequest(request_id="home-1", address=stack.address()), metadata=who)
    await stack.stub.AddPaymentMethod(pb.AddPaymentMethodRequest(payment_method_id=await stack.card()), metadata=who)
    await stack.stub.AddAddress(
        pb.AddAddressRequest(request_id="home-1", address=stack.address()), metadata=stack.shopper(other)
    )
    account = f"co-{uuid.uuid4().hex[:10]}"
    company = pb.CreateCompanyRequest(
        request_id="c-1", account_id=account, name="Acme", credit_limit=common_pb2.Money(currency="USD")
    )
    await stack.stub.CreateCompany(company, metadata=stack.admin)
    member = pb.AddCompanyMemberRequest(
        request_id="m-1", account_id=account, user_id=customer, role=pb.MEMBER_ROLE_BUYER
    )
    await stack.stub.AddCompanyMember(member, metadata=stack.admin)

    export = common_pb2.ExportCustomerDataRequest(customer_id=customer)
    document = json.loads((await stack.stub.ExportCustomerData(export, metadata=who)).document)
    assert [p["email"] for p in document["profiles"]] == ["ada@example.com"]
    assert [a["line1"] for a in document["addresses"]] == ["Main St 1"]
    assert len(document["payment_methods"]) == 1
    assert [m["account_id"] for m in document["company_memberships"]] == [account]

    request = common_pb2.EraseCustomerRequest(customer_id=customer, request_id=str(uuid.uuid4()))
    erased = await stack.stub.EraseCustomer(request, metadata=who)
    assert dict(erased.changed) == {"profiles": 1, "addresses": 1, "payment_methods": 1, "company_memberships": 1}
    repeat = await stack.stub.EraseCustomer(request, metadata=stack.admin)
    assert repeat.repeated and dict(repeat.changed) == dict(erased.changed)
    again = common_pb2.EraseCustomerRequest(customer_id=customer, request_id=str(uuid.uuid4()))
    assert set((await stack.stub.EraseCustomer(again, metadata=stack.admin)).changed.values()) == {0}

    document = json.loads((await stack.stub.ExportCustomerData(export, metadata=stack.admin)).document)
    assert (document["profiles"], document["addresses"], document["payment_methods"]) == ([], [], [])
    assert document["company_memberships"] == []
    kept = await stack.stub.GetCompany(pb.GetCompanyRequest(account_id=account), metadata=stack.admin)
    assert kept.company.account_id == account and list(kept.members) == []
    assert len(document["erasures"]) == 2
    assert await stack.count("addresses", other) == 1
    payload = await published_event(
        stack.nats_url,
        "shop.customers.customer_erased",
        lambda data: common_pb2.CustomerErased.FromString(data).request_id == request.request_id,
        10.0,
    )
    assert common_pb2.CustomerErased.FromString(payload).customer_id == customer


async def test_only_the_customer_or_an_admin(stack: Stack) -> None:
    customer = stack.new_customer()
    request = common_pb2.EraseCustomerRequest(customer_id=customer, request_id=str(uuid.uuid4()))
    error = await stack.failure(stack.stub.EraseCustomer(request, metadata=stack.shopper(stack.new_customer())))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "NOT_DATA_SUBJECT"
