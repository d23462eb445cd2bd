"""The HTTP/JSON API: thin routes over the application layer (see services/gateway/README.md)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import Gauge

from shop_gateway.app import admin, cart, catalog, checkout, models, orders
from shop_gateway.app.validation import version_of_etag
from shop_gateway.gateway import Gateway
from shop_gateway.httpapi import approval_rules, document, integration_clients, invoices, problems, quotes
from shop_gateway.httpapi.backoffice.routers import ROUTERS, STREAMED_PATHS
from shop_gateway.httpapi.companies import admin_companies, own_company
from shop_gateway.httpapi.deps import (
    ERROR_RESPONSES,
    Caller,
    CartHolder,
    Client,
    ShopDep,
    SignedIn,
    cart_response,
    gateway_of,
)
from shop_gateway.httpapi.guest import guests
from shop_gateway.httpapi.guest_orders import guest_orders
from shop_gateway.httpapi.me import me
from shop_gateway.httpapi.personal_data import personal_data
from shop_gateway.httpapi.returns import returns
from shop_gateway.httpapi.schemas import (
    AddItemBody,
    CategoryBody,
    CheckoutBody,
    CouponBody,
    Health,
    NoteBody,
    PricesBody,
    ProductBody,
    Readiness,
    StockBody,
    TokenBody,
    TokenResponse,
    UpdateItemBody,
)
from shop_gateway.httpapi.shipping import shipping
from shop_gateway.tokens import TokenRequest
from shopkit import openapi
from shopkit.http import FASTAPI_TELEMETRY_OFF, HttpTelemetryMiddleware
from shopkit.requestlimits import RequestLimits

log = logging.getLogger("shop_gateway.http")

# Readiness details, on the metrics port only: the public /readyz says ready or not, nothing more.
BACKEND_SERVING = Gauge(
    "shop_gateway_backend_serving", "1 when the backend answered its last readiness check SERVING.", ["backend"]
)

# Docs and key sets: counted, not traced.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/redoc", "/.well-known/jwks.json"})

LIMIT_CODES = {413: "REQUEST_TOO_LARGE", 431: "HEADERS_TOO_LARGE"}
IfMatch = Annotated[str | None, Header(alias="If-Match", description="the cart's ETag: change only that version")]


def _expected_version(if_match: str | None) -> int:
    return version_of_etag(if_match, "cart")


# --- browsing -----------------------------------------------------------------------------------

browse = APIRouter(prefix="/v1", tags=["browse"], responses=ERROR_RESPONSES)


@browse.get("/products", summary="Search or list products")
async def list_products(
    shop: ShopDep,
    who: Caller,
    query: str = "",
    category: str = "",
    page_size: int = 0,
    page_token: str = "",
    sort: str = "",
    min_price: int | None = None,
    max_price: int | None = None,
    in_stock: bool = False,
    facets: str = "",
) -> models.ProductPage:
    """With `query`: ranked full-text search; without: products ordered by slug. `category` is an
    id or slug (the category and its descendants). `sort`: relevance (searches), newest, name,
    price_asc, price_desc or slug. `min_price`/`max_price` (minor units) and the price orders use base
    prices in the caller's currency; `in_stock=true` keeps products in stock somewhere. `facets`
    (comma-separated: category, price, availability and attribute keys such as brand,color) adds
    counts over the whole result. Variants carry prices for the caller."""
    browse_options = catalog.Browse(
        sort=sort,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        facets=tuple(name.strip() for name in facets.split(",") if name.strip()),
    )
    return await catalog.list_products(
        shop, who, query=query, category=category, page_size=page_size, page_token=page_token, browse=browse_options
    )


@browse.get("/products/{product_id}", summary="One product with prices and availability")
async def get_product(product_id: str, shop: ShopDep, who: Caller) -> models.Product:
    """By id or slug."""
    return await catalog.get_product(shop, who, product_id)


@browse.get("/categories", summary="The category tree")
async def list_categories(shop: ShopDep, who: Caller) -> models.CategoryList:
    return await catalog.list_categories(shop, who)


@browse.get("/stores", summary="Stores that offer click-and-collect")
async def list_stores(shop: ShopDep, who: Caller, country: str = "") -> models.StoreList:
    return await catalog.list_stores(shop, who, country=country)


# --- cart ---------------------------------------------------------------------------------------

carts = APIRouter(prefix="/v1/cart", tags=["cart"], responses=ERROR_RESPONSES)


@carts.get("", summary="The caller's cart")
async def get_cart(shop: ShopDep, who: CartHolder, response: Response) -> models.Cart:
    """An empty cart (no cart_id) when the caller has none yet. The ETag is the cart's version."""
    return cart_response(response, await cart.get_cart(shop, who))


