"""Bulk product import for staff: a JSONL upload (one catalog Product in the protobuf JSON mapping per
line, keyed by slug) read with bounds, then streamed to the catalog, which owns the import: it stores the
lines (all or none) and its own worker applies them (any catalog replica; an import survives restarts).
Progress and the per-line report are read back from the catalog by id, through any gateway replica.
The client's Idempotency-Key is the import's request id (the same upload again under it: the same
import); without one, each upload is a new import. Role admin."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shop.catalog.v1 import catalog_pb2
from shop_gateway.app.backoffice.common import IDEMPOTENCY_FIELD, require_admin
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import check_page
from shop_gateway.principal import Principal
from shopkit.errors import DomainError, FieldViolation, InvalidArgument, NotFound, ResourceExhausted, Violations
from shopkit.identifiers import check_idempotency_key

MAX_LINE_BYTES = 64 * 1024  # a longer line is reported failed, not sent (a product is far smaller)
NOT_UTF8 = "\x00not-utf-8"  # stands for a line that did not decode; never sent
BATCH_LINES = 500  # lines per message of the stream to the catalog
BATCH_BYTES = 1024 * 1024  # and at most this much text per message (within gRPC's message size)
STATUSES = {
    catalog_pb2.PRODUCT_IMPORT_STATUS_QUEUED: "queued",
    catalog_pb2.PRODUCT_IMPORT_STATUS_RUNNING: "running",
    catalog_pb2.PRODUCT_IMPORT_STATUS_DONE: "done",
    catalog_pb2.PRODUCT_IMPORT_STATUS_FAILED: "failed",
}
LINE_STATUSES = {
    catalog_pb2.IMPORT_LINE_STATUS_PENDING: "pending",
    catalog_pb2.IMPORT_LINE_STATUS_OK: "ok",
    catalog_pb2.IMPORT_LINE_STATUS_FAILED: "failed",
    catalog_pb2.IMPORT_LINE_STATUS_BLANK: "blank",
}
FIELDS = {"request_id": IDEMPOTENCY_FIELD, "import_id": "import_id"}
# A refused upload is still read (and dropped) up to this many times the limit, so that a client still
# sending reads the 413 instead of a reset connection; past it the connection may be cut.
DRAIN_FACTOR = 2


class UploadTooLarge(DomainError):
    """An upload over the import bounds (HTTP 413)."""

    code = ResourceExhausted.code
    default_reason = "UPLOAD_TOO_LARGE"


@dataclass
class ProductImport:
    import_id: str
    started_by: str
    lines_total: int
    status: str  # queued, running, done or failed (see error)
    lines_done: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    error: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None


def _import(message: catalog_pb2.ProductImport) -> ProductImport:
    finished = message.finished_at.ToDatetime(tzinfo=UTC) if message.HasField("finished_at") else None
    return ProductImport(
        import_id=message.id,
        started_by=message.started_by,
        lines_total=message.lines_total,
        status=STATUSES.get(message.status, "queued"),
        lines_done=message.lines_done,
        created=message.created,
        updated=message.updated,
        unchanged=message.unchanged,
        failed=message.failed,
        error=message.error,
        started_at=message.started_at.ToDatetime(tzinfo=UTC),
        finished_at=finished,
    )


@dataclass(frozen=True)
class LineReport:
    line: int
    status: str  # ok, failed, blank or pending
    slug: str = ""
    message: str = ""
    errors: tuple[FieldViolation, ...] = ()


async def read_upload(chunks: AsyncIterable[bytes], *, max_bytes: int, max_lines: int) -> list[str]:
    """The lines of a JSONL upload, read as it arrives: 413 past `max_bytes` or `max_lines`."""
    lines: list[str] = []
    pending = b""
    size = 0
    refusal = ""
    async for chunk in chunks:
        size += len(chunk)
        if refusal:
            if size > DRAIN_FACTOR * max_bytes:
                break
            continue  # dropped: the answer is decided
        if size > max_bytes:
            refusal = f"the upload is larger than {max_bytes} bytes"
            continue
        *complete, pending = (pending + chunk).split(b"\n")
        lines.extend(_decode(line) for line in complete)
        if len(lines) > max_lines:
            refusal = f"the upload has more than {max_lines} lines"
    if pending and not refusal:
        lines.append(_decode(pending))
    if refusal or len(lines) > max_lines:
        raise UploadTooLarge(refusal or f"the upload has more than {max_lines} lines")
    return lines


def _decode(raw: bytes) -> str:
    if len(raw) > MAX_LINE_BYTES:
        return raw[: MAX_LINE_BYTES + 1].decode("utf-8", "replace")  # reported too long, never sent
    try:
        return raw.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError:
        return NOT_UTF8


async def start_import(shop: Shop, who: Principal, lines: list[str], idempotency_key: str = "") -> ProductImport:
    require_admin(who)
    violations = Violations()
    if idempotency_key:
        check_idempotency_key(violations, idempotency_key, IDEMPOTENCY_FIELD)
    violations.raise_if_any()
    if not any(line.strip() for line in lines):
        raise InvalidArgument([FieldViolation("body", "holds no product line (JSONL: one product per line)")])
    first = catalog_pb2.StartProductImportRequest(
        request_id=idempotency_key or str(uuid.uuid4()), started_by=who.subject
    )
    with upstream("catalog", FIELDS):
        started = await shop.backends.catalog.StartProductImport(_messages(first, lines), metadata=who.metadata())
    return _import(started)


def _messages(
    first: catalog_pb2.StartProductImportRequest, lines: list[str]
) -> Iterator[catalog_pb2.StartProductImportRequest]:
    """The first message names the import; then the lines in messages of at most BATCH_LINES lines and
    BATCH_BYTES of text. A line that is no UTF-8 text, or too long, is sent as "" and named rejected."""
    yield first
    batch: list[str] = []
    rejected: list[catalog_pb2.ImportLineRejection] = []
    size = 0
    for number, line in enumerate(lines, start=1):
        if line == NOT_UTF8 or len(line.encode()) > MAX_LINE_BYTES:
            problem = "is not UTF-8 text" if line == NOT_UTF8 else f"is longer than {MAX_LINE_BYTES} bytes"
            rejected.append(catalog_pb2.ImportLineRejection(line=number, message=f"the line {problem}"))
            line = ""
        if batch and (len(batch) >= BATCH_LINES or size + len(line) > BATCH_BYTES):
            yield catalog_pb2.StartProductImportRequest(lines=batch, rejected=rejected)
            batch, rejected, size = [], [], 0
        batch.append(line)
        size += len(line)
    if batch or rejected:
        yield catalog_pb2.StartProductImportRequest(lines=batch, rejected=rejected)


async def get_import(shop: Shop, who: Principal, import_id: str) -> ProductImport:
    require_admin(who)
    if not import_id:
        raise NotFound("product import", import_id)
    with upstream("catalog", FIELDS):
        found = await shop.backends.catalog.GetProductImport(
            catalog_pb2.GetProductImportRequest(import_id=import_id), metadata=who.metadata()
        )
    return _import(found)


async def list_imports(
    shop: Shop, who: Principal, *, page_size: int = 0, page_token: str = ""
) -> tuple[list[ProductImport], str]:
    """The imports, newest first."""
    require_admin(who)
    violations = Violations()
    size = check_page(violations, page_size)
    violations.raise_if_any()
    request = catalog_pb2.ListProductImportsRequest()
    request.page.page_size, request.page.page_token = size, page_token
    with upstream("catalog", {"page.page_token": "page_token"}):
        response = await shop.backends.catalog.ListProductImports(request, metadata=who.metadata())
    return [_import(item) for item in response.imports], response.next_page_token


async def import_lines(
    shop: Shop, who: Principal, import_id: str, *, failed_only: bool = False, page_size: int = 0, page_token: str = ""
) -> tuple[list[LineReport], str]:
    """The report of each line from the cursor on, in line order (only the failed ones with failed_only)."""
    require_admin(who)
    violations = Violations()
    size = check_page(violations, page_size)
    violations.raise_if_any()
    if not import_id:
        raise NotFound("product import", import_id)
    request = catalog_pb2.ListProductImportLinesRequest(import_id=import_id, failed_only=failed_only)
    request.page.page_size, request.page.page_token = size, page_token
    with upstream("catalog", {**FIELDS, "page.page_token": "page_token"}):
        response = await shop.backends.catalog.ListProductImportLines(request, metadata=who.metadata())
    reports = [
        LineReport(
            line.line,
            LINE_STATUSES.get(line.status, "pending"),
            line.slug,
            line.message,
            tuple(FieldViolation(v.field, v.description) for v in line.field_violations),
        )
        for line in response.lines
    ]
    return reports, response.next_page_token
