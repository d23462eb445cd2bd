"""The gRPC servicer: authorisation, validation at the edge, protobuf <-> domain mapping.

PlaceOrder does everything that can make the call fail without starting anything (input, caller,
cart) before it records the checkout; from then on outcomes are statuses, not RPC errors.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc

from shop.cart.v1 import cart_pb2
from shop.checkout.v1 import checkout_pb2, checkout_pb2_grpc
from shop.common.v1 import common_pb2
from shop_checkout import mapping, quoting, store
from shop_checkout.domain import rules, transitions
from shop_checkout.domain.model import (
    CardPayment,
    CartLine,
    CartSnapshot,
    Checkout,
    Fulfilment,
    InvoicePayment,
    Payment,
    Pickup,
    Ship,
    Status,
)
from shop_checkout.domain.model import (
    PlaceOrder as PlaceOrderCommand,
)
from shop_checkout.engine import SagaEngine
from shop_checkout.peers import PeerError, Peers
from shop_checkout.rows import CartTaken
from shop_checkout.settings import CheckoutSettings
from shopkit import deadlines, pagination
from shopkit.auth import ADMIN_ROLES, Caller, caller
from shopkit.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    Unavailable,
    Violations,
)
from shopkit.identifiers import COUNTRY, check_idempotency_key
from shopkit.money import Money, is_currency
from shopkit.personal_data import PersonalDataRpcs

Context = grpc.aio.ServicerContext[Any, Any]

# Roles that may place orders; "" is a guest (the gateway forwards no identity).
BUYER_ROLES = ("", "customer", "b2b_buyer", "b2b_approver")
PAYMENT_METHOD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOCATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_TEXT = 200
MAX_PO = 64
MAX_TERMS_DAYS = 365
MAX_TAX_ID = 64
SHIPPING_METHOD = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # pricing's code alphabet
REQUIRED_ADDRESS_FIELDS = ("name", "line1", "city", "postal_code")
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "phone")

# --- validation ------------------------------------------------------------------------------------


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _check_address(v: Violations, pb: common_pb2.Address, path: str) -> None:
    for name in REQUIRED_ADDRESS_FIELDS:
        v.check(bool(getattr(pb, name).strip()), f"{path}.{name}", "is required")
    for name in ADDRESS_FIELDS:
        v.check(len(getattr(pb, name)) <= MAX_TEXT, f"{path}.{name}", f"must be at most {MAX_TEXT} characters")
    v.check(bool(COUNTRY.match(pb.country)), f"{path}.country", "must be an ISO-3166-1 alpha-2 code like DE")


def _payment(v: Violations, request: checkout_pb2.PlaceOrderRequest) -> Payment:
    kind = request.payment.WhichOneof("method")
    if kind == "card":
        pm = request.payment.card.payment_method_id
        v.check(bool(PAYMENT_METHOD_ID.match(pm)), "payment.card.payment_method_id", "must be 1-64 of A-Z a-z 0-9 _ -")
        return CardPayment(pm)
    if kind == "invoice":
        po = request.payment.invoice.purchase_order_number.strip()
        v.check(len(po) <= MAX_PO, "payment.invoice.purchase_order_number", f"must be at most {MAX_PO} characters")
        return InvoicePayment(po)
    v.add("payment", "is required: card or invoice")
    return CardPayment("")


def _fulfilment(v: Violations, request: checkout_pb2.PlaceOrderRequest) -> Fulfilment:
    kind = request.fulfilment.WhichOneof("method")
    if kind == "ship":
        if not request.fulfilment.ship.HasField("address"):
            v.add("fulfilment.ship.address", "is required")
        _check_address(v, request.fulfilment.ship.address, "fulfilment.ship.address")
        return Ship(mapping.address(request.fulfilment.ship.address))
    if kind == "pickup":
        store_id = request.fulfilment.pickup.store_id
        v.check(bool(LOCATION_ID.match(store_id)), "fulfilment.pickup.store_id", "must be a location id like st-berlin")
        return Pickup(store_id)
    v.add("fulfilment", "is required: ship or pickup")
    return Pickup("")


def place_order_from_pb(request: checkout_pb2.PlaceOrderRequest) -> PlaceOrderCommand:
    """The validated request; INVALID_ARGUMENT with every violation otherwise."""
    v = Violations()
    v.check(_is_uuid(request.cart_id), "cart_id", "must be a cart id (UUID)")
    check_idempotency_key(v, request.idempotency_key, "idempotency_key")
    payment = _payment(v, request)
    fulfilment = _fulfilment(v, request)
    if not request.HasField("billing_address"):
        v.add("billing_address", "is required")
    _check_address(v, request.billing_address, "billing_address")
    try:
        ipaddress.ip_address(request.client_ip)
    except ValueError:
        v.add("client_ip", "must be an IPv4 or IPv6 address")
    v.check(
        not request.client_ip_country or COUNTRY.match(request.client_ip_country) is not None,
        "client_ip_country",
        "must be empty or an ISO-3166-1 alpha-2 code",
    )
    v.check(len(request.device_id) <= MAX_TEXT, "device_id", f"must be at most {MAX_TEXT} characters")
    customer = request.customer
    v.check(request.HasField("customer"), "customer", "is required")
    v.check(not customer.currency or is_currency(customer.currency), "customer.currency", "must be an ISO-4217 code")
    v.check(
        not customer.country or COUNTRY.match(customer.country) is not None,
        "customer.country",
        "must be empty or an ISO-3166-1 alpha-2 code",
    )
    for name in ("customer_id", "customer_group", "account_id", "channel"):
        v.check(len(getattr(customer, name)) <= MAX_TEXT, f"customer.{name}", f"must be at most {MAX_TEXT} characters")
    email = request.email.strip()
    v.check(len(email) <= 254 and EMAIL.match(email) is not None, "email", "must be an email address")
    limit = _limit(v, request, "approval_limit")
    order_limit = _limit(v, request, "order_limit")
    v.check(len(request.cost_centre) <= MAX_TEXT, "cost_centre", f"must be at most {MAX_TEXT} characters")
    v.check(request.approval_period in mapping.PERIOD_FROM_PB, "approval_period", "unknown period")
    credit_limit = None
    if request.HasField("credit_limit"):
        credit_limit = mapping.money(request.credit_limit)
        v.check(is_currency(credit_limit.currency), "credit_limit.currency", "must be an ISO-4217 code like USD")
        v.check(credit_limit.amount >= 0, "credit_limit.amount", "must not be negative")
    v.check(request.cart_version >= 0, "cart_version", "must not be negative")
    v.check(
        0 <= request.payment_terms_days <= MAX_TERMS_DAYS,
        "payment_terms_days",
        f"must be 0 to {MAX_TERMS_DAYS}",
    )
    v.check(
        not request.shipping_method or SHIPPING_METHOD.match(request.shipping_method) is not None,
        "shipping_method",
        "must be a shipping method code like standard",
    )
    v.check(
        not (request.shipping_method and request.fulfilment.HasField("pickup")),
        "shipping_method",
        "a pickup takes no shipping method",
    )
    v.check(len(request.tax_id) <= MAX_TAX_ID, "tax_id", f"must be at most {MAX_TAX_ID} characters")
    v.check(len(request.sales_quote_id) <= MAX_TEXT, "sales_quote_id", f"must be at most {MAX_TEXT} characters")
    v.check(
        not request.sales_quote_id or bool(customer.account_id),
        "sales_quote_id",
        "a sales quote is ordered by a B2B account's buyer",
    )
    v.raise_if_any()
    return PlaceOrderCommand(
        cart_id=request.cart_id,
        idempotency_key=request.idempotency_key,
        payment=payment,
        fulfilment=fulfilment,
        billing_address=mapping.address(request.billing_address),
        customer=mapping.customer(customer),
        email=email,
        client_ip=request.client_ip,
        client_ip_country=request.client_ip_country,
        device_id=request.device_id,
        customer_since=request.customer_since.ToDatetime(tzinfo=UTC) if request.HasField("customer_since") else None,
        approval_limit=limit,
        approval_period=mapping.PERIOD_FROM_PB[request.approval_period],  # type: ignore[index]
        cart_version=request.cart_version,
        payment_terms_days=request.payment_terms_days,
        shipping_method=request.shipping_method,
        tax_id=request.tax_id.strip(),
        credit_limit=credit_limit,
        sales_quote_id=request.sales_quote_id.strip(),
        cost_centre=request.cost_centre.strip(),
        order_limit=order_limit,
    )


def _limit(v: Violations, request: checkout_pb2.PlaceOrderRequest, name: str) -> Money | None:
    """A buyer's spending limit the gateway set (None when unset)."""
    if not request.HasField(name):  # type: ignore[arg-type]
        return None
    limit = mapping.money(getattr(request, name))
    v.check(is_currency(limit.currency), f"{name}.currency", "must be an ISO-4217 code like USD")
    v.check(limit.amount >= 0, f"{name}.amount", "must not be negative")
    return limit


