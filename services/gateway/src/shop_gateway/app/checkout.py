"""Placing the order of the caller's cart, and following its checkout."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import grpc
from google.protobuf import timestamp_pb2

from shop.cart.v1 import cart_pb2
from shop.checkout.v1 import checkout_pb2
from shop.common.v1 import common_pb2
from shop_gateway.app import invoices, mapping, models
from shop_gateway.app.access import require_cart_holder, require_role
from shop_gateway.app.cart import active_cart, buyer_context
from shop_gateway.app.checkout_saved import check_choice, saved_addresses
from shop_gateway.app.errors import CheckoutFailed, UpstreamError, upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import check_address
from shop_gateway.principal import B2B_ROLES, SHOPPER_ROLES, ClientInfo, Principal
from shopkit.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, Unavailable, Violations
from shopkit.identifiers import REQUEST_ID, check_idempotency_key

INVOICE = "invoice"
# A checkout failed as UNAVAILABLE waited out an outage for a minute already: a client retries later.
CHECKOUT_RETRY_AFTER_SECONDS = 5
MAX_PO = 64
MAX_EMAIL = 254
MAX_SHIPPING_METHOD = 64
FIELDS = {
    "payment.card.payment_method_id": "payment_method",
    "payment.card": "payment_method",
    "payment.invoice.purchase_order_number": "purchase_order_number",
    "payment": "payment_method",
    "fulfilment.ship.address": "shipping_address",
    "fulfilment.pickup.store_id": "fulfillment.store_id",
    "fulfilment": "fulfillment",
    "customer": "token",
    "shipping_method": "shipping_method",
    "tax_id": "token",
    "sales_quote_id": "quote_id",
}


@dataclass(frozen=True)
class CheckoutInput:
    """What the shopper submits (the cart is the caller's active cart)."""

    idempotency_key: str
    payment_method: str  # a payment method id of the payment provider, or "invoice"
    purchase_order_number: str = ""
    shipping_address: models.Address | None = None
    billing_address: models.Address | None = None  # defaults to the shipping address
    fulfillment_method: str = "ship"  # ship or pickup
    store_id: str = ""
    email: str = ""  # defaults to the token's email claim
    cart_version: int = 0
    shipping_method: str = ""  # a code of GET /v1/cart/shipping-options; empty: the cheapest
    shipping_address_id: str = ""  # instead of shipping_address: one of the customer's saved addresses
    billing_address_id: str = ""  # instead of billing_address
    quote_id: str = ""  # B2B: an accepted sales quote (app.quotes) whose prices the order carries


def _validate(order: CheckoutInput, who: Principal) -> str:
    """Every problem at once; the e-mail to use."""
    violations = Violations()
    key = order.idempotency_key
    if not key:
        error = InvalidArgument(
            [FieldViolation("idempotency_key", "is required (over HTTP: the Idempotency-Key header)")]
        )
        error.reason = "IDEMPOTENCY_KEY_REQUIRED"
        raise error
    check_idempotency_key(violations, key, "idempotency_key")
    method = order.payment_method
    violations.check(
        method == INVOICE or REQUEST_ID.match(method) is not None,
        "payment_method",
        'must be a payment method id from the payment provider, or "invoice"',
    )
    violations.check(
        not order.purchase_order_number or method == INVOICE, "purchase_order_number", "is only for invoices"
    )
    violations.check(
        len(order.purchase_order_number) <= MAX_PO, "purchase_order_number", f"at most {MAX_PO} characters"
    )
    check_choice(violations, order.shipping_address, order.shipping_address_id, "shipping_address")
    check_choice(violations, order.billing_address, order.billing_address_id, "billing_address")
    if order.fulfillment_method == "ship":
        if order.shipping_address is not None:
            check_address(violations, order.shipping_address, "shipping_address")
        elif not order.shipping_address_id:
            violations.add("shipping_address", "is required for shipping (or shipping_address_id)")
    elif order.fulfillment_method == "pickup":
        violations.check(bool(order.store_id), "fulfillment.store_id", "is required for pickup")
        if order.shipping_address is not None:
            check_address(violations, order.shipping_address, "shipping_address")
    else:
        violations.add("fulfillment.method", 'must be "ship" or "pickup"')
    if order.billing_address is not None:
        check_address(violations, order.billing_address, "billing_address")
    elif order.shipping_address is None and not (order.shipping_address_id or order.billing_address_id):
        violations.add("billing_address", "is required when there is no shipping address")
    email = order.email or who.email
    violations.check(
        0 < len(email) <= MAX_EMAIL and "@" in email.strip("@"),
        "email",
        "is required (the token has no email claim) and must be an e-mail address",
    )
    violations.check(order.cart_version >= 0, "cart_version", "must not be negative")
    violations.check(len(order.shipping_method) <= MAX_SHIPPING_METHOD, "shipping_method", "at most 64 characters")
    violations.check(
        not (order.shipping_method and order.fulfillment_method == "pickup"),
        "shipping_method",
        "a pickup takes no shipping method",
    )
    violations.check(
        not order.quote_id or who.role in B2B_ROLES, "quote_id", "quotes are ordered by a B2B account's buyers"
    )
    violations.raise_if_any()
    return email


def _request(
    shop: Shop, who: Principal, client: ClientInfo, order: CheckoutInput, cart: cart_pb2.Cart, email: str
) -> checkout_pb2.PlaceOrderRequest:
    request = checkout_pb2.PlaceOrderRequest(
        cart_id=cart.cart_id,
        idempotency_key=order.idempotency_key,
        client_ip=client.ip,
        client_ip_country=client.ip_country,
        device_id=client.device_id,
        customer=buyer_context(shop, who, cart),
        email=email,
        cart_version=order.cart_version,
        shipping_method=order.shipping_method,
        tax_id=who.tax_id if who.account_id else "",
        sales_quote_id=order.quote_id,
    )
    if order.payment_method == INVOICE:
        request.payment.invoice.purchase_order_number = order.purchase_order_number
        credit = invoices.credit_limit_of(who)
        if credit is not None:
            request.credit_limit.CopyFrom(credit)
    else:
        request.payment.card.payment_method_id = order.payment_method
    if order.fulfillment_method == "pickup":
        request.fulfilment.pickup.store_id = order.store_id
    else:
        assert order.shipping_address is not None
        request.fulfilment.ship.address.CopyFrom(mapping.address_to_proto(order.shipping_address))
    billing = order.billing_address or order.shipping_address
    assert billing is not None
    request.billing_address.CopyFrom(mapping.address_to_proto(billing))
    if who.customer_since is not None:
        request.customer_since.CopyFrom(timestamp_pb2.Timestamp(seconds=int(who.customer_since.timestamp())))
    if who.account_id:
        terms = who.payment_terms_days
        request.payment_terms_days = terms if terms is not None else shop.settings.b2b_default_payment_terms_days
    if who.role == "b2b_buyer":
        period = who.approval_period or shop.settings.b2b_default_approval_period
        request.approval_period = checkout_pb2.ApprovalPeriod.Value(f"APPROVAL_PERIOD_{period.upper()}")
        currency = shop.currency(who)
        limit = who.approval_limit
        amount = (
            limit.amount
            if limit is not None and limit.currency == currency
            else shop.settings.b2b_default_approval_limit
        )
        request.approval_limit.CopyFrom(common_pb2.Money(amount=amount, currency=currency))
    if who.account_id:
        # The account's approval rules may depend on the cost centre; both of the member's limits count.
        request.cost_centre = who.cost_centre
        if who.order_limit is not None and who.order_limit.currency == shop.currency(who):
            request.order_limit.CopyFrom(
                common_pb2.Money(amount=who.order_limit.amount, currency=who.order_limit.currency)
            )
    return request


async def place_order(shop: Shop, who: Principal, client: ClientInfo, order: CheckoutInput) -> models.PlaceOrderResult:
    """Runs the checkout of the caller's active cart. The same idempotency key gives the same
    answer, also after the cart was checked out (the first checkout is found by its key; a guest's
    checkout by its cart, which stays the guest's token)."""
    require_cart_holder(who)
    email = _validate(order, who)
    shipping, billing = await saved_addresses(shop, who, order.shipping_address_id, order.billing_address_id)
    order = dataclasses.replace(
        order, shipping_address=order.shipping_address or shipping, billing_address=order.billing_address or billing
    )
    cart = await active_cart(shop, who)
    if cart is None:
        replay = await _checkout_by_key(shop, who, order.idempotency_key)
        if replay is not None:
            return await _outcome(shop, who, replay)
        raise FailedPrecondition("there is no cart to check out", reason="CART_EMPTY")
    request = _request(shop, who, client, order, cart, email)
    try:
        response = await shop.backends.checkout.PlaceOrder(
            request, metadata=who.metadata(), timeout=shop.settings.checkout_timeout_seconds
        )
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION):
            # The key may belong to an earlier checkout of a cart that is gone since (a replay).
            replay = await _checkout_by_key(shop, who, order.idempotency_key)
            if replay is not None and replay.cart_id != cart.cart_id:
                return await _outcome(shop, who, replay)
        raise UpstreamError.from_rpc("checkout", error, FIELDS) from error
    return await _outcome(shop, who, response)


