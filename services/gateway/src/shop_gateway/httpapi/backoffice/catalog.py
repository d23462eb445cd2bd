"""Bulk product import (role admin): upload JSONL, follow the progress, read the report of every line.
The catalog owns the imports: any gateway replica reads any of them."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request, Response
from pydantic import BaseModel, Field

from shop_gateway.app.backoffice import catalog
from shop_gateway.app.backoffice.catalog import ProductImport
from shop_gateway.app.backoffice.common import require_admin
from shop_gateway.httpapi.backoffice.common import IdempotencyKey, PageSize, PageToken, router
from shop_gateway.httpapi.deps import ShopDep, SignedIn

imports = router("/v1/admin/product-imports", "back office: product import")
UPLOAD = "/v1/admin/product-imports"
JSONL_EXAMPLE = (
    '{"slug": "trail-shoe", "name": "Trail shoe", "category_slug": "shoes", "status": "PRODUCT_STATUS_ACTIVE", '
    '"variants": [{"sku": "TS-42", "attributes": {"size": "42"}}]}\n'
)
IMPORT_LOCATION = {"description": "the import: GET it for progress", "required": True, "schema": {"type": "string"}}
UPLOAD_BODY = {
    "required": True,
    "description": "JSONL: one catalog Product per line (protobuf JSON mapping), keyed by slug",
    "content": {
        media: {"schema": {"type": "string"}, "example": JSONL_EXAMPLE}
        for media in ("application/x-ndjson", "application/jsonl", "text/plain")
    },
}


class ProductImportView(BaseModel):
    import_id: str
    status: str = Field(description="queued, running, done, or failed (stopped before the end: error)")
    lines_total: int
    lines_done: int = Field(description="lines the catalog has applied (or refused) so far")
    created: int
    updated: int
    unchanged: int
    failed: int
    error: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None


class ProductImportPage(BaseModel):
    imports: list[ProductImportView]
    next_page_token: str


class FieldError(BaseModel):
    field: str
    description: str


class LineReportView(BaseModel):
    line: int = Field(description="1-based line number of the upload")
    status: str = Field(description="ok, failed, blank (skipped), or pending (not applied yet)")
    slug: str
    message: str
    errors: list[FieldError]


class LineReportPage(BaseModel):
    lines: list[LineReportView]
    next_page_token: str


def _view(job: ProductImport) -> ProductImportView:
    fields = {name: getattr(job, name) for name in ProductImportView.model_fields}
    return ProductImportView.model_validate(fields)


@imports.post(
    "",
    status_code=202,
    summary="Import products from a JSONL upload (admin)",
    openapi_extra={"requestBody": UPLOAD_BODY},
    responses={202: {"description": "the import runs", "headers": {"Location": IMPORT_LOCATION}}},
)
async def import_products(
    request: Request, shop: ShopDep, who: SignedIn, response: Response, idempotency_key: IdempotencyKey = None
) -> ProductImportView:
    """The upload is read as it arrives (at most IMPORT_MAX_BYTES and IMPORT_MAX_LINES, else 413), stored by
    the catalog, then applied by its worker in batches: GET the Location for progress (from any gateway
    replica; it survives restarts), its /lines for the report. Products are upserted by slug; the same
    upload again changes nothing. The same Idempotency-Key again answers the same import (another upload
    under it: 409)."""
    require_admin(who)  # before reading anything
    settings = shop.settings
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > catalog.DRAIN_FACTOR * settings.import_max_bytes:
        raise catalog.UploadTooLarge(f"the upload is larger than {settings.import_max_bytes} bytes")
    lines = await catalog.read_upload(
        request.stream(), max_bytes=settings.import_max_bytes, max_lines=settings.import_max_lines
    )
    job = await catalog.start_import(shop, who, lines, idempotency_key or "")
    response.headers["Location"] = f"{UPLOAD}/{job.import_id}"
    return _view(job)


@imports.get("", summary="Product imports, newest first (admin)")
async def list_product_imports(
    shop: ShopDep, who: SignedIn, page_size: PageSize = 0, page_token: PageToken = ""
) -> ProductImportPage:
    found, token = await catalog.list_imports(shop, who, page_size=page_size, page_token=page_token)
    return ProductImportPage(imports=[_view(job) for job in found], next_page_token=token)


@imports.get("/{import_id}", summary="An import's progress and counts (admin)")
async def get_product_import(import_id: str, shop: ShopDep, who: SignedIn) -> ProductImportView:
    return _view(await catalog.get_import(shop, who, import_id))


@imports.get("/{import_id}/lines", summary="The report of each line of an import (admin)")
async def list_product_import_lines(
    import_id: str,
    shop: ShopDep,
    who: SignedIn,
    failed_only: bool = False,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> LineReportPage:
    reports, token = await catalog.import_lines(
        shop, who, import_id, failed_only=failed_only, page_size=page_size, page_token=page_token
    )
    lines = [
        LineReportView(
            line=r.line,
            status=r.status,
            slug=r.slug,
            message=r.message,
            errors=[FieldError(field=e.field, description=e.description) for e in r.errors],
        )
        for r in reports
    ]
    return LineReportPage(lines=lines, next_page_token=token)