def _check_buyer(who: Caller, order: PlaceOrderCommand) -> None:
    if who.is_admin:
        return
    if who.role not in BUYER_ROLES:
        raise PermissionDenied(
            f"role {who.role!r} cannot place orders", reason="ROLE_REQUIRED", metadata={"role": who.role}
        )
    if order.customer.customer_id != who.customer_id:
        raise PermissionDenied("customer.customer_id must be the caller", reason="NOT_THE_CALLER")
    if who.account_id and order.customer.account_id != who.account_id:
        raise PermissionDenied("customer.account_id must be the caller's account", reason="NOT_THE_CALLER")


def _check_invoice(order: PlaceOrderCommand) -> None:
    if isinstance(order.payment, InvoicePayment) and not (order.customer.account_id and order.payment_terms_days > 0):
        raise FailedPrecondition(
            "only B2B accounts with payment terms may pay by invoice", reason="INVOICE_NOT_ALLOWED"
        )


def _runs_again(existing: Checkout, fingerprint: str) -> bool:
    """A repeat of a request whose checkout failed for a retryable reason (nothing was charged, and the
    failure was no answer of the shop's): it runs as a new attempt of the same key."""
    failure = existing.failure
    retryable = existing.status is Status.FAILED and failure is not None and failure.code in transitions.RETRYABLE
    return retryable and existing.fingerprint == fingerprint