async def _checkout_by_key(shop: Shop, who: Principal, key: str) -> checkout_pb2.Checkout | None:
    """The caller's checkout placed with this idempotency key, if any (a guest's is found by PlaceOrder
    itself: its keys are scoped to its cart, and guests have no list of their own)."""
    if who.is_guest:
        return None
    request = checkout_pb2.ListCheckoutsRequest(
        customer_id=who.subject, idempotency_key=key, page=common_pb2.PageRequest(page_size=1)
    )
    with upstream("checkout"):
        response = await shop.backends.checkout.ListCheckouts(request, metadata=who.metadata())
    return next((c for c in response.checkouts if c.idempotency_key == key), None)


async def _outcome(
    shop: Shop, who: Principal, answer: checkout_pb2.PlaceOrderResponse | checkout_pb2.Checkout
) -> models.PlaceOrderResult:
    """The answer of a checkout (PlaceOrder's, or a replay's from the checkout itself): its status and,
    when action_required, what the customer must do; a failure is an error."""
    checkout_id, failure = answer.checkout_id, answer.failure
    if answer.status != checkout_pb2.CHECKOUT_STATUS_FAILED:
        return models.PlaceOrderResult(
            checkout_id=checkout_id,
            order_id=answer.order_id,
            order_number=answer.order_number,
            status=mapping.checkout_status(answer.status),
            next_action=mapping.next_action(answer),
        )
    code = checkout_pb2.FailureCode.Name(failure.code).removeprefix("FAILURE_CODE_")
    metadata = {"checkout_id": checkout_id, "step": mapping.checkout_failure(failure).step}
    if failure.code == checkout_pb2.FAILURE_CODE_UNAVAILABLE:
        # Nothing was charged, and a repeat with the same idempotency key runs the checkout again.
        message = failure.message or "the order could not be placed just now"
        raise Unavailable(message, reason=code, metadata=metadata, retry_after_seconds=CHECKOUT_RETRY_AFTER_SECONDS)
    if failure.code == checkout_pb2.FAILURE_CODE_PAYMENT_DECLINED:
        decline = await _decline_code(shop, who, checkout_id)
        if decline:
            metadata["decline_code"] = decline
    raise CheckoutFailed(failure.message or "the order could not be placed", reason=code, metadata=metadata)


