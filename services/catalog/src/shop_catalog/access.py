"""Who may call which method of the catalog service (see shopkit.access): the gateway for its clients,
the cart for the lines it prices, order for return terms, the operators' tooling for administration and reads."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

CALLERS: Callers = {
    "CreateProduct": allow(GATEWAY, TOOLING),
    "UpdateProduct": allow(GATEWAY, TOOLING),
    "DiscontinueProduct": allow(GATEWAY, TOOLING),
    "GetProduct": allow(GATEWAY, TOOLING),
    # The cart prices its lines; order reads whether products may be returned; checkout reads the
    # lines' categories (a B2B account's approval rules may depend on them).
    "BatchGetVariants": allow("cart", "checkout", "order", GATEWAY, TOOLING),
    "ListProducts": allow(GATEWAY, TOOLING),
    "SearchProducts": allow(GATEWAY, TOOLING),
    "CreateCategory": allow(GATEWAY, TOOLING),
    "ListCategories": allow(GATEWAY, TOOLING),
    "ImportProducts": allow(GATEWAY, TOOLING),
    # Durable imports: the back office's through the gateway (and, as everywhere, the operators' tooling).
    "StartProductImport": allow(GATEWAY, TOOLING),
    "GetProductImport": allow(GATEWAY, TOOLING),
    "ListProductImports": allow(GATEWAY, TOOLING),
    "ListProductImportLines": allow(GATEWAY, TOOLING),
    # The back office's POST /v1/admin/search-projection/rebuild.
    "RebuildSearchProjection": allow(GATEWAY, TOOLING),
    "GetSearchProjectionRebuild": allow(GATEWAY, TOOLING),
}
