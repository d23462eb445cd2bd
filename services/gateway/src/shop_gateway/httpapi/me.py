"""/v1/me: the signed-in shopper's own account — profile, saved addresses, saved payment methods
(see app.me). PATCH bodies change the fields they carry; `version` (optional) makes a change apply
only to the version the shopper read (409 VERSION_MISMATCH otherwise)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response
from pydantic import Field

from shop_gateway.app import me as use
from shop_gateway.app import models
from shop_gateway.app.validation import MAX_INT64
from shop_gateway.httpapi.backoffice.common import Body, IdempotencyKey, router
from shop_gateway.httpapi.deps import ShopDep, SignedIn
from shop_gateway.httpapi.schemas import AddressBody

me = router("/v1/me", "account")

Short = Annotated[str, Field(max_length=256)]
Version = Annotated[int, Field(0, ge=0, le=MAX_INT64, description="the version read; 0 or absent: whatever it is now")]


class ProfileBody(Body):
    display_name: Short | None = None
    email: Short | None = None
    phone: Short | None = None
    locale: Short | None = Field(None, description="BCP 47, e.g. en-US")
    currency: Short | None = Field(None, description="ISO-4217, e.g. EUR")
    country: Short | None = Field(None, description="ISO-3166-1 alpha-2, e.g. DE")
    marketing_consent: bool | None = Field(None, description="changing it records when")
    version: Version = 0


class NewAddressBody(AddressBody):
    label: Short = Field("", description='e.g. "Home"')
    default_shipping: bool = Field(False, description="the first address is both defaults anyway")
    default_billing: bool = False


class AddressPatchBody(Body):
    label: Short | None = None
    address: AddressBody | None = Field(None, description="replaces the whole address")
    default_shipping: bool | None = Field(None, description="true moves the default here; false clears it")
    default_billing: bool | None = None
    version: Version = 0


class PaymentMethodBody(Body):
    payment_method_id: Short = Field(description="the payment provider's token of the card (never the card number)")


def _address(body: AddressBody) -> models.Address:
    return models.Address(**{name: getattr(body, name) for name in use.ADDRESS_FIELDS})


@me.get("", summary="The caller's profile (created empty on the first call)")
async def get_profile(shop: ShopDep, who: SignedIn) -> use.Profile:
    return await use.get_profile(shop, who)


@me.patch("", summary="Change fields of the caller's profile")
async def update_profile(body: ProfileBody, shop: ShopDep, who: SignedIn) -> use.Profile:
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    return await use.update_profile(shop, who, changes, body.version)


@me.get("/addresses", summary="The caller's saved addresses, oldest first")
async def list_addresses(shop: ShopDep, who: SignedIn) -> use.AddressList:
    return await use.list_addresses(shop, who)


@me.post("/addresses", status_code=201, summary="Save an address (at most 20)")
async def add_address(
    body: NewAddressBody, shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None
) -> use.SavedAddress:
    """name, line1, city and country are required. A default taken here is taken from the address
    that had it. The same Idempotency-Key answers the address it saved; 409 ADDRESS_LIMIT_REACHED
    at 20."""
    return await use.add_address(
        shop,
        who,
        _address(body),
        label=body.label,
        default_shipping=body.default_shipping,
        default_billing=body.default_billing,
        idempotency_key=idempotency_key or "",
    )


@me.patch("/addresses/{address_id}", summary="Change a saved address or its defaults")
async def update_address(address_id: str, body: AddressPatchBody, shop: ShopDep, who: SignedIn) -> use.SavedAddress:
    return await use.update_address(
        shop,
        who,
        address_id,
        label=body.label,
        address=_address(body.address) if body.address is not None else None,
        default_shipping=body.default_shipping,
        default_billing=body.default_billing,
        version=body.version,
    )


@me.delete("/addresses/{address_id}", status_code=204, summary="Delete a saved address (repeatable)")
async def delete_address(address_id: str, shop: ShopDep, who: SignedIn) -> Response:
    await use.delete_address(shop, who, address_id)
    return Response(status_code=204)


@me.get("/payment-methods", summary="The caller's saved cards (the provider's tokens)")
async def list_payment_methods(shop: ShopDep, who: SignedIn) -> use.PaymentMethodList:
    return await use.list_payment_methods(shop, who)


@me.post("/payment-methods", status_code=201, summary="Save a card the payment provider tokenised")
async def add_payment_method(body: PaymentMethodBody, shop: ShopDep, who: SignedIn) -> use.PaymentMethod:
    """Brand, last four digits and expiry are read from the provider. Saving the same token again
    answers the saved card; a token saved in another account is 409 PAYMENT_METHOD_TAKEN, one the
    provider does not know 400 on payment_method_id."""
    return await use.add_payment_method(shop, who, body.payment_method_id)


@me.delete("/payment-methods/{payment_method_id}", status_code=204, summary="Delete a saved card (repeatable)")
async def delete_payment_method(payment_method_id: str, shop: ShopDep, who: SignedIn) -> Response:
    await use.delete_payment_method(shop, who, payment_method_id)
    return Response(status_code=204)