@carts.post("/items", summary="Add a SKU to the cart")
async def add_cart_item(
    body: AddItemBody,
    shop: ShopDep,
    who: CartHolder,
    response: Response,
    if_match: IfMatch = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> models.Cart:
    """Adds to the quantity of the line that holds the SKU. With an Idempotency-Key a retry adds nothing."""
    result = await cart.add_item(
        shop,
        who,
        sku=body.sku,
        quantity=body.quantity,
        request_id=idempotency_key or "",
        expected_version=_expected_version(if_match),
    )
    return cart_response(response, result)


@carts.patch("/items/{sku}", summary="Set the quantity of a cart line")
async def update_cart_item(
    sku: str, body: UpdateItemBody, shop: ShopDep, who: CartHolder, response: Response, if_match: IfMatch = None
) -> models.Cart:
    result = await cart.update_item(
        shop, who, sku=sku, quantity=body.quantity, expected_version=_expected_version(if_match)
    )
    return cart_response(response, result)


@carts.delete("/items/{sku}", summary="Remove a cart line")
async def remove_cart_item(
    sku: str, shop: ShopDep, who: CartHolder, response: Response, if_match: IfMatch = None
) -> models.Cart:
    result = await cart.remove_item(shop, who, sku=sku, expected_version=_expected_version(if_match))
    return cart_response(response, result)


@carts.post("/coupon", summary="Apply a coupon code")
async def apply_coupon(
    body: CouponBody, shop: ShopDep, who: CartHolder, response: Response, if_match: IfMatch = None
) -> models.Cart:
    result = await cart.apply_coupon(shop, who, code=body.code, expected_version=_expected_version(if_match))
    return cart_response(response, result)


@carts.delete("/coupon", summary="Remove the coupon code")
async def remove_coupon(shop: ShopDep, who: CartHolder, response: Response, if_match: IfMatch = None) -> models.Cart:
    result = await cart.remove_coupon(shop, who, expected_version=_expected_version(if_match))
    return cart_response(response, result)


# --- checkout and orders ------------------------------------------------------------------------

buying = APIRouter(prefix="/v1", tags=["checkout and orders"], responses=ERROR_RESPONSES)


@buying.post(
    "/checkout",
    status_code=201,
    summary="Place the order of the caller's cart",
    responses={
        201: {"description": "the order exists and the checkout settled"},
        202: {
            "model": models.PlaceOrderResult,
            "description": "the checkout continues in the background: poll GET /v1/checkout/{id} (Location); or "
            "(status action_required) it waits for the customer: complete next_action, then repeat the request",
        },
    },
)
async def place_order(
    body: CheckoutBody,
    shop: ShopDep,
    who: CartHolder,
    client: Client,
    response: Response,
    # Required (the document says so); checked by the application, which names the reason
    # IDEMPOTENCY_KEY_REQUIRED for HTTP and gRPC callers alike.
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="8-128 characters, one per order attempt")
    ] = None,
    _device_id: Annotated[
        str | None, Header(alias="X-Device-Id", description="the storefront's device fingerprint (fraud checks)")
    ] = None,
) -> models.PlaceOrderResult:
    """The same Idempotency-Key always gives the same answer and at most one order. 201 when the
    order exists and the checkout settled (completed, pending_review or pending_approval), 202 while
    it is still running (order_id is set once the order exists) or waits for the customer's action
    (action_required: a card that needs 3-D Secure): the client completes `next_action` (POST
    {"client_secret", "authenticated"} to its url) and repeats this request with the same
    Idempotency-Key before `next_action.expires_at`. A declined card (also a failed challenge) answers 402, other
    failures 409/422 (code = the failure); 503 UNAVAILABLE with Retry-After when a service stayed
    unreachable past the retry budget (nothing was charged): the same Idempotency-Key then runs the
    checkout again."""
    order = checkout.CheckoutInput(
        idempotency_key=idempotency_key or "",
        payment_method=body.payment_method,
        purchase_order_number=body.purchase_order_number,
        shipping_address=body.shipping_address.to_model() if body.shipping_address else None,
        billing_address=body.billing_address.to_model() if body.billing_address else None,
        fulfillment_method=body.fulfillment.method,
        store_id=body.fulfillment.store_id,
        email=body.email,
        cart_version=body.cart_version,
        shipping_method=body.shipping_method,
        shipping_address_id=body.shipping_address_id,
        billing_address_id=body.billing_address_id,
        quote_id=body.quote_id,
    )
    result = await checkout.place_order(shop, who, client, order)
    response.headers["Location"] = f"/v1/checkout/{result.checkout_id}"
    if not result.order_id or result.status == "running":
        response.status_code = 202
    return result