def _may_see(who: Caller, c: Checkout) -> bool:
    if who.is_admin or not c.customer_id:  # guests: whoever holds the id
        return True
    if who.customer_id and who.customer_id == c.customer_id:
        return True
    account = c.request.customer.account_id
    return bool(account) and who.role in ("b2b_buyer", "b2b_approver") and who.account_id == account


# --- the cart --------------------------------------------------------------------------------------


def cart_snapshot(cart: cart_pb2.Cart, order: PlaceOrderCommand) -> CartSnapshot:
    """The cart if it can be checked out by this request; the matching RPC error otherwise."""
    if cart.customer_id != order.customer.customer_id:
        raise NotFound("cart", order.cart_id)
    if cart.status != cart_pb2.CART_STATUS_ACTIVE:
        status = cart_pb2.CartStatus.Name(cart.status).removeprefix("CART_STATUS_").lower()
        raise FailedPrecondition(
            f"the cart is {status}", reason="CART_NOT_CHECKOUTABLE", metadata={"cart_status": status}
        )
    if not cart.lines:
        raise FailedPrecondition("the cart is empty", reason="CART_NOT_CHECKOUTABLE")
    if cart.has_blocking_problems:
        raise FailedPrecondition(
            "some lines of the cart cannot be bought",
            reason="CART_NOT_CHECKOUTABLE",
            violations=[
                PreconditionViolation(
                    cart_pb2.LineProblemKind.Name(problem.kind).removeprefix("LINE_PROBLEM_KIND_"),
                    f"sku:{line.sku}",
                    problem.message,
                )
                for line in cart.lines
                for problem in line.problems
                if problem.blocking
            ],
        )
    if order.cart_version and cart.version != order.cart_version:
        raise Aborted(
            "the cart changed since it was shown",
            reason="CART_CHANGED",
            metadata={"cart_version": str(cart.version)},
        )
    currency = cart.context.currency
    return CartSnapshot(
        lines=tuple(
            CartLine(
                sku=line.sku,
                quantity=line.quantity,
                product_id=line.product_id,
                name=line.name,
                weight_grams=line.weight_grams,
            )
            for line in cart.lines
        ),
        currency=currency or order.customer.currency,
        coupon_code=cart.coupon.code if cart.HasField("coupon") else "",
        coupon_applied=cart.HasField("coupon") and cart.coupon.applied,
        version=cart.version,
    )


