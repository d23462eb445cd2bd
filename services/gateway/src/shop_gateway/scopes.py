"""Machine clients and their scopes: the one place that says which scope admits a machine client to
which operation, and in which role it then acts.

A machine client (an ERP, procurement or WMS integration) holds a token of the OAuth 2.0
client-credentials grant: `client_id` and a space-separated `scope` claim (RFC 9068), no end user and
no role (or the role `integration`). People are admitted by their role, as before; a machine client
only to an operation in GRANTS whose scope it holds, and it then acts in the role the operation needs
of people (the services check that role again; the scope is what limits the client at the edge). An
operation that is not listed admits no machine client: carts, checkouts and accounts belong to people.
A missing scope is 403 INSUFFICIENT_SCOPE (over HTTP with `WWW-Authenticate: Bearer
error="insufficient_scope", scope="..."`, RFC 6750 §3.1).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from google.protobuf.descriptor import ServiceDescriptor

from shop_gateway.principal import ANONYMOUS, Principal
from shopkit.errors import PermissionDenied, Unauthenticated

T = TypeVar("T")
MACHINE_ROLE = "integration"
INSUFFICIENT_SCOPE = "INSUFFICIENT_SCOPE"
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
MAX_SCOPES = 64

# The vocabulary: one read and one write scope per API area (what the admin API accepts for a client).
SCOPES: dict[str, str] = {
    "catalog:read": "browse products, categories and stores; read product imports and the search projection",
    "catalog:write": "create categories and products, discontinue products, import products, rebuild search",
    "inventory:read": "read stock levels and locations",
    "inventory:write": "set, restock and adjust stock; create and change locations",
    "pricing:read": "read price lists, promotions, coupons, exchange rates, dynamic rules and price changes",
    "pricing:write": "set base prices; write price lists, promotions, coupons, exchange rates and dynamic rules",
    "orders:read": "search orders and read them as staff do",
    "orders:write": "fulfil and refund orders",
    "invoices:read": "read every account's invoices (JSON and PDF), overdue ones too",
    "invoices:write": "record payments received against invoices",
    "webhooks:manage": "manage webhook subscriptions and replay deliveries",
    "quotes:read": "read B2B sales quotes of every account and their versions (the sales side)",
    "quotes:write": "offer prices on B2B quote requests (the sales side)",
    "approval_rules:read": "read companies' approval rules",
    "approval_rules:write": "create, replace and delete companies' approval rules",
}

PUBLIC = ""  # the operation is a public read: the client calls it as an anonymous visitor would
ADMIN = "admin"


@dataclass(frozen=True)
class Grant:
    scope: str  # the scope a machine client needs
    role: str  # the role the operation needs of people, in which the client acts (PUBLIC: anonymous)


def _grants(scope: str, role: str, *operations: str) -> dict[str, Grant]:
    assert scope in SCOPES, scope
    return {operation: Grant(scope, role) for operation in operations}


# HTTP operations by operationId (the route function's name) -> what admits a machine client.
GRANTS: dict[str, Grant] = {
    **_grants("catalog:read", PUBLIC, "list_products", "get_product", "list_categories", "list_stores"),
    **_grants(
        "catalog:read",
        ADMIN,
        "list_product_imports",
        "get_product_import",
        "list_product_import_lines",
        "get_search_projection",
    ),
    **_grants(
        "catalog:write",
        ADMIN,
        "create_category",
        "create_product",
        "discontinue_product",
        "import_products",
        "rebuild_search_projection",
    ),
    **_grants("inventory:read", ADMIN, "get_stock", "list_locations", "get_location"),
    **_grants("inventory:write", ADMIN, "set_stock", "restock", "adjust_stock", "create_location", "update_location"),
    **_grants(
        "pricing:read",
        ADMIN,
        "list_price_lists",
        "get_price_list",
        "list_promotions",
        "get_coupon",
        "list_exchange_rates",
        "list_dynamic_rules",
        "list_price_changes",
    ),
    **_grants(
        "pricing:write",
        ADMIN,
        "set_prices",
        "create_price_list",
        "update_price_list",
        "set_price_list_entries",
        "delete_price_list_entries",
        "create_promotion",
        "create_coupon",
        "set_exchange_rate",
        "put_dynamic_rule",
        "delete_dynamic_rule",
    ),
    **_grants("orders:read", ADMIN, "search_orders", "get_staff_order"),
    **_grants("orders:write", ADMIN, "fulfil_order", "refund_order"),
    **_grants("invoices:read", ADMIN, "list_admin_invoices", "get_invoice", "get_invoice_pdf"),
    **_grants("invoices:write", ADMIN, "record_invoice_payment"),
    **_grants(
        "webhooks:manage",
        ADMIN,
        "create_webhook",
        "list_webhooks",
        "get_webhook",
        "update_webhook",
        "rotate_webhook_secret",
        "list_webhook_deliveries",
        "replay_dead_deliveries",
        "replay_delivery",
    ),
    # A procurement system keeps its companies' approval rules in step (the admins' routes).
    **_grants("approval_rules:read", ADMIN, "list_approval_rules"),
    **_grants("approval_rules:write", ADMIN, "create_approval_rule", "update_approval_rule", "delete_approval_rule"),
    # A CRM or procurement integration answers quote requests as the shop's sales users do (HTTP and gRPC).
    **_grants("quotes:read", "sales", "list_sales_quotes", "get_sales_quote"),
    **_grants("quotes:write", "sales", "offer_quote"),
    # Routes one factory makes per kind (their functions share a name) go by "METHOD path template".
    # ERP feeds: the sender reads its feed's progress and report with the same scope.
    **_grants(
        "inventory:write",
        ADMIN,
        "POST /v1/admin/stock-feeds",
        "GET /v1/admin/stock-feeds/{id}",
        "GET /v1/admin/stock-feeds/{id}/lines",
    ),
    **_grants(
        "pricing:write",
        ADMIN,
        "POST /v1/admin/price-feeds",
        "GET /v1/admin/price-feeds/{id}",
        "GET /v1/admin/price-feeds/{id}/lines",
    ),
}

# gRPC methods ("Service/Method") -> the grant of the HTTP operation that does the same.
RPC_OPERATIONS: dict[str, str] = {
    "InvoicesService/ListInvoices": "list_admin_invoices",
    "InvoicesService/GetInvoice": "get_invoice",
    "InvoicesService/GetInvoicePdf": "get_invoice_pdf",
    "InvoicesService/RecordInvoicePayment": "record_invoice_payment",
    "QuotesService/GetQuote": "get_sales_quote",
    "QuotesService/ListQuotes": "list_sales_quotes",
    "QuotesService/OfferQuote": "offer_quote",
    "StorefrontService/ListProducts": "list_products",
    "StorefrontService/GetProduct": "get_product",
    "StorefrontService/ListCategories": "list_categories",
    "StorefrontService/ListStores": "list_stores",
    "BackOfficeService/SearchOrders": "search_orders",
    "BackOfficeService/GetStaffOrder": "get_staff_order",
    "BackOfficeService/FulfilOrder": "fulfil_order",
    "BackOfficeService/RefundOrder": "refund_order",
    "BackOfficeService/CreateLocation": "create_location",
    "BackOfficeService/UpdateLocation": "update_location",
    "BackOfficeService/GetLocation": "get_location",
    "BackOfficeService/ListLocations": "list_locations",
    "BackOfficeService/Restock": "restock",
    "BackOfficeService/AdjustStock": "adjust_stock",
    "BackOfficeService/SetStock": "set_stock",
    "BackOfficeService/GetStockLevels": "get_stock",
    "BackOfficeService/CreatePriceList": "create_price_list",
    "BackOfficeService/UpdatePriceList": "update_price_list",
    "BackOfficeService/SetPriceListEntries": "set_price_list_entries",
    "BackOfficeService/DeletePriceListEntries": "delete_price_list_entries",
    "BackOfficeService/ListPriceLists": "list_price_lists",
    "BackOfficeService/GetPriceList": "get_price_list",
    "BackOfficeService/CreatePromotion": "create_promotion",
    "BackOfficeService/ListPromotions": "list_promotions",
    "BackOfficeService/CreateCoupon": "create_coupon",
    "BackOfficeService/GetCoupon": "get_coupon",
    "BackOfficeService/SetRate": "set_exchange_rate",
    "BackOfficeService/ListRates": "list_exchange_rates",
    "BackOfficeService/PutDynamicRule": "put_dynamic_rule",
    "BackOfficeService/DeleteDynamicRule": "delete_dynamic_rule",
    "BackOfficeService/ListDynamicRules": "list_dynamic_rules",
    "BackOfficeService/ListPriceChanges": "list_price_changes",
    "BackOfficeService/StartProductImport": "import_products",
    "BackOfficeService/GetProductImport": "get_product_import",
    "BackOfficeService/ListProductImports": "list_product_imports",
    "BackOfficeService/ListProductImportLines": "list_product_import_lines",
    "BackOfficeService/RebuildSearchProjection": "rebuild_search_projection",
    "BackOfficeService/GetSearchProjectionRebuild": "get_search_projection",
    "IntegrationsService/StartStockFeed": "POST /v1/admin/stock-feeds",
    "IntegrationsService/GetStockFeed": "GET /v1/admin/stock-feeds/{id}",
    "IntegrationsService/ListStockFeedLines": "GET /v1/admin/stock-feeds/{id}/lines",
    "IntegrationsService/StartPriceFeed": "POST /v1/admin/price-feeds",
    "IntegrationsService/GetPriceFeed": "GET /v1/admin/price-feeds/{id}",
    "IntegrationsService/ListPriceFeedLines": "GET /v1/admin/price-feeds/{id}/lines",
    "IntegrationsService/CreateWebhook": "create_webhook",
    "IntegrationsService/ListWebhooks": "list_webhooks",
    "IntegrationsService/GetWebhook": "get_webhook",
    "IntegrationsService/UpdateWebhook": "update_webhook",
    "IntegrationsService/RotateWebhookSecret": "rotate_webhook_secret",
    "IntegrationsService/ListWebhookDeliveries": "list_webhook_deliveries",
    "IntegrationsService/ReplayWebhookDeliveries": "replay_delivery",
    "CompaniesService/ListApprovalRules": "list_approval_rules",
    "CompaniesService/CreateApprovalRule": "create_approval_rule",
    "CompaniesService/UpdateApprovalRule": "update_approval_rule",
    "CompaniesService/DeleteApprovalRule": "delete_approval_rule",
}


def insufficient_scope(operation: str, scope: str) -> PermissionDenied:
    if not scope:
        message = f"no scope admits a machine client to {operation}: it is for people"
    else:
        message = f"this operation needs the scope {scope}"
    return PermissionDenied(message, reason=INSUFFICIENT_SCOPE, metadata={"required_scope": scope})


def www_authenticate(scope: str) -> str:
    """The RFC 6750 challenge of a 403 for a missing scope."""
    return f'Bearer error="insufficient_scope", scope="{scope}"' if scope else 'Bearer error="insufficient_scope"'


def grant_of(operation: str, route: str = "") -> Grant | None:
    """What admits a machine client to an operation (by operationId) or route ("METHOD /path")."""
    return GRANTS.get(route) or GRANTS.get(operation)


def admit(who: Principal, operation: str, route: str = "") -> Principal:
    """The caller of `operation`: a person (or an anonymous client) unchanged; a machine client, if
    it holds the operation's scope, as the role the operation needs (403 INSUFFICIENT_SCOPE otherwise)."""
    if not who.client_id:
        return who
    grant = grant_of(operation, route)
    if grant is None or grant.scope not in who.scopes:
        raise insufficient_scope(operation, grant.scope if grant else "")
    return ANONYMOUS if grant.role == PUBLIC else replace(who, role=grant.role)