async def _decline_code(shop: Shop, who: Principal, checkout_id: str) -> str:
    """The provider's decline code of the failed authorisation (e.g. card_declined), if known."""
    try:
        response = await shop.backends.checkout.GetCheckout(
            checkout_pb2.GetCheckoutRequest(checkout_id=checkout_id), metadata=who.metadata()
        )
    except grpc.aio.AioRpcError:
        return ""
    declined = [a.decline_code for a in response.checkout.payment_attempts if not a.succeeded and a.decline_code]
    return declined[-1] if declined else ""


async def get_checkout(shop: Shop, who: Principal, checkout_id: str) -> models.Checkout:
    if not who.is_guest:
        require_role(who, (*SHOPPER_ROLES, "admin"))
    if not checkout_id:
        raise NotFound("checkout", checkout_id)
    with upstream("checkout", {"checkout_id": "id"}):
        response = await shop.backends.checkout.GetCheckout(
            checkout_pb2.GetCheckoutRequest(checkout_id=checkout_id), metadata=who.metadata()
        )
    found = response.checkout
    # A guest's checkouts are those of its cart (and of no customer).
    mine = found.customer.customer_id == who.subject and (not who.is_guest or found.cart_id == who.guest_cart_id)
    if who.role != "admin" and not mine:
        raise NotFound("checkout", checkout_id)  # someone else's: do not reveal that it exists
    return mapping.checkout(found)