# --- the servicer ------------------------------------------------------------------------------------


class CheckoutServicer(PersonalDataRpcs, checkout_pb2_grpc.CheckoutServiceServicer):
    def __init__(self, engine: SagaEngine, peers: Peers, settings: CheckoutSettings):
        self.engine = engine
        self.peers = peers
        self.settings = settings

    async def PlaceOrder(
        self, request: checkout_pb2.PlaceOrderRequest, context: Context
    ) -> checkout_pb2.PlaceOrderResponse:
        who = caller(context)
        order = place_order_from_pb(request)
        _check_buyer(who, order)
        _check_invoice(order)
        key = rules.customer_key(order.customer.customer_id, order.cart_id)
        fingerprint = rules.request_fingerprint(order)
        existing = await self.engine.find(key, order.idempotency_key)
        if existing is not None and not _runs_again(existing, fingerprint):
            return await self._repeat(existing, fingerprint, context)
        snapshot = await self._cart(order)
        await quoting.check_shipping_method(self.peers, order, snapshot)
        now = datetime.now(UTC)
        checkout = Checkout(
            checkout_id=str(uuid.uuid4()),
            customer_key=key,
            fingerprint=fingerprint,
            request=order,
            cart=snapshot,
            created_at=now,
            updated_at=now,
            attempt=existing.attempt + 1 if existing is not None else 1,
        )
        try:
            created = await self.engine.create(checkout)
        except CartTaken:
            raise await self._cart_taken(order.cart_id) from None
        if not created:  # a concurrent submit with the same key (and attempt) won the insert
            existing = await self.engine.find(key, order.idempotency_key)
            assert existing is not None
            return await self._repeat(existing, fingerprint, context)
        settled = await self.engine.wait_settled(checkout.checkout_id, self._wait_seconds(context))
        return mapping.place_order_response(settled)

    async def _repeat(self, existing: Checkout, fingerprint: str, context: Context) -> checkout_pb2.PlaceOrderResponse:
        if existing.fingerprint != fingerprint:
            raise AlreadyExists("the idempotency key was used for a different request", reason="IDEMPOTENCY_KEY_REUSED")
        checked = False
        if existing.status is Status.ACTION_REQUIRED:  # the customer may have completed it: ask now
            checked = await self.engine.check_action(existing.checkout_id)
        elif existing.status in (Status.RUNNING, Status.COMPENSATING):
            await self.engine.nudge(existing.checkout_id)
        settled = await self.engine.wait_settled(existing.checkout_id, self._wait_seconds(context))
        if settled.status is Status.ACTION_REQUIRED and not checked:
            # A check under way before this call (the poll's) may have asked before the customer acted.
            await self.engine.check_action(existing.checkout_id)
            settled = await self.engine.wait_settled(existing.checkout_id, self._wait_seconds(context))
        return mapping.place_order_response(settled)

    async def _cart(self, order: PlaceOrderCommand) -> CartSnapshot:
        request = cart_pb2.GetCartRequest(cart_id=order.cart_id)
        try:
            response = await self.peers.call(
                "cart", self.peers.cart.GetCart, request, seconds=deadlines.remaining(self.peers.timeout)
            )
        except PeerError as exc:
            if exc.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound("cart", order.cart_id) from exc
            raise Unavailable("the cart could not be read; nothing was started", reason="CART_UNAVAILABLE") from exc
        cart = response.cart
        currency = cart.context.currency
        if order.customer.currency and currency and order.customer.currency != currency:
            v = Violations()
            v.add("customer.currency", f"must be the cart's currency {currency}")
            v.raise_if_any()
        return cart_snapshot(cart, order)

    async def _cart_taken(self, cart_id: str) -> Exception:
        live = await self.engine.live_checkout_of_cart(cart_id)
        if live is None:
            return Aborted("a concurrent checkout of the cart just ended; retry", reason="CONCURRENT_CHECKOUT")
        if live.status is Status.COMPLETED:
            return FailedPrecondition("the cart was checked out already", reason="CART_NOT_CHECKOUTABLE")
        return FailedPrecondition(
            "another checkout of this cart is in progress",
            reason="CHECKOUT_IN_PROGRESS",
            metadata={"checkout_id": live.checkout_id},
        )

    def _wait_seconds(self, context: Context) -> float:
        wait = self.settings.place_order_wait_seconds
        remaining = context.time_remaining()
        if remaining is not None:
            wait = min(wait, remaining - self.settings.deadline_margin_seconds)
        return max(0.0, wait)

    async def GetCheckout(
        self, request: checkout_pb2.GetCheckoutRequest, context: Context
    ) -> checkout_pb2.GetCheckoutResponse:
        who = caller(context)
        v = Violations()
        v.check(_is_uuid(request.checkout_id), "checkout_id", "must be a checkout id (UUID)")
        v.raise_if_any()
        found = await self.engine.get(request.checkout_id)
        if found is None or not _may_see(who, found):
            raise NotFound("checkout", request.checkout_id)
        return checkout_pb2.GetCheckoutResponse(checkout=mapping.checkout_pb(found))

    async def ListCheckouts(
        self, request: checkout_pb2.ListCheckoutsRequest, context: Context
    ) -> checkout_pb2.ListCheckoutsResponse:
        who = caller(context)
        customer_id = request.customer_id
        if who.role not in ADMIN_ROLES:
            if not who.customer_id or who.role not in BUYER_ROLES:
                raise PermissionDenied("listing checkouts needs a customer, admin or service", reason="ROLE_REQUIRED")
            if customer_id and customer_id != who.customer_id:
                raise PermissionDenied("customers may only list their own checkouts", reason="NOT_THE_CALLER")
            customer_id = who.customer_id
        v = Violations()
        for i, status in enumerate(request.statuses):
            v.check(status in mapping.STATUS_FROM_PB, f"statuses[{i}]", "unknown status")
        v.check(len(request.idempotency_key) <= 128, "idempotency_key", "must be at most 128 characters")
        v.raise_if_any()
        limit = pagination.page_size(request.page.page_size)
        after = _cursor(request.page.page_token)
        async with self.engine.db.connect() as conn:
            found = await store.list_checkouts(
                conn,
                statuses=[mapping.STATUS_FROM_PB[s] for s in request.statuses],  # type: ignore[index]
                customer_id=customer_id,
                idempotency_key=request.idempotency_key,
                after=after,
                limit=limit + 1,
            )
        page = found[:limit]
        token = ""
        if len(found) > limit:
            last = page[-1]
            token = pagination.encode_token({"t": last.created_at.isoformat(), "id": last.checkout_id})
        return checkout_pb2.ListCheckoutsResponse(
            checkouts=[mapping.checkout_pb(c) for c in page], page=common_pb2.PageResponse(next_page_token=token)
        )


def _cursor(token: str) -> tuple[datetime, str] | None:
    cursor = pagination.decode_token(token)
    if cursor is None:
        return None
    foreign = InvalidArgument([FieldViolation("page.page_token", "is not a token this service issued")])
    try:
        created_at = datetime.fromisoformat(str(cursor["t"]))
        checkout_id = str(cursor["id"])
    except (KeyError, ValueError) as exc:
        raise foreign from exc
    if not _is_uuid(checkout_id) or created_at.tzinfo is None:
        raise foreign
    return created_at, checkout_id
