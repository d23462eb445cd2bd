"""Protobuf <-> domain at the edge of the customers service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb
from shop_customers.domain import (
    AddressChange,
    NewAddress,
    PostalAddress,
    Profile,
    ProfileChange,
    SavedAddress,
    SavedPaymentMethod,
)


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def profile(value: Profile) -> pb.Profile:
    return pb.Profile(
        customer_id=value.customer_id,
        display_name=value.display_name,
        email=value.email,
        phone=value.phone,
        locale=value.locale,
        currency=value.currency,
        country=value.country,
        marketing_consent=value.marketing_consent,
        marketing_consent_at=timestamp(value.marketing_consent_at),
        version=value.version,
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
    )


def profile_change(request: pb.UpdateProfileRequest) -> ProfileChange:
    fields = ("display_name", "email", "phone", "locale", "currency", "country", "marketing_consent")
    values: dict[str, Any] = {field: getattr(request, field) for field in fields if request.HasField(field)}  # type: ignore[arg-type]
    for field in ("display_name", "email", "phone", "locale"):
        if field in values:
            values[field] = values[field].strip()
    for field in ("currency", "country"):
        if field in values:
            values[field] = values[field].strip().upper()
    return ProfileChange(**values)


def postal_address(value: common_pb2.Address) -> PostalAddress:
    return PostalAddress(
        name=value.name.strip(),
        line1=value.line1.strip(),
        line2=value.line2.strip(),
        city=value.city.strip(),
        region=value.region.strip(),
        postal_code=value.postal_code.strip(),
        country=value.country.strip().upper(),
        phone=value.phone.strip(),
    )


def saved_address(value: SavedAddress) -> pb.SavedAddress:
    a = value.address
    return pb.SavedAddress(
        address_id=str(value.address_id),
        label=value.label,
        address=common_pb2.Address(
            name=a.name,
            line1=a.line1,
            line2=a.line2,
            city=a.city,
            region=a.region,
            postal_code=a.postal_code,
            country=a.country,
            phone=a.phone,
        ),
        default_shipping=value.default_shipping,
        default_billing=value.default_billing,
        version=value.version,
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
    )


def new_address(request: pb.AddAddressRequest) -> NewAddress:
    return NewAddress(
        request_id=request.request_id,
        label=request.label.strip(),
        address=postal_address(request.address),
        default_shipping=request.default_shipping,
        default_billing=request.default_billing,
    )


def address_change(request: pb.UpdateAddressRequest) -> AddressChange:
    return AddressChange(
        label=request.label.strip() if request.HasField("label") else None,
        address=postal_address(request.address) if request.HasField("address") else None,
        default_shipping=request.default_shipping if request.HasField("default_shipping") else None,
        default_billing=request.default_billing if request.HasField("default_billing") else None,
    )


def payment_method(value: SavedPaymentMethod) -> pb.SavedPaymentMethod:
    return pb.SavedPaymentMethod(
        payment_method_id=value.payment_method_id,
        brand=value.brand,
        last4=value.last4,
        exp_month=value.exp_month,
        exp_year=value.exp_year,
        created_at=timestamp(value.created_at),
    )