@buying.get("/checkout/{checkout_id}", summary="One of the caller's checkouts")
async def get_checkout(checkout_id: str, shop: ShopDep, who: CartHolder) -> models.Checkout:
    return await checkout.get_checkout(shop, who, checkout_id)


@buying.get("/orders", summary="The caller's orders, newest first")
async def list_orders(
    shop: ShopDep,
    who: SignedIn,
    status: Annotated[list[str] | None, Query(description="filter; repeatable")] = None,
    scope: str = "mine",
    page_size: int = 0,
    page_token: str = "",
) -> models.OrderPage:
    """`status` filters (repeatable); B2B roles may ask for `scope=account`."""
    return await orders.list_orders(
        shop, who, statuses=status or [], scope=scope, page_size=page_size, page_token=page_token
    )


@buying.get("/orders/{order_id}", summary="One of the caller's orders")
async def get_order(order_id: str, shop: ShopDep, who: SignedIn) -> models.Order:
    return await orders.get_order(shop, who, order_id)


@buying.post("/orders/{order_id}/cancel", summary="Cancel an order")
async def cancel_order(order_id: str, shop: ShopDep, who: SignedIn, body: NoteBody | None = None) -> models.Order:
    return await orders.cancel_order(shop, who, order_id, note=body.note if body else "")


# --- B2B approvals and the fraud review queue ---------------------------------------------------

decisions = APIRouter(prefix="/v1", tags=["approvals and reviews"], responses=ERROR_RESPONSES)


@decisions.get("/approvals", summary="Orders of the approver's account awaiting approval")
async def list_approvals(shop: ShopDep, who: SignedIn, page_size: int = 0, page_token: str = "") -> models.OrderPage:
    return await orders.list_approvals(shop, who, page_size=page_size, page_token=page_token)


@decisions.post("/orders/{order_id}/approve", summary="Approve an order (b2b_approver of its account)")
async def approve_order(order_id: str, shop: ShopDep, who: SignedIn, body: NoteBody | None = None) -> models.Order:
    return await orders.decide_approval(shop, who, order_id, approve=True, note=body.note if body else "")


@decisions.post("/orders/{order_id}/reject", summary="Reject an order (b2b_approver of its account)")
async def reject_order(order_id: str, body: NoteBody, shop: ShopDep, who: SignedIn) -> models.Order:
    return await orders.decide_approval(shop, who, order_id, approve=False, note=body.note)


