"""The gRPC servicer of shop.catalog.v1.CatalogService.

Requests are validated here, before any I/O; the writes then run in one transaction each and
stage their events in the outbox of that transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop_catalog import browse, domain, events, mapping, store, visibility
from shop_catalog.domain import Product, ProductSpec, ProductStatus
from shop_catalog.import_api import ImportRpcs
from shop_catalog.importer import ImportTally, ProductImporter
from shop_catalog.product_cache import Entry, Key, ProductCache
from shop_catalog.projection_api import ProjectionRpcs
from shop_catalog.settings import CatalogSettings
from shopkit import pagination
from shopkit.auth import require_role
from shopkit.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Violations,
)
from shopkit.outbox import add_events
from shopkit.runtime import Runtime

Context = grpc.aio.ServicerContext[Any, Any]

# --- helpers -------------------------------------------------------------------------------------

MAX_REQUEST_ID = 64
UPDATABLE_PATHS = frozenset({*domain.MUTABLE_FIELDS, "category_slug"})


def _sku_conflicts(
    spec: ProductSpec, owners: dict[str, tuple[uuid.UUID, str]], product_id: uuid.UUID | None
) -> AlreadyExists | None:
    taken = [(sku, owner[1]) for sku, owner in owners.items() if owner[0] != product_id]
    if not taken:
        return None
    sku, slug = taken[0]
    return AlreadyExists(
        f"SKU {sku!r} already belongs to product {slug!r}", reason="SKU_TAKEN", metadata={"sku": sku, "product": slug}
    )


def _integrity_error(error: IntegrityError) -> AlreadyExists:
    constraint = store.violated_constraint(error)
    if constraint == "products_slug_key":
        return AlreadyExists("a product with this slug exists", reason="SLUG_TAKEN")
    if constraint == "variants_pkey":
        return AlreadyExists("one of the SKUs belongs to another product", reason="SKU_TAKEN")
    if constraint in ("categories_slug_key", "categories_path_key"):
        return AlreadyExists("a category with this slug exists", reason="CATEGORY_SLUG_TAKEN")
    raise error


def _unknown_category(spec: ProductSpec, prefix: str) -> InvalidArgument:
    field = "category_slug" if spec.category_slug and spec.category_id is None else "category_id"
    return InvalidArgument([FieldViolation(mapping.join(prefix, field), "unknown category")])


class CatalogServicer(ImportRpcs, ProjectionRpcs, catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, runtime: Runtime, settings: CatalogSettings):
        # Reads use `db.connect()` (autocommit, no BEGIN/ROLLBACK round trips): each statement sees committed
        # data, and the few multi-statement reads (a page, then its variants) tolerate a change between them.
        # GetProduct, the hottest read, runs its one statement on the driver (`store.read_product_by_id`),
        # with the same autocommit consistency.
        self.db = runtime.db
        self.runtime = runtime
        self.settings = settings
        self.products = ProductCache(settings.product_cache_seconds, settings.product_cache_max_entries)

    def _wake_relay(self) -> None:
        if self.runtime.relay is not None:
            self.runtime.relay.wake()

    def _committed(self) -> None:
        """After a write transaction: products may have changed, the outbox has events."""
        self.products.changed()
        self._wake_relay()

    # --- products: writes ------------------------------------------------------------------------

    async def CreateProduct(self, request: catalog_pb2.CreateProductRequest, context: Context) -> catalog_pb2.Product:
        require_role(context)
        violations = Violations()
        violations.check(
            len(request.request_id) <= MAX_REQUEST_ID, "request_id", f"at most {MAX_REQUEST_ID} characters"
        )
        spec = domain.complete(mapping.spec_from_proto(request.product, "product", violations))
        domain.check_spec(spec, "product", violations)
        violations.check(
            spec.status is not ProductStatus.DISCONTINUED, "product.status", "a new product is draft or active"
        )
        violations.raise_if_any()
        request_id = request.request_id or None
        try:
            async with self.db.transaction() as conn:
                product = await self._create(conn, spec, request_id)
        except IntegrityError as error:
            self.products.changed()  # the commit's outcome is what the error says; forgetting is always safe
            # A concurrent call with the same request id may have won (on any unique constraint):
            # then its product is the answer; otherwise the conflict is real.
            product = await self._created_for(request_id)
            if product is None:
                raise _integrity_error(error) from error
            return mapping.product_to_proto(product)
        if product is None:
            product = await self._created_for(request_id)
            assert product is not None
        else:
            self._committed()
        return mapping.product_to_proto(product)

    async def _created_for(self, request_id: str | None) -> Product | None:
        if request_id is None:
            return None
        async with self.db.connect() as conn:
            existing = await store.product_id_for_request(conn, request_id)
            return await store.product_by_id(conn, existing) if existing else None

    async def _create(self, conn: AsyncConnection, spec: ProductSpec, request_id: str | None) -> Product | None:
        """The new product; None when `request_id` was used before (the caller answers with that product)."""
        if request_id is not None and await store.product_id_for_request(conn, request_id) is not None:
            return None
        resolved = await store.resolve_category(conn, spec)
        if resolved is None:
            raise _unknown_category(spec, "product")
        conflict = _sku_conflicts(resolved, await store.sku_owners(conn, resolved.skus), None)
        if conflict is not None:
            # A concurrent call with the same request id may have committed between the two reads above.
            if request_id is not None and await store.product_id_for_request(conn, request_id) is not None:
                return None
            raise conflict
        product_id = uuid.uuid4()
        await store.insert_product(conn, product_id, resolved, request_id=request_id)
        product = await store.product_by_id(conn, product_id)
        assert product is not None
        await add_events(conn, store.outbox, [events.product_created(product)])
        return product

    async def UpdateProduct(self, request: catalog_pb2.UpdateProductRequest, context: Context) -> catalog_pb2.Product:
        require_role(context)
        violations = Violations()
        product_id = mapping.parse_uuid(request.product.id, "product.id", violations)
        violations.check(request.expected_version > 0, "expected_version", "is required: the version you read")
        paths = list(dict.fromkeys(request.update_mask.paths))
        violations.check(bool(paths), "update_mask", "name at least one field to change")
        for path in paths:
            violations.check(path in UPDATABLE_PATHS, "update_mask", f"{path!r} is not a field that can be changed")
        violations.raise_if_any()
        masked = catalog_pb2.Product()
        request.update_mask.MergeMessage(
            request.product, masked, replace_message_field=True, replace_repeated_field=True
        )
        patch = mapping.spec_from_proto(masked, "product", violations)
        violations.raise_if_any()
        assert product_id is not None
        try:
            async with self.db.transaction() as conn:
                product = await self._update(conn, product_id, request.expected_version, patch, paths)
        except IntegrityError as error:
            raise _integrity_error(error) from error
        finally:
            self.products.changed()
        self._wake_relay()
        return mapping.product_to_proto(product)

    async def _update(
        self, conn: AsyncConnection, product_id: uuid.UUID, expected_version: int, patch: ProductSpec, paths: list[str]
    ) -> Product:
        current = await store.product_by_id(conn, product_id, lock=True)
        if current is None:
            raise NotFound("product", str(product_id))
        if current.version != expected_version:
            raise Aborted(
                f"product was changed meanwhile: version is {current.version}, not {expected_version}",
                reason="VERSION_MISMATCH",
                metadata={"current_version": str(current.version)},
            )
        violations = Violations()
        spec = domain.complete(domain.apply_patch(current.spec, patch, paths))
        domain.check_spec(spec, "product", violations)
        domain.check_status_change(
            current.spec.status, spec.status, bulk=False, field_path="product.status", violations=violations
        )
        violations.raise_if_any()
        if (spec.category_id, spec.category_slug) != (current.spec.category_id, current.spec.category_slug):
            resolved = await store.resolve_category(conn, spec)
            if resolved is None:
                raise _unknown_category(spec, "product")
            spec = resolved
        changed = domain.changed_fields(current.spec, spec)
        if not changed:
            return current
        conflict = _sku_conflicts(spec, await store.sku_owners(conn, spec.skus), product_id)
        if conflict is not None:
            raise conflict
        await store.update_product(conn, product_id, spec)
        updated = await store.product_by_id(conn, product_id)
        assert updated is not None
        removed = [sku for sku in current.spec.skus if sku not in set(spec.skus)]
        await add_events(conn, store.outbox, [events.product_updated(updated, changed=changed, removed_skus=removed)])
        return updated

    async def DiscontinueProduct(
        self, request: catalog_pb2.DiscontinueProductRequest, context: Context
    ) -> catalog_pb2.Product:
        require_role(context)
        violations = Violations()
        product_id = mapping.parse_uuid(request.id, "id", violations)
        violations.raise_if_any()
        assert product_id is not None
        try:
            async with self.db.transaction() as conn:
                changed = await store.discontinue_product(conn, product_id)
                product = await store.product_by_id(conn, product_id)
                if product is None:
                    raise NotFound("product", str(product_id))
                if changed:
                    await add_events(conn, store.outbox, [events.product_discontinued(product)])
        finally:
            self.products.changed()
        if changed:
            self._wake_relay()
        return mapping.product_to_proto(product)

    async def ImportProducts(
        self, request_iterator: AsyncIterator[catalog_pb2.ImportProductsRequest], context: Context
    ) -> catalog_pb2.ImportSummary:
        require_role(context)
        importer = ProductImporter(
            self.db,
            store.outbox,
            chunk_size=self.settings.import_chunk_size,
            max_errors=self.settings.import_max_reported_errors,
            on_commit=self._committed,
        )
        number = 0
        async for request in request_iterator:
            for line in request.lines:
                number += 1
                if line.strip():
                    await importer.add_line(number, line)
        return _summary(await importer.finish())

    # --- products: reads -------------------------------------------------------------------------

    async def GetProduct(self, request: catalog_pb2.GetProductRequest, context: Context) -> catalog_pb2.Product:
        key = request.WhichOneof("key")
        cache_key = (key or "", request.slug if key == "slug" else request.id)
        entry = self.products.get(cache_key) or await self._read_product(request, key, cache_key)
        if not visibility.may_see(context, entry.shown_in):
            raise NotFound("product", request.id or request.slug)  # the answer for a product that does not exist
        return entry.product

    async def _read_product(self, request: catalog_pb2.GetProductRequest, key: str | None, cache_key: Key) -> Entry:
        generation = self.products.generation
        if key == "id":
            violations = Violations()
            product_id = mapping.parse_uuid(request.id, "id", violations)
            violations.raise_if_any()
            assert product_id is not None
            product = await store.read_product_by_id(self.db, product_id)
        elif key == "slug" and request.slug:
            product = await store.read_product_by_slug(self.db, request.slug)
        else:
            raise InvalidArgument([FieldViolation("id", "id or slug is required")])
        if product is None:
            raise NotFound("product", request.id or request.slug)
        return self.products.put((cache_key,), mapping.product_to_proto(product), generation)

    async def BatchGetVariants(
        self, request: catalog_pb2.BatchGetVariantsRequest, context: Context
    ) -> catalog_pb2.BatchGetVariantsResponse:
        skus = list(dict.fromkeys(request.skus))
        limit = self.settings.batch_get_max_skus
        if len(skus) > limit:
            raise InvalidArgument([FieldViolation("skus", f"at most {limit} SKUs per call")])
        response = catalog_pb2.BatchGetVariantsResponse()
        if not skus:
            return response
        async with self.db.connect() as conn:
            found = await store.variants_by_skus(conn, skus)
        for sku in skus:
            item = found.get(sku)
            if item is None:
                response.missing_skus.append(sku)
                continue
            response.variants.append(
                catalog_pb2.VariantView(
                    variant=mapping.variant_to_proto(item.variant),
                    product_id=str(item.product_id),
                    product_slug=item.product_slug,
                    product_name=item.product_name,
                    product_status=mapping.STATUS_TO_PROTO[item.product_status],
                    channels=[mapping.CHANNEL_TO_PROTO[c] for c in item.channels],
                    category_id=str(item.category_id),
                    return_window_days=item.return_window_days,
                    returnable=item.returnable,
                )
            )
        return response

    async def ListProducts(
        self, request: catalog_pb2.ListProductsRequest, context: Context
    ) -> catalog_pb2.ListProductsResponse:
        return await browse.list_products(self.db, request)

    async def SearchProducts(
        self, request: catalog_pb2.SearchProductsRequest, context: Context
    ) -> catalog_pb2.SearchProductsResponse:
        return await browse.search_products(self.db, request)

    # --- categories ------------------------------------------------------------------------------

    async def CreateCategory(
        self, request: catalog_pb2.CreateCategoryRequest, context: Context
    ) -> catalog_pb2.Category:
        require_role(context)
        violations = Violations()
        given = request.category
        parent_id = mapping.parse_uuid(given.parent_id, "category.parent_id", violations, required=False)
        domain.check_category(given.name, given.slug, "category", violations)
        violations.raise_if_any()
        name = given.name.strip()
        try:
            async with self.db.transaction() as conn:
                category = await self._create_category(conn, parent_id, given.slug, name)
        except IntegrityError as error:
            # A concurrent identical create is the same outcome; anything else is a real conflict.
            async with self.db.connect() as conn:
                winner = await store.category_by_slug(conn, given.slug)
            if winner is None or (winner.parent_id, winner.name) != (parent_id, name):
                raise _integrity_error(error) from error
            category = winner
        return mapping.category_to_proto(category)

    async def _create_category(
        self, conn: AsyncConnection, parent_id: uuid.UUID | None, slug: str, name: str
    ) -> domain.Category:
        parent = None
        if parent_id is not None:
            parent = await store.category_by_id(conn, parent_id)
            if parent is None:
                raise InvalidArgument([FieldViolation("category.parent_id", "unknown category")])
        existing = await store.category_by_slug(conn, slug)
        if existing is not None:
            if (existing.parent_id, existing.name) == (parent_id, name):
                return existing
            raise AlreadyExists(f"category {slug!r} exists", reason="CATEGORY_SLUG_TAKEN", metadata={"slug": slug})
        path, depth = domain.category_path(parent, slug)
        return await store.insert_category(
            conn, category_id=uuid.uuid4(), parent_id=parent_id, slug=slug, name=name, path=path, depth=depth
        )

    async def ListCategories(
        self, request: catalog_pb2.ListCategoriesRequest, context: Context
    ) -> catalog_pb2.ListCategoriesResponse:
        size = pagination.page_size(request.page.page_size)
        violations = Violations()
        parent_id = mapping.parse_uuid(request.parent_id, "parent_id", violations, required=False)
        violations.raise_if_any()
        key = browse.filter_key("categories", parent_id)
        cursor = browse.cursor(request.page.page_token, key)
        async with self.db.connect() as conn:
            found = await store.list_categories(
                conn, parent_id=parent_id, after_path=str(cursor["p"]) if cursor else None, limit=size + 1
            )
        response = catalog_pb2.ListCategoriesResponse(categories=[mapping.category_to_proto(c) for c in found[:size]])
        if len(found) > size:
            response.page.next_page_token = pagination.encode_token({"f": key, "p": found[size - 1].path})
        return response


# --- request parsing -----------------------------------------------------------------------------


def _summary(tally: ImportTally) -> catalog_pb2.ImportSummary:
    return catalog_pb2.ImportSummary(
        received=tally.received,
        created=tally.created,
        updated=tally.updated,
        unchanged=tally.unchanged,
        failed=tally.failed,
        errors=[
            catalog_pb2.ImportError(
                line=e.line,
                slug=e.slug,
                message=e.message,
                field_violations=[
                    catalog_pb2.FieldViolation(field=v.field, description=v.description) for v in e.violations
                ],
            )
            for e in tally.errors
        ],
    )
