"""Backend protobuf messages -> the plain results of the application layer."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import EnumDescriptor

from shop.cart.v1 import cart_pb2
from shop.catalog.v1 import catalog_pb2
from shop.checkout.v1 import checkout_pb2
from shop.common.v1 import common_pb2
from shop.fraud.v1 import fraud_pb2
from shop.inventory.v1 import inventory_pb2
from shop.order.v1 import order_pb2
from shop_gateway.app import models


def enum_name(enum: EnumDescriptor, value: int, prefix: str) -> str:
    """ORDER_STATUS_PENDING_REVIEW -> pending_review; unknown or unset values -> ""."""
    found = enum.values_by_number.get(value)
    if found is None:
        return ""
    name = found.name.removeprefix(prefix)
    return "" if name == "UNSPECIFIED" else name.lower()


def enum_value(enum: EnumDescriptor, name: str, prefix: str) -> int | None:
    """pending_review -> ORDER_STATUS_PENDING_REVIEW's number; None for an unknown or unset name."""
    found = enum.values_by_name.get(prefix + name.upper())
    return None if found is None or found.number == 0 else found.number


def timestamp(message: Any, name: str) -> str | None:
    if not message.HasField(name):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, name)
    return value.ToJsonString()


def money(value: common_pb2.Money) -> models.Money:
    return models.Money(amount=value.amount, currency=value.currency)


def optional_money(message: Any, name: str) -> models.Money | None:
    return money(getattr(message, name)) if message.HasField(name) else None


def address(value: common_pb2.Address) -> models.Address:
    return models.Address(
        name=value.name,
        line1=value.line1,
        line2=value.line2,
        city=value.city,
        region=value.region,
        postal_code=value.postal_code,
        country=value.country,
        phone=value.phone,
    )


def address_to_proto(value: models.Address) -> common_pb2.Address:
    return common_pb2.Address(
        name=value.name,
        line1=value.line1,
        line2=value.line2,
        city=value.city,
        region=value.region,
        postal_code=value.postal_code,
        country=value.country,
        phone=value.phone,
    )


# --- catalog ---------------------------------------------------------------------------------


def product(value: catalog_pb2.Product) -> models.Product:
    return models.Product(
        id=value.id,
        slug=value.slug,
        name=value.name,
        description=value.description,
        brand=value.brand,
        category_id=value.category_id,
        category_path=value.category_path,
        attributes=dict(value.attributes),
        status=enum_name(catalog_pb2.ProductStatus.DESCRIPTOR, value.status, "PRODUCT_STATUS_"),
        variants=[
            models.Variant(
                sku=v.sku,
                title=v.title or value.name,
                attributes=dict(v.attributes),
                allow_preorder=v.allow_preorder,
            )
            for v in value.variants
        ],
        created_at=timestamp(value, "created_at"),
        updated_at=timestamp(value, "updated_at"),
        # Unset on the wire means the catalog's default terms (returnable within 30 days).
        return_window_days=(
            value.return_window_days if value.HasField("return_window_days") else models.DEFAULT_RETURN_WINDOW_DAYS
        ),
        returnable=value.returnable if value.HasField("returnable") else True,
    )


def category(value: catalog_pb2.Category) -> models.Category:
    return models.Category(
        id=value.id, parent_id=value.parent_id, slug=value.slug, name=value.name, path=value.path, depth=value.depth
    )


def availability(value: inventory_pb2.SkuAvailability) -> models.Availability:
    return models.Availability(
        available=value.total_available,
        ship_available=value.ship_available,
        low_stock=value.low_stock,
        in_stock=value.total_available > 0,
    )


def store(value: inventory_pb2.Location) -> models.Store:
    return models.Store(
        store_id=value.location_id,
        name=value.name,
        country=value.country,
        address=address(value.address) if value.HasField("address") else None,
    )


def stock_level(value: inventory_pb2.StockLevel) -> models.StockLevel:
    return models.StockLevel(
        sku=value.sku,
        location_id=value.location_id,
        on_hand=value.on_hand,
        reserved=value.reserved,
        available=value.available,
    )


# --- cart ------------------------------------------------------------------------------------


