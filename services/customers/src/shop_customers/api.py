"""The gRPC servicer of shop.customers.v1.CustomersService. Each method finds whose record the call
is about (the shopper's own, or the one the tooling names), calls one use case, encodes."""

from __future__ import annotations

from typing import Any

import grpc

from shop.customers.v1 import customers_pb2 as pb
from shop.customers.v1 import customers_pb2_grpc
from shop_customers import mapping
from shop_customers.approvals.api import ApprovalRuleRpcs
from shop_customers.approvals.operations import ApprovalRules
from shop_customers.company_api import CompanyRpcs
from shop_customers.company_operations import Companies
from shop_customers.domain import customer_of
from shop_customers.operations import Customers
from shopkit.auth import caller
from shopkit.personal_data import PersonalDataRpcs

Context = grpc.aio.ServicerContext[Any, Any]


def _customer(context: Context, requested: str) -> str:
    return customer_of(caller(context), requested)


class CustomersServicer(CompanyRpcs, ApprovalRuleRpcs, PersonalDataRpcs, customers_pb2_grpc.CustomersServiceServicer):
    def __init__(self, customers: Customers, companies: Companies, approval_rules: ApprovalRules):
        self.customers = customers
        self.companies = companies
        self.approval_rules = approval_rules

    async def GetProfile(self, request: pb.GetProfileRequest, context: Context) -> pb.GetProfileResponse:
        found = await self.customers.profile(_customer(context, request.customer_id))
        return pb.GetProfileResponse(profile=mapping.profile(found))

    async def UpdateProfile(self, request: pb.UpdateProfileRequest, context: Context) -> pb.UpdateProfileResponse:
        customer_id = _customer(context, request.customer_id)
        updated = await self.customers.update_profile(
            customer_id, mapping.profile_change(request), request.expected_version
        )
        return pb.UpdateProfileResponse(profile=mapping.profile(updated))

    async def ListAddresses(self, request: pb.ListAddressesRequest, context: Context) -> pb.ListAddressesResponse:
        found = await self.customers.addresses(_customer(context, request.customer_id))
        return pb.ListAddressesResponse(addresses=[mapping.saved_address(a) for a in found])

    async def AddAddress(self, request: pb.AddAddressRequest, context: Context) -> pb.AddAddressResponse:
        customer_id = _customer(context, request.customer_id)
        added = await self.customers.add_address(customer_id, mapping.new_address(request))
        return pb.AddAddressResponse(address=mapping.saved_address(added))

    async def UpdateAddress(self, request: pb.UpdateAddressRequest, context: Context) -> pb.UpdateAddressResponse:
        customer_id = _customer(context, request.customer_id)
        updated = await self.customers.update_address(
            customer_id, request.address_id, mapping.address_change(request), request.expected_version
        )
        return pb.UpdateAddressResponse(address=mapping.saved_address(updated))

    async def DeleteAddress(self, request: pb.DeleteAddressRequest, context: Context) -> pb.DeleteAddressResponse:
        customer_id = _customer(context, request.customer_id)
        return pb.DeleteAddressResponse(deleted=await self.customers.delete_address(customer_id, request.address_id))

    async def ListPaymentMethods(
        self, request: pb.ListPaymentMethodsRequest, context: Context
    ) -> pb.ListPaymentMethodsResponse:
        found = await self.customers.payment_methods(_customer(context, request.customer_id))
        return pb.ListPaymentMethodsResponse(payment_methods=[mapping.payment_method(m) for m in found])

    async def AddPaymentMethod(
        self, request: pb.AddPaymentMethodRequest, context: Context
    ) -> pb.AddPaymentMethodResponse:
        customer_id = _customer(context, request.customer_id)
        saved = await self.customers.add_payment_method(customer_id, request.payment_method_id.strip())
        return pb.AddPaymentMethodResponse(payment_method=mapping.payment_method(saved))

    async def DeletePaymentMethod(
        self, request: pb.DeletePaymentMethodRequest, context: Context
    ) -> pb.DeletePaymentMethodResponse:
        customer_id = _customer(context, request.customer_id)
        deleted = await self.customers.delete_payment_method(customer_id, request.payment_method_id.strip())
        return pb.DeletePaymentMethodResponse(deleted=deleted)
