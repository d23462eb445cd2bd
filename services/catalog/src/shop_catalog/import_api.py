"""The durable product import RPCs of CatalogService (mixed into CatalogServicer): StartProductImport
stores an upload (all of it or nothing) for the import worker; the reads answer from the tables.

The upload is one transaction: the import row first (its lines refer to it; a second upload with
the same request id waits on the unique key until the first ends), the lines as their messages
arrive, then the count and the digest. A stream that breaks, or bad input, rolls all of it back.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc

from shop.catalog.v1 import catalog_pb2
from shop_catalog import import_store as st
from shop_catalog import mapping
from shop_catalog.settings import CatalogSettings
from shopkit import pagination
from shopkit.auth import require_role
from shopkit.db import Database
from shopkit.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound, Violations

Context = grpc.aio.ServicerContext[Any, Any]
MAX_REQUEST_ID = 64
MAX_STARTED_BY = 200
MAX_LINE_BYTES = 64 * 1024  # a longer line is reported failed, not applied (a product is far smaller)
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
IMPORT_STATUS = {
    st.QUEUED: catalog_pb2.PRODUCT_IMPORT_STATUS_QUEUED,
    st.RUNNING: catalog_pb2.PRODUCT_IMPORT_STATUS_RUNNING,
    st.DONE: catalog_pb2.PRODUCT_IMPORT_STATUS_DONE,
    st.FAILED: catalog_pb2.PRODUCT_IMPORT_STATUS_FAILED,
}
LINE_STATUS = {
    None: catalog_pb2.IMPORT_LINE_STATUS_PENDING,
    st.OK: catalog_pb2.IMPORT_LINE_STATUS_OK,
    st.LINE_FAILED: catalog_pb2.IMPORT_LINE_STATUS_FAILED,
    st.BLANK: catalog_pb2.IMPORT_LINE_STATUS_BLANK,
}


class ImportRpcs:
    db: Database
    settings: CatalogSettings

    async def StartProductImport(
        self, request_iterator: AsyncIterator[catalog_pb2.StartProductImportRequest], context: Context
    ) -> catalog_pb2.ProductImport:
        require_role(context)
        messages = aiter(request_iterator)
        first = await anext(messages, catalog_pb2.StartProductImportRequest())
        violations = Violations()
        violations.check(bool(first.request_id), "request_id", "is required: the caller's idempotency key")
        violations.check(len(first.request_id) <= MAX_REQUEST_ID, "request_id", f"at most {MAX_REQUEST_ID} characters")
        violations.check(len(first.started_by) <= MAX_STARTED_BY, "started_by", f"at most {MAX_STARTED_BY} characters")
        violations.raise_if_any()
        upload = _Upload(first.started_by, self.settings.import_max_lines)
        import_id = uuid.uuid4()
        async with self.db.transaction() as conn:
            fresh = await st.open_import(conn, import_id, first.request_id, first.started_by)
            async for message in _chain(first, messages):
                rows = upload.add(message)
                if fresh:
                    await st.insert_lines(conn, import_id, rows)
            upload.check()
            if fresh:
                await st.close_upload(conn, import_id, upload.digest(), upload.count)
            found = await st.import_by_request(conn, first.request_id)
        assert found is not None
        if not fresh and found["body_digest"] != upload.digest():
            raise AlreadyExists(
                f"request_id {first.request_id!r} was used for another upload",
                reason=REQUEST_ID_REUSED,
                metadata={"request_id": first.request_id, "import_id": str(found["id"])},
            )
        return import_to_proto(found)

    async def GetProductImport(
        self, request: catalog_pb2.GetProductImportRequest, context: Context
    ) -> catalog_pb2.ProductImport:
        require_role(context)
        async with self.db.connect() as conn:
            return import_to_proto(await _existing(conn, request.import_id))

    async def ListProductImports(
        self, request: catalog_pb2.ListProductImportsRequest, context: Context
    ) -> catalog_pb2.ListProductImportsResponse:
        require_role(context)
        size = pagination.page_size(request.page.page_size)
        cursor = pagination.decode_token(request.page.page_token)
        after = None
        if cursor:
            try:
                after = (datetime.fromisoformat(cursor["t"]), uuid.UUID(cursor["i"]))
            except (KeyError, TypeError, ValueError) as error:
                raise InvalidArgument(
                    [FieldViolation("page.page_token", "is not a token this service issued")]
                ) from error
        async with self.db.connect() as conn:
            rows = await st.list_imports(conn, after, size + 1)
        token = ""
        if len(rows) > size:
            rows, last = rows[:size], rows[size - 1]
            token = pagination.encode_token({"t": last["started_at"].isoformat(), "i": str(last["id"])})
        return catalog_pb2.ListProductImportsResponse(imports=[import_to_proto(r) for r in rows], next_page_token=token)

    async def ListProductImportLines(
        self, request: catalog_pb2.ListProductImportLinesRequest, context: Context
    ) -> catalog_pb2.ListProductImportLinesResponse:
        require_role(context)
        size = pagination.page_size(request.page.page_size)
        cursor = pagination.decode_token(request.page.page_token)
        after = cursor.get("l", 0) if cursor else 0
        if not isinstance(after, int):
            raise InvalidArgument([FieldViolation("page.page_token", "is not a token this service issued")])
        async with self.db.connect() as conn:
            job = await _existing(conn, request.import_id)
            rows = await st.list_lines(conn, job["id"], after=after, limit=size + 1, failed_only=request.failed_only)
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = pagination.encode_token({"l": rows[-1]["line"]})
        return catalog_pb2.ListProductImportLinesResponse(lines=[_line(r) for r in rows], next_page_token=token)


class _Upload:
    """What the stream carried so far: the line count, whether any line has content, the digest."""

    def __init__(self, started_by: str, max_lines: int):
        self.count = 0
        self.max_lines = max_lines
        self.content = False
        self.refused: dict[int, str] = {}
        self._digest = hashlib.sha256(started_by.encode() + b"\x00")

    def add(self, message: catalog_pb2.StartProductImportRequest) -> list[tuple[int, str, str]]:
        # A rejection may name a line of a later message (the sender may send them ahead).
        self.refused.update((r.line, r.message or "the line was refused by its sender") for r in message.rejected)
        rows = []
        for text in message.lines:
            self.count += 1
            refusal = self.refused.pop(self.count, "")
            if not refusal and len(text.encode()) > MAX_LINE_BYTES:
                refusal = f"the line is longer than {MAX_LINE_BYTES} bytes"
            self.content = self.content or (bool(text.strip()) and not refusal) or bool(refusal)
            self._digest.update(f"{len(text)}:{text}\x00{refusal}\x00".encode())
            rows.append((self.count, "" if refusal else text, refusal))
        if self.count > self.max_lines:
            raise InvalidArgument([FieldViolation("lines", f"more than {self.max_lines} lines")])
        return rows

    def check(self) -> None:
        if not self.content:
            raise InvalidArgument([FieldViolation("lines", "holds no product line (JSONL: one product per line)")])

    def digest(self) -> str:
        return self._digest.hexdigest()


async def _chain(
    first: catalog_pb2.StartProductImportRequest, rest: AsyncIterator[catalog_pb2.StartProductImportRequest]
) -> AsyncIterator[catalog_pb2.StartProductImportRequest]:
    yield first
    async for message in rest:
        yield message


async def _existing(conn: Any, import_id: str) -> Any:
    """The import; NOT_FOUND also for an id that is no UUID (no import has it)."""
    try:
        key = uuid.UUID(import_id)
    except ValueError:
        raise NotFound("product import", import_id) from None
    found = await st.import_by_id(conn, key)
    if found is None:
        raise NotFound("product import", import_id)
    return found


def import_to_proto(row: Any) -> catalog_pb2.ProductImport:
    message = catalog_pb2.ProductImport(
        id=str(row["id"]),
        request_id=row["request_id"],
        started_by=row["started_by"],
        status=IMPORT_STATUS[row["status"]],
        lines_total=row["lines_total"],
        lines_done=row["lines_done"],
        created=row["created"],
        updated=row["updated"],
        unchanged=row["unchanged"],
        failed=row["failed"],
        error=row["error"],
        started_at=mapping.timestamp(row["started_at"]),
    )
    if row["finished_at"] is not None:
        message.finished_at.CopyFrom(mapping.timestamp(row["finished_at"]))
    return message


def _line(row: Any) -> catalog_pb2.ImportLine:
    return catalog_pb2.ImportLine(
        line=row["line"],
        status=LINE_STATUS[row["status"]],
        slug=row["slug"],
        message=row["message"],
        field_violations=[
            catalog_pb2.FieldViolation(field=v["field"], description=v["description"]) for v in row["violations"]
        ],
    )