# --- tokens -------------------------------------------------------------------------------------


def parse_scopes(value: Any) -> tuple[str, ...]:
    """A `scope` claim: a space-separated string (RFC 9068), or a list as some providers send (`scp`)."""
    items = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    if len(items) > MAX_SCOPES or not all(isinstance(x, str) and 0 < len(x) <= 64 for x in items):
        raise Unauthenticated(f"the token's scope claim must hold up to {MAX_SCOPES} scopes", reason="INVALID_TOKEN")
    return tuple(dict.fromkeys(items))


def machine_principal(claims: Mapping[str, Any], client_id_claim: str, scope_claim: str) -> Principal | None:
    """The machine client a verified token names, or None for a person's token (one with a role
    other than `integration`, or without a client id)."""
    client_id = claims.get(client_id_claim)
    if claims.get("role") not in (None, MACHINE_ROLE) or client_id is None:
        return None
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise Unauthenticated(f"the token's {client_id_claim} claim is not a client id", reason="INVALID_TOKEN")
    scopes = parse_scopes(claims.get(scope_claim, claims.get("scp")))
    return Principal(subject=client_id, role=MACHINE_ROLE, client_id=client_id, scopes=scopes)


# --- gRPC: which method a call is -------------------------------------------------------------------

_method: ContextVar[str] = ContextVar("shop_gateway_rpc_method", default="")


def named_methods(servicer: T, service: ServiceDescriptor) -> T:
    """`servicer` with each RPC method wrapped to note its name for `admit_rpc` (a gRPC servicer
    context does not say which method it serves). Registration reads the instance's attributes."""
    for method in service.methods:
        handler: Callable[..., Any] = getattr(servicer, method.name)
        setattr(servicer, method.name, _named(handler, f"{service.name}/{method.name}"))
    return servicer


def _named(handler: Callable[..., Any], full_name: str) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(handler):

        @functools.wraps(handler)
        async def streaming(request: Any, context: Any) -> Any:
            _method.set(full_name)
            async for item in handler(request, context):
                yield item

        return streaming

    @functools.wraps(handler)
    async def unary(request: Any, context: Any) -> Any:
        _method.set(full_name)
        return await handler(request, context)

    return unary


def admit_rpc(who: Principal) -> Principal:
    """`admit` for the gRPC method being served."""
    if not who.client_id:
        return who
    method = _method.get()
    return admit(who, RPC_OPERATIONS.get(method, method or "this method"))