def cart(value: cart_pb2.Cart) -> models.Cart:
    currency = value.context.currency
    zero = models.Money(0, currency)

    def amount(message: Any, name: str) -> models.Money:
        return optional_money(message, name) or zero

    pricing = value.pricing
    coupon = None
    if value.HasField("coupon"):
        coupon = models.Coupon(
            code=value.coupon.code,
            applied=value.coupon.applied,
            reason=value.coupon.reason,
            description=value.coupon.description,
            discount=amount(value.coupon, "discount"),
        )
    return models.Cart(
        cart_id=value.cart_id,
        status=enum_name(cart_pb2.CartStatus.DESCRIPTOR, value.status, "CART_STATUS_"),
        currency=currency,
        lines=[
            models.CartLine(
                line_id=line.line_id,
                sku=line.sku,
                product_id=line.product_id,
                name=line.name,
                quantity=line.quantity,
                unit_price=amount(line, "unit_price"),
                original_price=amount(line, "original_price"),
                discount=amount(line, "discount"),
                line_total=amount(line, "line_total"),
                problems=[
                    models.CartLineProblem(
                        kind=enum_name(cart_pb2.LineProblemKind.DESCRIPTOR, p.kind, "LINE_PROBLEM_KIND_"),
                        blocking=p.blocking,
                        message=p.message,
                        available_quantity=p.available_quantity,
                    )
                    for p in line.problems
                ],
            )
            for line in value.lines
        ],
        coupon=coupon,
        subtotal=amount(pricing, "subtotal"),
        discount_total=amount(pricing, "discount_total"),
        total=amount(pricing, "total"),
        has_blocking_problems=value.has_blocking_problems,
        version=value.version,
        priced_at=timestamp(pricing, "priced_at"),
        price_expires_at=timestamp(pricing, "expires_at"),
        price_stale=bool(getattr(pricing, "stale", False)),
    )


def empty_cart(currency: str) -> models.Cart:
    zero = models.Money(0, currency)
    return models.Cart(
        cart_id="",
        status="active",
        currency=currency,
        lines=[],
        coupon=None,
        subtotal=zero,
        discount_total=zero,
        total=zero,
        has_blocking_problems=False,
        version=0,
        priced_at=None,
        price_expires_at=None,
        price_stale=False,
    )


# --- checkout --------------------------------------------------------------------------------


def checkout_status(value: int) -> str:
    return enum_name(checkout_pb2.CheckoutStatus.DESCRIPTOR, value, "CHECKOUT_STATUS_")


def failure_code(value: int) -> str:
    return enum_name(checkout_pb2.FailureCode.DESCRIPTOR, value, "FAILURE_CODE_")


def checkout_failure(value: checkout_pb2.CheckoutFailure) -> models.CheckoutFailure:
    return models.CheckoutFailure(
        code=failure_code(value.code),
        step=enum_name(checkout_pb2.CheckoutStepKind.DESCRIPTOR, value.step, "CHECKOUT_STEP_KIND_"),
        message=value.message,
    )


def totals(value: Any) -> models.Totals:
    currency = value.total.currency

    def amount(name: str) -> models.Money:
        return optional_money(value, name) or models.Money(0, currency)

    return models.Totals(
        subtotal=amount("subtotal"),
        discount_total=amount("discount_total"),
        shipping_total=amount("shipping_total"),
        tax_total=amount("tax_total"),
        total=amount("total"),
        tax_included=bool(getattr(value, "tax_included", False)),
    )


def next_action(value: checkout_pb2.Checkout | checkout_pb2.PlaceOrderResponse) -> models.NextAction | None:
    if not value.HasField("next_action"):
        return None
    action = value.next_action
    return models.NextAction(
        type=action.type, url=action.url, client_secret=action.client_secret, expires_at=timestamp(action, "expires_at")
    )


def checkout(value: checkout_pb2.Checkout) -> models.Checkout:
    return models.Checkout(
        checkout_id=value.checkout_id,
        status=checkout_status(value.status),
        order_id=value.order_id,
        order_number=value.order_number,
        totals=totals(value.totals) if value.HasField("totals") else None,
        failure=checkout_failure(value.failure) if value.HasField("failure") else None,
        steps=[
            models.CheckoutStep(
                kind=enum_name(checkout_pb2.CheckoutStepKind.DESCRIPTOR, step.kind, "CHECKOUT_STEP_KIND_"),
                state=enum_name(checkout_pb2.StepState.DESCRIPTOR, step.state, "STEP_STATE_"),
                attempts=step.attempts,
                error=step.error,
            )
            for step in value.steps
        ],
        hold_expires_at=timestamp(value, "hold_expires_at"),
        created_at=timestamp(value, "created_at"),
        updated_at=timestamp(value, "updated_at"),
        next_action=next_action(value),
    )


# --- orders ----------------------------------------------------------------------------------


def shipment(value: order_pb2.Fulfilment) -> models.Shipment:
    return models.Shipment(
        shipment_id=value.fulfilment_id,
        carrier=value.carrier,
        tracking_number=value.tracking_number,
        lines=[models.ShipmentLine(line.line_id, line.quantity) for line in value.lines],
        shipped_at=timestamp(value, "fulfilled_at"),
    )


def approval_steps(progress: order_pb2.ApprovalProgress) -> list[models.ApprovalStep]:
    """The order's approval chain with every decision on it."""
    return [
        models.ApprovalStep(
            name=step.name,
            approvers=list(step.approvers),
            quorum=step.quorum,
            state=enum_name(order_pb2.ApprovalStepState.DESCRIPTOR, step.state, "APPROVAL_STEP_STATE_"),
            decisions=[
                models.ApprovalDecision(
                    approver=d.approver,
                    decision=enum_name(order_pb2.ApprovalVerdict.DESCRIPTOR, d.decision, "APPROVAL_VERDICT_"),
                    note=d.note,
                    at=timestamp(d, "at"),
                )
                for d in step.decisions
            ],
        )
        for step in progress.steps
    ]