@decisions.get("/reviews", summary="The fraud review queue")
async def list_reviews(
    shop: ShopDep,
    who: SignedIn,
    status: Annotated[list[str] | None, Query(description="filter; repeatable")] = None,
    page_size: int = 0,
    page_token: str = "",
) -> models.ReviewPage:
    """By default the open reviews; `status` (repeatable) picks others."""
    return await orders.list_reviews(shop, who, statuses=status or [], page_size=page_size, page_token=page_token)


@decisions.post("/reviews/{review_id}/approve", summary="Let a held purchase go ahead (fraud_analyst)")
async def approve_review(review_id: str, shop: ShopDep, who: SignedIn, body: NoteBody | None = None) -> models.Review:
    return await orders.decide_review(shop, who, review_id, approve=True, note=body.note if body else "")


@decisions.post("/reviews/{review_id}/reject", summary="Stop a held purchase (fraud_analyst)")
async def reject_review(review_id: str, body: NoteBody, shop: ShopDep, who: SignedIn) -> models.Review:
    return await orders.decide_review(shop, who, review_id, approve=False, note=body.note)


# --- admin --------------------------------------------------------------------------------------

administration = APIRouter(prefix="/v1", tags=["admin"], responses=ERROR_RESPONSES)


@administration.post("/categories", status_code=201, summary="Create a category (admin)")
async def create_category(body: CategoryBody, shop: ShopDep, who: SignedIn) -> models.Category:
    return await admin.create_category(shop, who, slug=body.slug, name=body.name, parent_id=body.parent_id)


@administration.post("/products", status_code=201, summary="Create a product (admin)")
async def create_product(body: ProductBody, shop: ShopDep, who: SignedIn) -> models.Product:
    product = admin.ProductInput(
        name=body.name,
        category=body.category,
        variants=[
            admin.VariantInput(sku=v.sku, title=v.title, attributes=v.attributes, allow_preorder=v.allow_preorder)
            for v in body.variants
        ],
        slug=body.slug,
        description=body.description,
        brand=body.brand,
        attributes=body.attributes,
        channels=body.channels,
        status=body.status,
        request_id=body.request_id,
        return_window_days=body.return_window_days,
        returnable=body.returnable,
    )
    return await admin.create_product(shop, who, product)


@administration.post("/products/{product_id}/discontinue", summary="Discontinue a product (admin)")
async def discontinue_product(product_id: str, shop: ShopDep, who: SignedIn) -> models.Product:
    return await admin.discontinue_product(shop, who, product_id)


@administration.put("/prices", summary="Set base prices (admin)")
async def set_prices(body: PricesBody, shop: ShopDep, who: SignedIn) -> models.PricesSet:
    prices = [admin.PriceInput(sku=p.sku, price=p.price.to_model()) for p in body.prices]
    return await admin.set_prices(shop, who, prices)


@administration.get("/stock", summary="Stock levels of SKUs at every location (admin)")
async def get_stock(
    shop: ShopDep, who: SignedIn, sku: Annotated[list[str], Query(description="1 to 200 SKUs; repeat the parameter")]
) -> models.StockLevels:
    """Every (SKU, location) row of the SKUs: on hand, reserved and available, by SKU then location."""
    return await admin.stock_levels(shop, who, sku)


@administration.put("/stock", summary="Set on-hand stock (admin)")
async def set_stock(body: StockBody, shop: ShopDep, who: SignedIn) -> models.StockLevels:
    entries = [admin.StockInput(sku=e.sku, location_id=e.location_id, on_hand=e.on_hand) for e in body.entries]
    return await admin.set_stock(shop, who, entries, reason=body.reason)


# --- dev issuer ---------------------------------------------------------------------------------

dev = APIRouter(tags=["dev issuer (GATEWAY_DEV_MODE only)"])


@dev.post("/v1/auth/token", responses=ERROR_RESPONSES, summary="Issue an access token (dev mode only)")
async def issue_token(body: TokenBody, request: Request, client: Client) -> TokenResponse:
    gateway = gateway_of(request)
    gateway.limiter.check("", client.ip)
    assert gateway.issuer is not None  # the route exists in dev mode only
    token, expires_in = gateway.issuer.issue(
        TokenRequest(
            username=body.username,
            role=body.role,
            account_id=body.account_id,
            email=body.email,
            customer_group=body.customer_group,
            country=body.country,
            currency=body.currency,
            customer_since=body.customer_since,
            locations=tuple(body.locations),
        )
    )
    return TokenResponse(access_token=token, token_type="Bearer", expires_in=expires_in)


