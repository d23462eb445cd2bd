"""Bulk product import: lines are collected into chunks, each chunk is one transaction of a few
executemany statements (lock existing products, upsert products, sync variants, stage events).

A line that cannot be imported is reported and skipped; the others land. Products are keyed by
slug; a line identical to the stored product (same content digest) changes nothing. Both the
ImportProducts stream and the durable import worker (`import_worker`) feed lines through here.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from google.protobuf import json_format
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.catalog.v1 import catalog_pb2
from shop_catalog import domain, events, mapping, store
from shop_catalog.domain import Product, ProductSpec, ProductStatus
from shopkit.db import Database
from shopkit.errors import FailedPrecondition, FieldViolation, Violations
from shopkit.outbox import add_events

log = logging.getLogger("shop_catalog.importer")


@dataclass(frozen=True)
class LineError:
    line: int
    slug: str
    message: str
    violations: tuple[FieldViolation, ...] = ()


@dataclass
class ImportTally:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[LineError] = field(default_factory=list)


@dataclass(frozen=True)
class _Line:
    number: int
    spec: ProductSpec


ChunkHook = Callable[[AsyncConnection, "ChunkOutcome"], Awaitable[None]]


def parse_line(line: str) -> tuple[ProductSpec | None, str, list[FieldViolation]]:
    """A JSONL line as a checked spec, or (None, slug if read, why not, the field violations)."""
    message = catalog_pb2.Product()
    try:
        json_format.Parse(line, message)
    except json_format.ParseError as error:
        return None, f"not a Product in JSON: {error}", []
    violations = Violations()
    spec = domain.complete(mapping.spec_from_proto(message, "", violations))
    domain.check_spec(spec, "", violations)
    if violations.items:
        return spec, "invalid product", violations.items
    return spec, "", []


class ProductImporter:
    """One import stream. Feed it lines with `add_line` (or checked specs with `add`, failures with
    `fail`), then `finish`. `on_chunk` runs inside each chunk's transaction, after its writes (the
    durable import records its progress there, so that progress and products commit together)."""

    def __init__(
        self,
        db: Database,
        outbox: sa.Table,
        *,
        chunk_size: int,
        max_errors: int,
        on_commit: Callable[[], None],
        on_chunk: ChunkHook | None = None,
    ):
        self.db = db
        self.outbox = outbox
        self.chunk_size = chunk_size
        self.max_errors = max_errors
        self.on_commit = on_commit
        self.on_chunk = on_chunk
        self.tally = ImportTally()
        self._pending: list[_Line] = []
        self._slug_lines: dict[str, int] = {}
        self._sku_lines: dict[str, int] = {}
        self._category_ids: dict[str, uuid.UUID] | None = None  # slug -> id, loaded on first use
        self._known_ids: set[uuid.UUID] = set()

    def fail(self, line: int, slug: str, message: str, violations: Sequence[FieldViolation] = ()) -> None:
        self.tally.failed += 1
        if len(self.tally.errors) < self.max_errors:
            self.tally.errors.append(LineError(line, slug, message, tuple(violations)))

    async def add_line(self, number: int, line: str) -> None:
        """A non-blank JSONL line: parsed, checked, then queued (or reported failed)."""
        self.tally.received += 1
        spec, message, violations = parse_line(line)
        if message:
            self.fail(number, spec.slug if spec else "", message, violations)
        elif spec is not None:
            await self.add(number, spec)

    def remember(self, line: int, spec: ProductSpec) -> None:
        """A line applied earlier in this import (before a resume): later lines repeating its slug or
        SKUs are duplicates as they would have been in one run."""
        self._slug_lines.setdefault(spec.slug, line)
        for sku in spec.skus:
            self._sku_lines.setdefault(sku, line)

    async def add(self, line: int, spec: ProductSpec) -> None:
        """Queue a line whose content passed the domain checks; writes a chunk when one is full."""
        violations = Violations()
        resolved = await self._resolve_category(spec, violations)
        first = self._slug_lines.get(spec.slug)
        if first is not None:
            violations.add("slug", f"duplicate of line {first}")
        for index, sku in enumerate(spec.skus):
            if sku in self._sku_lines:
                violations.add(f"variants[{index}].sku", f"duplicate of a SKU on line {self._sku_lines[sku]}")
        if violations.items or resolved is None:
            self.fail(line, spec.slug, "invalid product", violations.items)
            return
        self._slug_lines[spec.slug] = line
        self._sku_lines.update((sku, line) for sku in spec.skus)
        self._pending.append(_Line(line, resolved))
        if len(self._pending) >= self.chunk_size:
            await self.flush()

    async def finish(self) -> ImportTally:
        await self.flush()
        self.tally.errors.sort(key=lambda e: e.line)
        return self.tally

    async def _resolve_category(self, spec: ProductSpec, violations: Violations) -> ProductSpec | None:
        if self._category_ids is None:
            async with self.db.connect() as conn:
                self._category_ids = await store.category_slugs(conn)
            self._known_ids = set(self._category_ids.values())
        by_slug = self._category_ids
        if spec.category_slug:
            found = by_slug.get(spec.category_slug)
            if found is None:
                violations.add("category_slug", "unknown category")
                return None
            if spec.category_id is not None and spec.category_id != found:
                violations.add("category_id", "does not match category_slug")
                return None
            return dataclasses.replace(spec, category_id=found)
        if spec.category_id not in self._known_ids:
            violations.add("category_id", "unknown category")
            return None
        return spec

    async def flush(self) -> None:
        lines, self._pending = self._pending, []
        if not lines:
            return
        try:
            async with self.db.transaction() as conn:
                staged = await self._write_chunk(conn, lines)
                if self.on_chunk is not None:
                    await self.on_chunk(conn, staged)
        except IntegrityError as error:
            # A concurrent writer took a slug or SKU after our checks: report the chunk, keep going.
            constraint = store.violated_constraint(error) or "a constraint"
            log.warning("import chunk conflicted", extra={"constraint": constraint, "lines": len(lines)})
            for item in lines:
                self.fail(item.number, item.spec.slug, f"conflicting concurrent change ({constraint}); retry the line")
            return
        self.on_commit()
        self.tally.created += staged.created
        self.tally.updated += staged.updated
        self.tally.unchanged += staged.unchanged
        for item, message, violations in staged.failures:
            self.fail(item.number, item.spec.slug, message, violations)

    async def _write_chunk(self, conn: AsyncConnection, lines: list[_Line]) -> ChunkOutcome:
        outcome = ChunkOutcome()
        existing = await store.products_by_slugs_for_update(conn, [item.spec.slug for item in lines])
        owners = await store.sku_owners(conn, [sku for item in lines for sku in item.spec.skus])
        to_write: list[tuple[_Line, Product | None]] = []
        for item in lines:
            old = existing.get(item.spec.slug)
            problem = _conflict(item.spec, old, owners)
            if problem is not None:
                outcome.failures.append((item, *problem))
            elif old is not None and domain.content_hash(old.spec) == domain.content_hash(item.spec):
                outcome.unchanged += 1
            else:
                to_write.append((item, old))
        now = datetime.now(UTC)
        rows = []
        for item, old in to_write:
            row = store.product_values(old.id if old else uuid.uuid4(), item.spec)
            row["discontinued_at"] = now if item.spec.status is ProductStatus.DISCONTINUED else None
            rows.append(row)
        written = await store.upsert_products(conn, rows)
        pending_events: list[events.PendingEvent] = []
        synced: list[tuple[uuid.UUID, ProductSpec]] = []
        for item, old in to_write:
            upserted = written.get(item.spec.slug)
            if upserted is None:  # identical content after all
                outcome.unchanged += 1
                continue
            synced.append((upserted.id, item.spec))
            product = Product(upserted.id, item.spec, upserted.version, now, now)
            if upserted.inserted or old is None:
                outcome.created += 1
                pending_events.append(events.product_created(product))
                continue
            outcome.updated += 1
            removed = [sku for sku in old.spec.skus if sku not in set(item.spec.skus)]
            changed = domain.changed_fields(old.spec, item.spec)
            pending_events.append(events.product_updated(product, changed=changed, removed_skus=removed))
            if item.spec.status is ProductStatus.DISCONTINUED and old.spec.status is not ProductStatus.DISCONTINUED:
                pending_events.append(events.product_discontinued(product))
        await store.replace_variants(conn, synced)
        await add_events(conn, self.outbox, pending_events)
        return outcome


@dataclass
class ChunkOutcome:
    """What one chunk transaction did (lines it could not apply in `failures`)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[tuple[_Line, str, tuple[FieldViolation, ...]]] = field(default_factory=list)


def _conflict(
    spec: ProductSpec, old: Product | None, owners: dict[str, tuple[uuid.UUID, str]]
) -> tuple[str, tuple[FieldViolation, ...]] | None:
    """Why this line cannot be applied to the stored state, if it cannot."""
    violations = Violations()
    for index, sku in enumerate(spec.skus):
        owner = owners.get(sku)
        if owner is not None and (old is None or owner[0] != old.id):
            violations.add(f"variants[{index}].sku", f"already used by product {owner[1]!r}")
    if violations.items:
        return "SKU already used by another product", tuple(violations.items)
    if old is not None:
        try:
            domain.check_status_change(
                old.spec.status, spec.status, bulk=True, field_path="status", violations=violations
            )
        except FailedPrecondition as error:
            return error.message, (FieldViolation("status", error.message),)
    return None
