"""The shopper's own account (the customers service): profile, saved addresses, saved payment
methods. Shoppers only (customer and the B2B roles), each their own record: the customers service
takes the customer from the token the gateway signs, so no route names one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shop.customers.v1 import customers_pb2 as pb
from shop_gateway.app import mapping, models
from shop_gateway.app.access import require_shopper
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import Principal

ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
# The customers service's field paths -> the HTTP bodies' (addresses are flat there).
FIELDS = {
    **{f"address.{name}": name for name in ADDRESS_FIELDS},
    "request_id": "Idempotency-Key",
    "expected_version": "version",
}


@dataclass
class Profile:
    customer_id: str
    display_name: str
    email: str
    phone: str
    locale: str
    currency: str
    country: str
    marketing_consent: bool
    marketing_consent_at: str | None  # when consent was last given or withdrawn
    version: int  # send it back to change only this version
    created_at: str | None
    updated_at: str | None


@dataclass
class SavedAddress:
    address_id: str
    label: str
    address: models.Address
    default_shipping: bool
    default_billing: bool
    version: int
    created_at: str | None
    updated_at: str | None


@dataclass
class AddressList:
    addresses: list[SavedAddress]


@dataclass
class PaymentMethod:
    """A card saved as the payment provider's token: what POST /v1/checkout takes as payment_method_id."""

    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: str | None


@dataclass
class PaymentMethodList:
    payment_methods: list[PaymentMethod]


def _profile(value: pb.Profile) -> Profile:
    return Profile(
        customer_id=value.customer_id,
        display_name=value.display_name,
        email=value.email,
        phone=value.phone,
        locale=value.locale,
        currency=value.currency,
        country=value.country,
        marketing_consent=value.marketing_consent,
        marketing_consent_at=mapping.timestamp(value, "marketing_consent_at"),
        version=value.version,
        created_at=mapping.timestamp(value, "created_at"),
        updated_at=mapping.timestamp(value, "updated_at"),
    )


def _address(value: pb.SavedAddress) -> SavedAddress:
    return SavedAddress(
        address_id=value.address_id,
        label=value.label,
        address=mapping.address(value.address),
        default_shipping=value.default_shipping,
        default_billing=value.default_billing,
        version=value.version,
        created_at=mapping.timestamp(value, "created_at"),
        updated_at=mapping.timestamp(value, "updated_at"),
    )


def _method(value: pb.SavedPaymentMethod) -> PaymentMethod:
    return PaymentMethod(
        payment_method_id=value.payment_method_id,
        brand=value.brand,
        last4=value.last4,
        exp_month=value.exp_month,
        exp_year=value.exp_year,
        created_at=mapping.timestamp(value, "created_at"),
    )


async def get_profile(shop: Shop, who: Principal) -> Profile:
    require_shopper(who)
    with upstream("customers", FIELDS):
        response = await shop.backends.customers.GetProfile(pb.GetProfileRequest(), metadata=who.metadata())
    return _profile(response.profile)


async def update_profile(shop: Shop, who: Principal, changes: dict[str, Any], version: int = 0) -> Profile:
    """`changes`: the fields the shopper sent (the rest stays)."""
    require_shopper(who)
    request = pb.UpdateProfileRequest(expected_version=version, **changes)
    with upstream("customers", FIELDS):
        response = await shop.backends.customers.UpdateProfile(request, metadata=who.metadata())
    return _profile(response.profile)


async def list_addresses(shop: Shop, who: Principal) -> AddressList:
    require_shopper(who)
    with upstream("customers", FIELDS):
        response = await shop.backends.customers.ListAddresses(pb.ListAddressesRequest(), metadata=who.metadata())
    return AddressList([_address(a) for a in response.addresses])


async def add_address(
    shop: Shop,
    who: Principal,
    address: models.Address,
    *,
    label: str = "",
    default_shipping: bool = False,
    default_billing: bool = False,
    idempotency_key: str = "",
) -> SavedAddress:
    """Without an Idempotency-Key each call adds an address; with one, the same key adds one."""
    require_shopper(who)
    request = pb.AddAddressRequest(
        request_id=idempotency_key or str(uuid.uuid4()),
        label=label,
        address=mapping.address_to_proto(address),
        default_shipping=default_shipping,
        default_billing=default_billing,
    )
    with upstream("customers", FIELDS):
        response = await shop.backends.customers.AddAddress(request, metadata=who.metadata())
    return _address(response.address)


async def update_address(
    shop: Shop,
    who: Principal,
    address_id: str,
    *,
    label: str | None = None,
    address: models.Address | None = None,
    default_shipping: bool | None = None,
    default_billing: bool | None = None,
    version: int = 0,
) -> SavedAddress:
    require_shopper(who)
    request = pb.UpdateAddressRequest(address_id=address_id, expected_version=version)
    if label is not None:
        request.label = label
    if address is not None:
        request.address.CopyFrom(mapping.address_to_proto(address))
    if default_shipping is not None:
        request.default_shipping = default_shipping
    if default_billing is not None:
        request.default_billing = default_billing
    with upstream("customers", {**FIELDS, "address_id": "id"}):
        response = await shop.backends.customers.UpdateAddress(request, metadata=who.metadata())
    return _address(response.address)


async def delete_address(shop: Shop, who: Principal, address_id: str) -> None:
    """Deleting what is gone is no error: the address is not there either way."""
    require_shopper(who)
    with upstream("customers", {"address_id": "id"}):
        await shop.backends.customers.DeleteAddress(
            pb.DeleteAddressRequest(address_id=address_id), metadata=who.metadata()
        )


async def list_payment_methods(shop: Shop, who: Principal) -> PaymentMethodList:
    require_shopper(who)
    with upstream("customers"):
        response = await shop.backends.customers.ListPaymentMethods(
            pb.ListPaymentMethodsRequest(), metadata=who.metadata()
        )
    return PaymentMethodList([_method(m) for m in response.payment_methods])


async def add_payment_method(shop: Shop, who: Principal, payment_method_id: str) -> PaymentMethod:
    require_shopper(who)
    request = pb.AddPaymentMethodRequest(payment_method_id=payment_method_id)
    with upstream("customers"):
        response = await shop.backends.customers.AddPaymentMethod(request, metadata=who.metadata())
    return _method(response.payment_method)


async def delete_payment_method(shop: Shop, who: Principal, payment_method_id: str) -> None:
    require_shopper(who)
    request = pb.DeletePaymentMethodRequest(payment_method_id=payment_method_id)
    with upstream("customers", {"payment_method_id": "id"}):
        await shop.backends.customers.DeletePaymentMethod(request, metadata=who.metadata())
