"""Bulk product import for staff: a JSONL upload (one catalog Product in the protobuf JSON mapping per
line, keyed by slug) read with bounds, applied by the catalog's importer in batches (`imports`), its
progress and per-line report read back by id. Role admin."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass

from shop.catalog.v1 import catalog_pb2
from shop_gateway.app.backoffice.common import changing, require_admin
from shop_gateway.app.backoffice.imports import MAX_RUNNING, LineFailure, ProductImport
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import check_page
from shop_gateway.principal import Principal
from shopkit import pagination
from shopkit.errors import DomainError, FieldViolation, InvalidArgument, NotFound, ResourceExhausted, Violations

MAX_LINE_BYTES = 64 * 1024  # a longer line is reported failed, not sent (a product is far smaller)
NOT_UTF8 = "\x00not-utf-8"  # stands for a line that did not decode; never sent
BUSY_RETRY_SECONDS = 30
# A refused upload is still read (and dropped) up to this many times the limit, so that a client still
# sending reads the 413 instead of a reset connection; past it the connection may be cut.
DRAIN_FACTOR = 2


class UploadTooLarge(DomainError):
    """An upload over the import bounds (HTTP 413)."""

    code = ResourceExhausted.code
    default_reason = "UPLOAD_TOO_LARGE"


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


async def start_import(shop: Shop, who: Principal, lines: list[str]) -> ProductImport:
    require_admin(who)
    if not any(line.strip() for line in lines):
        raise InvalidArgument([FieldViolation("body", "holds no product line (JSONL: one product per line)")])
    if shop.imports.running() >= MAX_RUNNING:
        error = ResourceExhausted(f"{MAX_RUNNING} imports are running on this gateway; try again later")
        error.retry_after_seconds = BUSY_RETRY_SECONDS
        raise error
    metadata = who.metadata()

    async def apply(batch: list[str], offset: int, job: ProductImport) -> None:
        sent = []
        for index, line in enumerate(batch, start=1):
            number = offset + index
            if line == NOT_UTF8 or len(line.encode()) > MAX_LINE_BYTES:
                problem = "is not UTF-8 text" if line == NOT_UTF8 else f"is longer than {MAX_LINE_BYTES} bytes"
                job.failures[number] = LineFailure(number, "", f"the line {problem}")
                job.failed += 1
                line = ""  # keeps the numbering; the catalog skips blank lines
            elif not line.strip():
                job.blank.add(number)
            sent.append(line)

        with changing(shop, "catalog"):
            request = iter([catalog_pb2.ImportProductsRequest(lines=sent)])  # one message: the batch
            summary = await shop.backends.catalog.ImportProducts(request, metadata=metadata)
        job.created += summary.created
        job.updated += summary.updated
        job.unchanged += summary.unchanged
        job.failed += summary.failed
        for error in summary.errors:
            number = offset + error.line
            violations = [FieldViolation(v.field, v.description) for v in error.field_violations]
            job.failures[number] = LineFailure(number, error.slug, error.message, violations)

    return shop.imports.start(who.subject, lines, apply)


def get_import(shop: Shop, who: Principal, import_id: str) -> ProductImport:
    require_admin(who)
    found = shop.imports.get(import_id)
    if found is None:
        raise NotFound("product import", import_id)
    return found


def import_lines(
    shop: Shop, who: Principal, import_id: str, *, failed_only: bool = False, page_size: int = 0, page_token: str = ""
) -> tuple[list[LineReport], str]:
    """The report of each line from the cursor on, in line order (only the failed ones with failed_only)."""
    job = get_import(shop, who, import_id)
    violations = Violations()
    size = check_page(violations, page_size)
    violations.raise_if_any()
    cursor = pagination.decode_token(page_token, "page_token")
    after = int(cursor.get("l", 0)) if cursor else 0
    numbers = sorted(n for n in job.failures if n > after) if failed_only else range(after + 1, job.lines_total + 1)
    page: list[LineReport] = []
    for number in numbers:
        if len(page) == size:
            return page, pagination.encode_token({"l": page[-1].line})
        failure = job.failures.get(number)
        if failure is None:
            page.append(LineReport(number, job.line_status(number)))
        else:
            page.append(LineReport(number, "failed", failure.slug, failure.message, tuple(failure.errors)))
    return page, ""