@dev.get("/.well-known/jwks.json", summary="Public keys of the dev issuer")
async def jwks(request: Request) -> JSONResponse:
    issuer = gateway_of(request).issuer
    assert issuer is not None
    return JSONResponse(issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})


# --- probes -------------------------------------------------------------------------------------

probes = APIRouter(tags=["probes"])


@probes.get("/healthz", summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@probes.get(
    "/readyz",
    summary="Every configured backend answers its health check",
    response_model=Readiness,
    responses={503: {"model": Readiness}},
)
async def readyz(request: Request) -> JSONResponse:
    """ready (200), or not_ready / draining (503). Which backends are down is not public: it is on
    the metrics port (shop_gateway_backend_serving) and in the log."""
    gateway = gateway_of(request)
    if gateway.draining:
        return JSONResponse(Readiness(status="draining").model_dump(), status_code=503)
    backends = await gateway.shop.backends.health()
    for name, status in backends.items():
        BACKEND_SERVING.labels(name).set(1 if status == "SERVING" else 0)
    down = sorted(name for name, status in backends.items() if status != "SERVING")
    if down:
        log.warning("not ready: backends not serving", extra={"backends_down": down})
    return JSONResponse(
        Readiness(status="not_ready" if down else "ready").model_dump(), status_code=503 if down else 200
    )


# --- the application ----------------------------------------------------------------------------


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(
        title="Shop gateway",
        version="1.0.0",
        description=(
            "The public HTTP/JSON API of the shop. Errors are application/problem+json with a "
            "machine-readable `code`; money is `{amount: <integer minor units>, currency}`."
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
        telemetry=FASTAPI_TELEMETRY_OFF,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.gateway = gateway
    for router in (browse, carts, guests, shipping, buying, returns, me, decisions, administration, *ROUTERS, probes):
        app.include_router(router)
    app.include_router(personal_data)  # a customer's export and erasure
    app.include_router(guest_orders)  # a guest's order, opened by its number and e-mail
    app.include_router(admin_companies)  # B2B companies (admins)
    app.include_router(own_company)  # a company's members, for its company_admin members
    app.include_router(approval_rules.admin_rules)  # companies' approval rules (admins)
    app.include_router(approval_rules.own_rules)  # a company's approval rules, for its company_admin members
    app.include_router(integration_clients.admin)  # machine clients of the client-credentials grant
    app.include_router(quotes.buyer_quotes)  # B2B quote requests (buyers)
    app.include_router(quotes.sales_quotes)  # ... and the sales users' answers
    for router in (invoices.own_invoices, invoices.invoice_documents, invoices.admin_invoices):
        app.include_router(router)  # B2B invoices: members (JSON, PDF), staff and integrations
    if gateway.issuer is not None:
        app.include_router(dev)
        app.include_router(integration_clients.oauth)
    problems.install(app, gateway.settings.problem_type_base)
    # Before authentication and parsing; inside the telemetry, so that a refused request is counted and traced.
    type_base = gateway.settings.problem_type_base
    app.add_middleware(
        RequestLimits,
        max_body_bytes=gateway.settings.max_request_body_bytes,
        max_header_bytes=gateway.settings.max_request_header_bytes,
        refuse=lambda status, detail: problems.problem(status, LIMIT_CODES[status], detail, type_base=type_base),
        streamed_paths=STREAMED_PATHS,
    )
    app.add_middleware(
        HttpTelemetryMiddleware,
        untraced_paths=UNTRACED_PATHS,
        request_timeout_seconds=gateway.settings.request_timeout_seconds,
    )
    openapi.describe_operations(app, document.describe)
    integration_clients.document_scopes(app)
    return app