def order_invoice(value: order_pb2.InvoiceSummary) -> models.OrderInvoice:
    return models.OrderInvoice(
        number=value.number,
        status=enum_name(order_pb2.InvoiceStatus.DESCRIPTOR, value.status, "INVOICE_STATUS_"),
        due_at=timestamp(value, "due_at"),
        balance=optional_money(value, "balance"),
        overdue=value.overdue,
    )


def order(value: order_pb2.Order) -> models.Order:
    zero = models.Money(0, value.currency)
    fulfilment = None
    method = value.fulfilment_method.WhichOneof("method") if value.HasField("fulfilment_method") else None
    if method == "ship":
        ship = value.fulfilment_method.ship
        fulfilment = models.OrderFulfillment(
            method="ship", shipping_address=address(ship.address) if ship.HasField("address") else None
        )
    elif method == "pickup":
        fulfilment = models.OrderFulfillment(method="pickup", store_id=value.fulfilment_method.pickup.store_id)
    approval = None
    if value.HasField("approval") and value.approval.status not in (
        order_pb2.APPROVAL_STATUS_UNSPECIFIED,
        order_pb2.APPROVAL_STATUS_NOT_REQUIRED,
    ):
        approval = models.Approval(
            status=enum_name(order_pb2.ApprovalStatus.DESCRIPTOR, value.approval.status, "APPROVAL_STATUS_"),
            limit=optional_money(value.approval, "limit"),
            decided_by=value.approval.decided_by,
            note=value.approval.note,
            decided_at=timestamp(value.approval, "decided_at"),
            steps=approval_steps(value.approval_progress),
            current_step=value.approval_progress.current_step,
        )
    return models.Order(
        order_id=value.order_id,
        number=value.number,
        customer_id=value.customer_id,
        account_id=value.account_id,
        status=enum_name(order_pb2.OrderStatus.DESCRIPTOR, value.status, "ORDER_STATUS_"),
        payment_status=enum_name(order_pb2.PaymentStatus.DESCRIPTOR, value.payment_status, "PAYMENT_STATUS_"),
        fulfillment_status=enum_name(
            order_pb2.FulfilmentStatus.DESCRIPTOR, value.fulfilment_status, "FULFILMENT_STATUS_"
        ),
        currency=value.currency,
        lines=[
            models.OrderLine(
                line_id=line.line_id,
                sku=line.sku,
                product_id=line.product_id,
                name=line.name,
                quantity=line.quantity,
                unit_price=optional_money(line, "unit_price") or zero,
                discount=optional_money(line, "discount") or zero,
                line_total=optional_money(line, "line_total") or zero,
                fulfilled_quantity=line.fulfilled_quantity,
                refunded_quantity=line.refunded_quantity,
                tax=optional_money(line, "tax") or zero,
            )
            for line in value.lines
        ],
        totals=totals(value.totals) if value.HasField("totals") else None,
        coupon_code=value.coupon_code,
        fulfillment=fulfilment,
        billing_address=address(value.billing_address) if value.HasField("billing_address") else None,
        payment_method=enum_name(order_pb2.PaymentMethodKind.DESCRIPTOR, value.payment.kind, "PAYMENT_METHOD_KIND_"),
        approval=approval,
        cancellation_reason=enum_name(
            order_pb2.CancellationReason.DESCRIPTOR, value.cancellation_reason, "CANCELLATION_REASON_"
        ),
        created_at=timestamp(value, "created_at"),
        updated_at=timestamp(value, "updated_at"),
        shipments=[shipment(f) for f in value.fulfilments],
        quote_id=value.sales_quote_id,
        invoice=order_invoice(value.invoice) if value.HasField("invoice") else None,
    )


# --- fraud reviews ---------------------------------------------------------------------------


def review(value: fraud_pb2.Review) -> models.Review:
    assessment = value.assessment
    return models.Review(
        review_id=value.review_id,
        status=enum_name(fraud_pb2.ReviewStatus.DESCRIPTOR, value.status, "REVIEW_STATUS_"),
        checkout_id=assessment.checkout_id,
        score=assessment.score,
        decision=enum_name(fraud_pb2.Decision.DESCRIPTOR, assessment.decision, "DECISION_"),
        reasons=[
            models.RiskReason(
                code=enum_name(fraud_pb2.ReasonCode.DESCRIPTOR, r.code, "REASON_CODE_"),
                weight=r.weight,
                detail=r.detail,
            )
            for r in assessment.reasons
        ],
        amount=optional_money(assessment.context, "amount"),
        customer_id=assessment.context.customer_id,
        email=assessment.context.email,
        decided_by=value.decided_by,
        note=value.note,
        created_at=timestamp(value, "created_at"),
        decided_at=timestamp(value, "decided_at"),
    )
