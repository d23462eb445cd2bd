"""The shopper's account over gRPC (shop.storefront.v1.AccountService): thin adapters over `app.me`
and `app.personal_data`, whose results convert by field name like the storefront's."""

from __future__ import annotations

import json

from shop.storefront.v1 import account_pb2 as pb
from shop.storefront.v1 import account_pb2_grpc
from shop_gateway.app import mapping, personal_data
from shop_gateway.app import me as use
from shop_gateway.grpcapi import Context, StorefrontServicer, to_proto
from shop_gateway.principal import Principal

PROFILE_FIELDS = ("display_name", "email", "phone", "locale", "currency", "country", "marketing_consent")


class AccountServicer(StorefrontServicer, account_pb2_grpc.AccountServiceServicer):
    """The storefront's admission (authentication, rate limits, client facts); only AccountService's
    methods are registered for it."""

    async def _caller(self, context: Context) -> Principal:
        who, _ = await self._admit(context)
        return who

    async def GetProfile(self, request: pb.GetProfileRequest, context: Context) -> pb.Profile:
        found = await use.get_profile(self.shop, await self._caller(context))
        return to_proto(pb.Profile, **vars(found))

    async def UpdateProfile(self, request: pb.UpdateProfileRequest, context: Context) -> pb.Profile:
        who = await self._caller(context)
        changes = {name: getattr(request, name) for name in PROFILE_FIELDS if request.HasField(name)}  # type: ignore[arg-type]
        found = await use.update_profile(self.shop, who, changes, request.version)
        return to_proto(pb.Profile, **vars(found))

    async def ListAddresses(self, request: pb.ListAddressesRequest, context: Context) -> pb.ListAddressesResponse:
        found = await use.list_addresses(self.shop, await self._caller(context))
        return to_proto(pb.ListAddressesResponse, addresses=found.addresses)

    async def AddAddress(self, request: pb.AddAddressRequest, context: Context) -> pb.SavedAddress:
        who = await self._caller(context)
        found = await use.add_address(
            self.shop,
            who,
            mapping.address(request.address),
            label=request.label,
            default_shipping=request.default_shipping,
            default_billing=request.default_billing,
            idempotency_key=request.idempotency_key,
        )
        return to_proto(pb.SavedAddress, **vars(found))

    async def UpdateAddress(self, request: pb.UpdateAddressRequest, context: Context) -> pb.SavedAddress:
        who = await self._caller(context)
        found = await use.update_address(
            self.shop,
            who,
            request.address_id,
            label=request.label if request.HasField("label") else None,
            address=mapping.address(request.address) if request.HasField("address") else None,
            default_shipping=request.default_shipping if request.HasField("default_shipping") else None,
            default_billing=request.default_billing if request.HasField("default_billing") else None,
            version=request.version,
        )
        return to_proto(pb.SavedAddress, **vars(found))

    async def DeleteAddress(self, request: pb.DeleteAddressRequest, context: Context) -> pb.DeleteAddressResponse:
        await use.delete_address(self.shop, await self._caller(context), request.address_id)
        return pb.DeleteAddressResponse()

    async def ListPaymentMethods(
        self, request: pb.ListPaymentMethodsRequest, context: Context
    ) -> pb.ListPaymentMethodsResponse:
        found = await use.list_payment_methods(self.shop, await self._caller(context))
        return to_proto(pb.ListPaymentMethodsResponse, payment_methods=found.payment_methods)

    async def AddPaymentMethod(self, request: pb.AddPaymentMethodRequest, context: Context) -> pb.SavedPaymentMethod:
        found = await use.add_payment_method(self.shop, await self._caller(context), request.payment_method_id)
        return to_proto(pb.SavedPaymentMethod, **vars(found))

    async def DeletePaymentMethod(
        self, request: pb.DeletePaymentMethodRequest, context: Context
    ) -> pb.DeletePaymentMethodResponse:
        await use.delete_payment_method(self.shop, await self._caller(context), request.payment_method_id)
        return pb.DeletePaymentMethodResponse()

    async def ExportMyData(self, request: pb.ExportMyDataRequest, context: Context) -> pb.ExportMyDataResponse:
        found = await personal_data.export_mine(self.shop, await self._caller(context))
        return pb.ExportMyDataResponse(
            customer_id=found.customer_id,
            exported_at=found.exported_at,
            services={name: json.dumps(section, sort_keys=True) for name, section in found.services.items()},
        )

    async def EraseMe(self, request: pb.EraseMeRequest, context: Context) -> pb.EraseMeResponse:
        found = await personal_data.erase_me(self.shop, await self._caller(context), request.idempotency_key)
        return pb.EraseMeResponse(
            customer_id=found.customer_id,
            idempotency_key=found.request_id,
            services={
                name: pb.ServiceErasure(changed=erased.changed, repeated=erased.repeated)
                for name, erased in found.services.items()
            },
        )
