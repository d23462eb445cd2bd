"""Durable product imports: StartProductImport over a real gRPC stream (idempotent start, bad input,
a broken upload leaving nothing, the line report), and the import worker on a database of its own
(a worker dying mid-import and another finishing it exactly once, two workers never running one
import, a stop giving the import back, retention)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

import shop_catalog
from shop.catalog.v1 import catalog_pb2
from shop_catalog import import_store as st
from shop_catalog import store
from shop_catalog.import_store import LeaseLost
from shop_catalog.import_worker import ImportWorker
from shop_catalog.settings import CatalogSettings
from shopkit.db import Database
from shopkit.errors import parse_rpc_error
from shopkit.testing import Postgres

MIGRATIONS = Path(shop_catalog.__file__).parent / "migrations"
Request = catalog_pb2.StartProductImportRequest


def line(slug: str, category: str, sku: str, **fields: Any) -> str:
    body = {"slug": slug, "name": slug.title(), "category_slug": category, "status": "PRODUCT_STATUS_ACTIVE"}
    return json.dumps({**body, "variants": [{"sku": sku}], **fields})


def messages(request_id: str, lines: list[str], *, per_message: int = 3, **first: Any) -> Iterable[Request]:
    yield Request(request_id=request_id, started_by="admin-1", **first)
    for start in range(0, len(lines), per_message):
        yield Request(lines=lines[start : start + per_message])


async def finished(catalog: Any, import_id: str) -> catalog_pb2.ProductImport:
    deadline = time.monotonic() + 30
    while True:
        job: catalog_pb2.ProductImport = await catalog.stub.GetProductImport(
            catalog_pb2.GetProductImportRequest(import_id=import_id), metadata=catalog.ADMIN
        )
        if job.status in (catalog_pb2.PRODUCT_IMPORT_STATUS_DONE, catalog_pb2.PRODUCT_IMPORT_STATUS_FAILED):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)


async def all_lines(catalog: Any, import_id: str, *, failed_only: bool = False) -> list[catalog_pb2.ImportLine]:
    found: list[catalog_pb2.ImportLine] = []
    token = ""
    while True:
        request = catalog_pb2.ListProductImportLinesRequest(import_id=import_id, failed_only=failed_only)
        request.page.page_size, request.page.page_token = 4, token
        page = await catalog.stub.ListProductImportLines(request, metadata=catalog.ADMIN)
        found += page.lines
        if not (token := page.next_page_token):
            return found


async def test_an_import_is_stored_then_applied_with_a_report_per_line(catalog: Any) -> None:
    category = catalog.unique("imports")
    await catalog.category(category)
    tag = catalog.unique("dur")
    good = [line(f"{tag}-{i}", category, f"{tag}-{i}".upper()) for i in range(8)]
    lines = [*good[:2], "", "{not json", line(f"{tag}-x", "no-such-category", f"{tag}-X".upper()), *good[2:], ""]
    first = Request(
        request_id=catalog.unique("rq"),
        started_by="admin-1",
        rejected=[catalog_pb2.ImportLineRejection(line=len(lines) + 1, message="the line is not UTF-8 text")],
    )
    requests = [first, Request(lines=lines), Request(lines=[""])]
    started = await catalog.stub.StartProductImport(iter(requests), metadata=catalog.ADMIN)
    assert (started.lines_total, started.started_by, started.request_id) == (
        len(lines) + 1,
        "admin-1",
        first.request_id,
    )
    assert started.status in (catalog_pb2.PRODUCT_IMPORT_STATUS_QUEUED, catalog_pb2.PRODUCT_IMPORT_STATUS_RUNNING)

    job = await finished(catalog, started.id)
    assert job.status == catalog_pb2.PRODUCT_IMPORT_STATUS_DONE and job.HasField("finished_at")
    assert (job.lines_done, job.created, job.updated, job.unchanged, job.failed) == (len(lines) + 1, 8, 0, 0, 3)
    report = await all_lines(catalog, started.id)
    statuses = [(r.line, r.status) for r in report]
    FAIL, OK, BLANK = (
        catalog_pb2.IMPORT_LINE_STATUS_FAILED,
        catalog_pb2.IMPORT_LINE_STATUS_OK,
        catalog_pb2.IMPORT_LINE_STATUS_BLANK,
    )
    expected = [(1, OK), (2, OK), (3, BLANK), (4, FAIL), (5, FAIL), *[(n, OK) for n in range(6, 12)]]
    assert statuses == [*expected, (12, BLANK), (13, FAIL)]
    failed = await all_lines(catalog, started.id, failed_only=True)
    assert [r.line for r in failed] == [4, 5, 13]
    assert failed[1].slug == f"{tag}-x" and [v.field for v in failed[1].field_violations] == ["category_slug"]
    assert failed[2].message == "the line is not UTF-8 text"
    shown = await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(slug=f"{tag}-7"), metadata=catalog.ADMIN)
    assert shown.variants[0].sku == f"{tag}-7".upper()

    listed = await catalog.stub.ListProductImports(catalog_pb2.ListProductImportsRequest(), metadata=catalog.ADMIN)
    assert started.id in [i.id for i in listed.imports]
    starts = [i.started_at.ToDatetime() for i in listed.imports]
    assert starts == sorted(starts, reverse=True)
    paged: list[str] = []
    token = ""
    while True:
        request = catalog_pb2.ListProductImportsRequest()
        request.page.page_size, request.page.page_token = 1, token
        page = await catalog.stub.ListProductImports(request, metadata=catalog.ADMIN)
        paged += [i.id for i in page.imports]
        if not (token := page.next_page_token) or len(paged) == len(listed.imports):
            break
    assert paged == [i.id for i in listed.imports][: len(paged)] and len(paged) == min(len(listed.imports), 50)


async def test_start_is_idempotent_and_refuses_another_upload_under_the_same_key(catalog: Any) -> None:
    category = catalog.unique("imports")
    await catalog.category(category)
    tag = catalog.unique("idem")
    lines = [line(f"{tag}-{i}", category, f"{tag}-{i}".upper()) for i in range(4)]
    key = catalog.unique("rq")
    first = await catalog.stub.StartProductImport(messages(key, lines), metadata=catalog.ADMIN)
    again = await catalog.stub.StartProductImport(messages(key, lines, per_message=1), metadata=catalog.ADMIN)
    assert again.id == first.id
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalog.stub.StartProductImport(messages(key, lines[:3]), metadata=catalog.ADMIN)
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert parse_rpc_error(refused.value).reason == "REQUEST_ID_REUSED"
    job = await finished(catalog, first.id)
    assert (job.created, job.failed) == (4, 0)


async def test_bad_input_and_a_broken_upload_store_nothing(catalog: Any) -> None:
    cases = [
        (messages("", ["{}"]), "request_id"),
        (messages("x" * 65, ["{}"]), "request_id"),
        (messages(catalog.unique("rq"), ["", "  "]), "lines"),
    ]
    for requests, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await catalog.stub.StartProductImport(requests, metadata=catalog.ADMIN)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in parse_rpc_error(error.value).violations] == [field]
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await catalog.stub.StartProductImport(messages(catalog.unique("rq"), ["{}"]), metadata=catalog.CUSTOMER)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    key = catalog.unique("broken")

    async def breaks() -> AsyncIterator[Request]:
        yield Request(request_id=key, started_by="admin-1")
        yield Request(lines=["{}"] * 50)
        await asyncio.sleep(30)  # the client goes away meanwhile

    call = catalog.stub.StartProductImport(breaks(), metadata=catalog.ADMIN)
    await asyncio.sleep(0.5)
    call.cancel()
    async with catalog.runtime.db.connect() as conn:
        assert await st.import_by_request(conn, key) is None
    # The key is free again (the broken upload's transaction rolled back, its lines with it).
    retried = await catalog.stub.StartProductImport(messages(key, ["{}"]), metadata=catalog.ADMIN, timeout=10)
    assert retried.lines_total == 1
    async with catalog.runtime.db.connect() as conn:
        count = sa.select(sa.func.count()).where(st.product_import_lines.c.import_id == uuid.UUID(retried.id))
        assert (await conn.execute(count)).scalar_one() == 1
    for missing in ("not-a-uuid", str(uuid.uuid4())):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await catalog.stub.GetProductImport(
                catalog_pb2.GetProductImportRequest(import_id=missing), metadata=catalog.ADMIN
            )
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


# --- the worker, on a database of its own (the service's worker does not see these imports) ------------


@pytest.fixture(scope="module")
def imports_database_url(postgres: Postgres) -> str:
    return postgres.migrated_database(MIGRATIONS, prefix="catalog_imports")  # alembic runs its own loop


@pytest.fixture(scope="module")
async def imports_db(imports_database_url: str) -> AsyncIterator[Database]:
    db = Database(imports_database_url)
    async with db.transaction() as conn:
        await store.insert_category(
            conn, category_id=uuid.uuid4(), parent_id=None, slug="kept", name="Kept", path="kept", depth=0
        )
    try:
        yield db
    finally:
        await db.dispose()


def worker(db: Database, name: str, **settings: Any) -> ImportWorker:
    options = {"database_url": "postgresql://unused/x", "import_batch_lines": 5, "import_lease_seconds": 30.0}
    return ImportWorker(db, CatalogSettings(**{**options, **settings}), on_commit=lambda: None, name=name)


async def queued(db: Database, lines: list[str]) -> uuid.UUID:
    import_id = uuid.uuid4()
    async with db.transaction() as conn:
        assert await st.open_import(conn, import_id, f"rq-{import_id}", "admin-1")
        await st.insert_lines(conn, import_id, [(n, text, "") for n, text in enumerate(lines, start=1)])
        await st.close_upload(conn, import_id, "digest", len(lines))
    return import_id


async def job(db: Database, import_id: uuid.UUID) -> Any:
    async with db.connect() as conn:
        return await st.import_by_id(conn, import_id)


async def products_with_prefix(db: Database, prefix: str) -> int:
    async with db.connect() as conn:
        query = sa.select(sa.func.count()).select_from(store.products).where(store.products.c.slug.like(f"{prefix}%"))
        return int((await conn.execute(query)).scalar_one())


async def drain(db: Database) -> None:
    """Finish or fail whatever an earlier test left claimable, so each test claims its own import."""
    async with db.transaction() as conn:
        await conn.execute(
            sa.update(st.product_imports)
            .where(st.product_imports.c.status.in_(["queued", "running"]))
            .values(status="failed", claimed_by=None, lease_until=None)
        )


async def test_a_worker_dying_mid_import_leaves_it_to_another_which_finishes_it_once(imports_db: Database) -> None:
    db = imports_db
    await drain(db)
    tag = f"crash-{uuid.uuid4().hex[:6]}"
    lines = [line(f"{tag}-{i}", "kept", f"{tag}-{i}".upper()) for i in range(18)]
    lines[13] = line(f"{tag}-2", "kept", f"{tag}-DUP".upper())  # repeats line 3's slug, after the resume
    lines[16] = "{not json"
    import_id = await queued(db, lines)
    first, second = worker(db, "w-1"), worker(db, "w-2")
    run = await first.claim()
    assert run is not None and run.import_id == import_id
    assert await second.claim() is None  # running under a live lease: no one else takes it
    assert await run.step() and await run.step()
    assert (await job(db, import_id))["lines_done"] == 10

    # w-1 stalls past its lease (a crash looks the same): w-2 takes over from line 11.
    async with db.transaction() as conn:
        await conn.execute(
            sa.update(st.product_imports)
            .where(st.product_imports.c.id == import_id)
            .values(lease_until=sa.func.now() - timedelta(seconds=1))
        )
    taken = await second.claim()
    assert taken is not None and taken.lines_done == 10
    await second.process(taken)
    with pytest.raises(LeaseLost):  # w-1 wakes up: its batch writes nothing
        await run.step()

    done = await job(db, import_id)
    assert (done["status"], done["lines_done"], done["claimed_by"]) == ("done", 18, None)
    assert (done["created"], done["updated"], done["unchanged"], done["failed"]) == (16, 0, 0, 2)
    assert await products_with_prefix(db, f"{tag}-") == 16
    async with db.connect() as conn:
        failed = await st.list_lines(conn, import_id, after=0, limit=50, failed_only=True)
        every = await st.list_lines(conn, import_id, after=0, limit=50, failed_only=False)
    assert [(r["line"], r["slug"]) for r in failed] == [(14, f"{tag}-2"), (17, "")]
    assert failed[0]["violations"] == [{"field": "slug", "description": "duplicate of line 3"}]
    assert sum(1 for r in every if r["status"] == "ok") == 16


async def test_two_workers_never_claim_one_import(imports_db: Database) -> None:
    db = imports_db
    await drain(db)
    import_id = await queued(db, [line(f"race-{uuid.uuid4().hex[:6]}", "kept", f"RACE-{uuid.uuid4().hex[:6]}")])
    workers = [worker(db, f"r-{i}") for i in range(4)]
    runs = [run for run in await asyncio.gather(*(w.claim() for w in workers)) if run is not None]
    assert [run.import_id for run in runs] == [import_id]
    assert (await job(db, import_id))["claimed_by"] == runs[0].worker.id


async def test_a_stop_gives_the_import_back_and_the_next_worker_continues(imports_db: Database) -> None:
    db = imports_db
    await drain(db)
    tag = f"stop-{uuid.uuid4().hex[:6]}"
    import_id = await queued(db, [line(f"{tag}-{i}", "kept", f"{tag}-{i}".upper()) for i in range(400)])
    first = worker(db, "s-1", import_batch_lines=2)
    task = asyncio.create_task(first.run())
    deadline = time.monotonic() + 30
    while (await job(db, import_id))["lines_done"] < 4:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped = await job(db, import_id)
    assert (stopped["status"], stopped["claimed_by"]) == ("queued", None) and 0 < stopped["lines_done"] < 400
    second = worker(db, "s-2", import_batch_lines=100)
    run = await second.claim()
    assert run is not None
    await second.process(run)
    done = await job(db, import_id)
    assert (done["status"], done["lines_done"], done["created"], done["failed"]) == ("done", 400, 400, 0)
    assert await products_with_prefix(db, f"{tag}-") == 400


async def test_finished_imports_past_retention_are_deleted(imports_db: Database) -> None:
    db = imports_db
    await drain(db)
    old, recent, running = [await queued(db, ["{}"]) for _ in range(3)]
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        for import_id, finished_at in ((old, now - timedelta(days=31)), (recent, now - timedelta(days=29))):
            await conn.execute(
                sa.update(st.product_imports)
                .where(st.product_imports.c.id == import_id)
                .values(status="done", finished_at=finished_at)
            )
    assert await worker(db, "ret").sweep() >= 1
    assert await job(db, old) is None and await job(db, recent) is not None and await job(db, running) is not None
    async with db.connect() as conn:
        assert not await st.list_lines(conn, old, after=0, limit=5, failed_only=False)
