"""Catalog storage: SQLAlchemy Core tables and async repository functions (no ORM).

Reads of one product are one indexed statement (product, category and variants joined); pages
of products are two (the page, then the variants of its products). Bulk writes are executemany
upserts so that an import writes thousands of rows per round trip. GetProduct's read outside a
unit of work runs that one statement on the driver (`read_product_by_id`), compiled once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_catalog import domain, projection
from shop_catalog.domain import Category, Channel, Dimensions, Product, ProductSpec, ProductStatus, Variant
from shopkit.db import Database, DriverQuery
from shopkit.outbox import inbox_table, outbox_table

metadata = sa.MetaData()

# The weights make a name match outrank a brand match, which outranks attributes and description.
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english'::regconfig, name), 'A')"
    " || setweight(to_tsvector('english'::regconfig, brand), 'B')"
    " || setweight(jsonb_to_tsvector('english'::regconfig, facets, '[\"string\"]'::jsonb), 'C')"
    " || setweight(to_tsvector('english'::regconfig, description), 'D')"
)
SEARCH_CONFIG: sa.ColumnElement[Any] = sa.literal_column("'english'::regconfig")
SLUG_CHECK = "~ '^[a-z0-9]+(-[a-z0-9]+)*$'"
STATUSES = ", ".join(f"'{s.value}'" for s in ProductStatus)
CHANNELS = ", ".join(f"'{c.value}'" for c in Channel)

categories = sa.Table(
    "categories",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("parent_id", UUID(as_uuid=True), sa.ForeignKey("categories.id"), nullable=True),
    sa.Column("slug", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    # "C" collation: the btree index then serves both ORDER BY path and LIKE 'prefix/%' (subtree).
    sa.Column("path", sa.Text(collation="C"), nullable=False),
    sa.Column("depth", sa.SmallInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("slug", name="categories_slug_key"),
    sa.UniqueConstraint("path", name="categories_path_key"),
    sa.CheckConstraint(f"slug {SLUG_CHECK}", name="categories_slug_format"),
    sa.CheckConstraint("length(btrim(name)) > 0", name="categories_name_present"),
    sa.CheckConstraint("depth >= 0 AND (parent_id IS NULL) = (depth = 0)", name="categories_depth_matches_parent"),
    sa.Index("categories_parent", "parent_id"),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("slug", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("brand", sa.Text, nullable=False, server_default=""),
    sa.Column("category_id", UUID(as_uuid=True), sa.ForeignKey("categories.id"), nullable=False),
    sa.Column("attributes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    # key -> [values] of product and variant attributes and the brand, lower-cased: filters use @>.
    sa.Column("facets", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("channels", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("return_window_days", sa.Integer, nullable=False, server_default=sa.text("30")),
    sa.Column("returnable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("version", sa.BigInteger, nullable=False, server_default=sa.text("1")),
    # Digest of the client-controlled content: an import skips products whose digest is unchanged.
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("create_request_id", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("discontinued_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("search", TSVECTOR, sa.Computed(SEARCH_DOCUMENT, persisted=True), nullable=False),
    sa.UniqueConstraint("slug", name="products_slug_key"),
    sa.UniqueConstraint("create_request_id", name="products_create_request_id_key"),
    sa.CheckConstraint(f"slug {SLUG_CHECK}", name="products_slug_format"),
    sa.CheckConstraint("length(btrim(name)) > 0", name="products_name_present"),
    sa.CheckConstraint(f"status IN ({STATUSES})", name="products_status_known"),
    sa.CheckConstraint(f"channels <@ ARRAY[{CHANNELS}]::text[]", name="products_channels_known"),
    sa.CheckConstraint("version > 0", name="products_version_positive"),
    sa.CheckConstraint("jsonb_typeof(attributes) = 'object'", name="products_attributes_object"),
    sa.CheckConstraint(
        "(status = 'discontinued') = (discontinued_at IS NOT NULL)", name="products_discontinued_at_matches_status"
    ),
    sa.Index("products_category", "category_id"),
    sa.Index("products_status_slug", "status", "slug"),
    sa.Index("products_facets", "facets", postgresql_using="gin", postgresql_ops={"facets": "jsonb_path_ops"}),
    sa.Index("products_channels", "channels", postgresql_using="gin"),
    sa.Index("products_search", "search", postgresql_using="gin"),
)

variants = sa.Table(
    "variants",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("product_id", UUID(as_uuid=True), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.SmallInteger, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("attributes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("weight_grams", sa.BigInteger, nullable=True),
    sa.Column("length_mm", sa.Integer, nullable=True),
    sa.Column("width_mm", sa.Integer, nullable=True),
    sa.Column("height_mm", sa.Integer, nullable=True),
    sa.Column("track_inventory", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("allow_preorder", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint("sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'", name="variants_sku_format"),
    sa.CheckConstraint("position >= 0", name="variants_position_non_negative"),
    sa.CheckConstraint("weight_grams IS NULL OR weight_grams >= 0", name="variants_weight_non_negative"),
    sa.CheckConstraint(
        "(length_mm IS NULL AND width_mm IS NULL AND height_mm IS NULL)"
        " OR (length_mm > 0 AND width_mm > 0 AND height_mm > 0)",
        name="variants_dimensions_complete",
    ),
    sa.Index("variants_product", "product_id", "position"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def violated_constraint(error: IntegrityError) -> str:
    """The name of the constraint an INSERT/UPDATE broke ('' when the driver did not say)."""
    cause = getattr(error.orig, "__cause__", None)
    return str(getattr(cause, "constraint_name", "") or "")


# --- rows <-> domain -------------------------------------------------------------------------------

_PRODUCT_COLUMNS = [
    products.c.id,
    products.c.slug,
    products.c.name,
    products.c.description,
    products.c.brand,
    products.c.category_id,
    products.c.attributes,
    products.c.channels,
    products.c.status,
    products.c.return_window_days,
    products.c.returnable,
    products.c.version,
    products.c.created_at,
    products.c.updated_at,
    products.c.discontinued_at,
    categories.c.slug.label("category_slug"),
    categories.c.path.label("category_path"),
]
_VARIANT_COLUMNS = [
    variants.c.sku,
    variants.c.title,
    variants.c.attributes,
    variants.c.weight_grams,
    variants.c.length_mm,
    variants.c.width_mm,
    variants.c.height_mm,
    variants.c.track_inventory,
    variants.c.allow_preorder,
]
# Labelled so that they can share a row with the product columns (the one-statement GetProduct).
_JOINED_VARIANT_COLUMNS = [c.label(f"v_{c.name}") for c in _VARIANT_COLUMNS]


# Rows are read by column name, `row["slug"]`: SQLAlchemy rows as `.mappings()`, driver rows as they come.
Row = Any


def _variant(row: Row, prefix: str = "") -> Variant:
    length = row[prefix + "length_mm"]
    dimensions = None
    if length is not None:
        dimensions = Dimensions(length, row[prefix + "width_mm"], row[prefix + "height_mm"])
    return Variant(
        sku=row[prefix + "sku"],
        title=row[prefix + "title"],
        attributes=row[prefix + "attributes"],
        weight_grams=row[prefix + "weight_grams"],
        dimensions=dimensions,
        track_inventory=row[prefix + "track_inventory"],
        allow_preorder=row[prefix + "allow_preorder"],
    )


def _product(row: Row, product_variants: Sequence[Variant]) -> Product:
    spec = ProductSpec(
        slug=row["slug"],
        name=row["name"],
        description=row["description"],
        brand=row["brand"],
        category_id=row["category_id"],
        category_slug=row["category_slug"],
        attributes=row["attributes"],
        channels=tuple(map(Channel, row["channels"])),
        status=ProductStatus(row["status"]),
        variants=tuple(product_variants),
        return_window_days=row["return_window_days"],
        returnable=row["returnable"],
    )
    return Product(
        id=row["id"],
        spec=spec,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        discontinued_at=row["discontinued_at"],
        category_path=row["category_path"],
    )


def _products_from_joined_rows(rows: Iterable[Row]) -> list[Product]:
    """Fold product x variant rows (ordered by product, then position) into products."""
    found: list[Product] = []
    current: Row = None
    collected: list[Variant] = []
    for row in rows:
        if current is not None and row["id"] != current["id"]:
            found.append(_product(current, collected))
            collected = []
        current = row
        if row["v_sku"] is not None:
            collected.append(_variant(row, "v_"))
    if current is not None:
        found.append(_product(current, collected))
    return found


def product_values(product_id: uuid.UUID, spec: ProductSpec) -> dict[str, Any]:
    """The content columns of a products row."""
    return {
        "id": product_id,
        "slug": spec.slug,
        "name": spec.name,
        "description": spec.description,
        "brand": spec.brand,
        "category_id": spec.category_id,
        "attributes": dict(spec.attributes),
        "facets": domain.facets(spec),
        "channels": [c.value for c in spec.channels],
        "status": spec.status.value,
        "return_window_days": spec.return_window_days,
        "returnable": spec.returnable,
        "content_hash": domain.content_hash(spec),
    }


def variant_values(product_id: uuid.UUID, spec: ProductSpec) -> list[dict[str, Any]]:
    rows = []
    for position, v in enumerate(spec.variants):
        dims = v.dimensions
        rows.append(
            {
                "sku": v.sku,
                "product_id": product_id,
                "position": position,
                "title": v.title,
                "attributes": dict(v.attributes),
                "weight_grams": v.weight_grams,
                "length_mm": dims.length_mm if dims else None,
                "width_mm": dims.width_mm if dims else None,
                "height_mm": dims.height_mm if dims else None,
                "track_inventory": v.track_inventory,
                "allow_preorder": v.allow_preorder,
            }
        )
    return rows


# --- categories ----------------------------------------------------------------------------------

_CATEGORY_COLUMNS = [
    categories.c.id,
    categories.c.parent_id,
    categories.c.slug,
    categories.c.name,
    categories.c.path,
    categories.c.depth,
    categories.c.created_at,
]


def _category(row: Any) -> Category:
    return Category(row.id, row.parent_id, row.slug, row.name, row.path, row.depth, row.created_at)


async def category_by_id(conn: AsyncConnection, category_id: uuid.UUID) -> Category | None:
    row = (await conn.execute(sa.select(*_CATEGORY_COLUMNS).where(categories.c.id == category_id))).first()
    return _category(row) if row else None


async def category_by_slug(conn: AsyncConnection, slug: str) -> Category | None:
    row = (await conn.execute(sa.select(*_CATEGORY_COLUMNS).where(categories.c.slug == slug))).first()
    return _category(row) if row else None


async def insert_category(
    conn: AsyncConnection,
    *,
    category_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    slug: str,
    name: str,
    path: str,
    depth: int,
) -> Category:
    row = (
        await conn.execute(
            categories.insert()
            .values(id=category_id, parent_id=parent_id, slug=slug, name=name, path=path, depth=depth)
            .returning(*_CATEGORY_COLUMNS)
        )
    ).one()
    return _category(row)


async def list_categories(
    conn: AsyncConnection, *, parent_id: uuid.UUID | None, after_path: str | None, limit: int
) -> list[Category]:
    stmt = sa.select(*_CATEGORY_COLUMNS).order_by(categories.c.path).limit(limit)
    if parent_id is not None:
        stmt = stmt.where(categories.c.parent_id == parent_id)
    if after_path is not None:
        stmt = stmt.where(categories.c.path > after_path)
    return [_category(row) for row in await conn.execute(stmt)]


async def category_slugs(conn: AsyncConnection) -> dict[str, uuid.UUID]:
    """Every category slug and its id (the tree is small: imports resolve slugs from this map)."""
    return {row.slug: row.id for row in await conn.execute(sa.select(categories.c.slug, categories.c.id))}


async def resolve_category(conn: AsyncConnection, spec: ProductSpec) -> ProductSpec | None:
    """`spec` with both category id and slug set, or None when the category does not exist."""
    if spec.category_id is not None:
        found = await category_by_id(conn, spec.category_id)
        if found is None or (spec.category_slug and spec.category_slug != found.slug):
            return None
    else:
        found = await category_by_slug(conn, spec.category_slug)
        if found is None:
            return None
    return dataclasses.replace(spec, category_id=found.id, category_slug=found.slug)


def subtree_condition(path: str) -> sa.ColumnElement[bool]:
    """Products in the category at `path` or any category below it (paths hold no LIKE wildcards)."""
    subtree = sa.select(categories.c.id).where(sa.or_(categories.c.path == path, categories.c.path.like(path + "/%")))
    return products.c.category_id.in_(subtree)


# --- products: reads -------------------------------------------------------------------------------

_PRODUCT_WITH_VARIANTS = (
    sa.select(*_PRODUCT_COLUMNS, *_JOINED_VARIANT_COLUMNS)
    .select_from(
        products.join(categories, categories.c.id == products.c.category_id).outerjoin(
            variants, variants.c.product_id == products.c.id
        )
    )
    .order_by(products.c.id, variants.c.position)
)
_BY_ID = _PRODUCT_WITH_VARIANTS.where(products.c.id == sa.bindparam("id"))
_BY_SLUG = _PRODUCT_WITH_VARIANTS.where(products.c.slug == sa.bindparam("slug"))
# The same reads for GetProduct, on the driver: compiled once, no SQLAlchemy work per call.
_READ_BY_ID = DriverQuery(_BY_ID)
_READ_BY_SLUG = DriverQuery(_BY_SLUG)


async def product_by_id(conn: AsyncConnection, product_id: uuid.UUID, *, lock: bool = False) -> Product | None:
    """One product with its variants in one statement; `lock` also row-locks the product."""
    stmt = _BY_ID.with_for_update(of=products) if lock else _BY_ID
    found = _products_from_joined_rows((await conn.execute(stmt, {"id": product_id})).mappings())
    return found[0] if found else None


async def product_by_slug(conn: AsyncConnection, slug: str) -> Product | None:
    found = _products_from_joined_rows((await conn.execute(_BY_SLUG, {"slug": slug})).mappings())
    return found[0] if found else None


async def read_product_by_id(db: Database, product_id: uuid.UUID) -> Product | None:
    """`product_by_id` outside a unit of work (committed data, like `db.connect()`), on the driver: the
    hot read of GetProduct."""
    found = _products_from_joined_rows(await db.fetch(_READ_BY_ID, id=product_id))
    return found[0] if found else None


async def read_product_by_slug(db: Database, slug: str) -> Product | None:
    """`product_by_slug` outside a unit of work, on the driver (see `read_product_by_id`)."""
    found = _products_from_joined_rows(await db.fetch(_READ_BY_SLUG, slug=slug))
    return found[0] if found else None


async def products_by_slugs_for_update(conn: AsyncConnection, slugs: Sequence[str]) -> dict[str, Product]:
    """The products with these slugs, row-locked for the rest of the transaction (an import chunk)."""
    stmt = _PRODUCT_WITH_VARIANTS.where(products.c.slug == sa.any_(sa.bindparam("slugs", type_=ARRAY(sa.Text))))
    rows = await conn.execute(stmt.with_for_update(of=products), {"slugs": list(slugs)})
    return {p.spec.slug: p for p in _products_from_joined_rows(rows.mappings())}


async def products_by_ids(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[Product]:
    """Products in the order of `ids` (a page): one statement for the products, one for their variants."""
    if not ids:
        return []
    product_rows = await conn.execute(
        sa.select(*_PRODUCT_COLUMNS)
        .select_from(products.join(categories, categories.c.id == products.c.category_id))
        .where(products.c.id == sa.any_(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))),
        {"ids": list(ids)},
    )
    rows = product_rows.mappings().all()
    variant_rows = await conn.execute(
        sa.select(variants.c.product_id, *_VARIANT_COLUMNS)
        .where(variants.c.product_id == sa.any_(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
        .order_by(variants.c.product_id, variants.c.position),
        {"ids": list(ids)},
    )
    by_product: dict[uuid.UUID, list[Variant]] = {}
    for row in variant_rows.mappings():
        by_product.setdefault(row["product_id"], []).append(_variant(row))
    found = {row["id"]: _product(row, by_product.get(row["id"], [])) for row in rows}
    return [found[i] for i in ids if i in found]


@dataclass(frozen=True)
class ProductFilter:
    """Filters shared by ListProducts and SearchProducts."""

    category_path: str | None = None
    statuses: tuple[ProductStatus, ...] = ()
    channel: Channel | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.category_path is not None:
            conditions.append(subtree_condition(self.category_path))
        if self.statuses:
            conditions.append(products.c.status.in_([s.value for s in self.statuses]))
        if self.channel is not None:
            # `= ANY`, not `@>`: the common channels hold most products, and a bitmap of the GIN index on
            # channels (most of the table) cost 1.4 s with 1M products; checking the rows the other
            # conditions found is cheap.
            conditions.append(sa.literal(self.channel.value, sa.Text) == sa.any_(products.c.channels))
        if self.attributes:
            conditions.append(products.c.facets.contains(domain.facet_filter(self.attributes)))
        return conditions


async def list_product_ids(
    conn: AsyncConnection, where: ProductFilter, *, after_slug: str | None, limit: int
) -> list[tuple[uuid.UUID, str]]:
    """(id, slug) of a page of products ordered by slug, starting after `after_slug`."""
    stmt = sa.select(products.c.id, products.c.slug).where(*where.conditions()).order_by(products.c.slug).limit(limit)
    if after_slug is not None:
        stmt = stmt.where(products.c.slug > after_slug)
    return [(row.id, row.slug) for row in await conn.execute(stmt)]


async def search_product_ids(
    conn: AsyncConnection, query: str, where: ProductFilter, *, after: tuple[float, uuid.UUID] | None, limit: int
) -> list[tuple[uuid.UUID, float]]:
    """(id, rank) of a page of matches, best first, ties by id; keyset after (rank, id)."""
    tsquery = sa.func.websearch_to_tsquery(SEARCH_CONFIG, sa.bindparam("query", query, type_=sa.Text))
    rank = sa.func.ts_rank(products.c.search, tsquery).label("rank")
    ranked = (
        sa.select(products.c.id, rank)
        .where(products.c.search.bool_op("@@")(tsquery), *where.conditions())
        .subquery("ranked")
    )
    stmt = sa.select(ranked.c.id, ranked.c.rank).order_by(ranked.c.rank.desc(), ranked.c.id.desc()).limit(limit)
    if after is not None:
        last_rank, last_id = sa.literal(after[0], sa.Float), sa.literal(after[1], UUID(as_uuid=True))
        stmt = stmt.where(sa.tuple_(ranked.c.rank, ranked.c.id) < sa.tuple_(last_rank, last_id))
    return [(row.id, float(row.rank)) for row in await conn.execute(stmt)]


@dataclass(frozen=True)
class VariantWithProduct:
    variant: Variant
    product_id: uuid.UUID
    product_slug: str
    product_name: str
    product_status: ProductStatus
    channels: tuple[Channel, ...]
    category_id: uuid.UUID
    return_window_days: int = domain.DEFAULT_RETURN_WINDOW_DAYS
    returnable: bool = True


async def variants_by_skus(conn: AsyncConnection, skus: Sequence[str]) -> dict[str, VariantWithProduct]:
    rows = await conn.execute(
        sa.select(
            *_VARIANT_COLUMNS,
            products.c.id.label("product_id"),
            products.c.slug.label("product_slug"),
            products.c.name.label("product_name"),
            products.c.status.label("product_status"),
            products.c.channels,
            products.c.category_id,
            products.c.return_window_days,
            products.c.returnable,
        )
        .select_from(variants.join(products, products.c.id == variants.c.product_id))
        .where(variants.c.sku == sa.any_(sa.bindparam("skus", type_=ARRAY(sa.Text)))),
        {"skus": list(skus)},
    )
    return {
        row["sku"]: VariantWithProduct(
            variant=_variant(row),
            product_id=row["product_id"],
            product_slug=row["product_slug"],
            product_name=row["product_name"],
            product_status=ProductStatus(row["product_status"]),
            channels=tuple(map(Channel, row["channels"])),
            category_id=row["category_id"],
            return_window_days=row["return_window_days"],
            returnable=row["returnable"],
        )
        for row in rows.mappings()
    }


async def sku_owners(conn: AsyncConnection, skus: Sequence[str]) -> dict[str, tuple[uuid.UUID, str]]:
    """SKU -> (product id, product slug) for those of `skus` that exist."""
    rows = await conn.execute(
        sa.select(variants.c.sku, products.c.id, products.c.slug)
        .select_from(variants.join(products, products.c.id == variants.c.product_id))
        .where(variants.c.sku == sa.any_(sa.bindparam("skus", type_=ARRAY(sa.Text)))),
        {"skus": list(skus)},
    )
    return {row.sku: (row.id, row.slug) for row in rows}


async def product_id_for_request(conn: AsyncConnection, request_id: str) -> uuid.UUID | None:
    found = await conn.scalar(sa.select(products.c.id).where(products.c.create_request_id == request_id))
    return found if isinstance(found, uuid.UUID) else None


# --- products: writes ----------------------------------------------------------------------------


async def insert_product(
    conn: AsyncConnection, product_id: uuid.UUID, spec: ProductSpec, *, request_id: str | None
) -> None:
    """Insert a new product and its variants (IntegrityError on a taken slug, SKU or request id)."""
    values = product_values(product_id, spec)
    values["create_request_id"] = request_id
    await conn.execute(products.insert().values(**values))
    await conn.execute(variants.insert(), variant_values(product_id, spec))
    await projection.refresh(conn, [product_id])


async def update_product(conn: AsyncConnection, product_id: uuid.UUID, spec: ProductSpec) -> None:
    """Replace the content of a locked product, bump its version and sync its variants."""
    values = product_values(product_id, spec)
    del values["id"]
    await conn.execute(
        products.update()
        .where(products.c.id == product_id)
        .values(**values, version=products.c.version + 1, updated_at=sa.func.now())
    )
    await replace_variants(conn, [(product_id, spec)])


async def discontinue_product(conn: AsyncConnection, product_id: uuid.UUID) -> bool:
    """Discontinue a product unless it already is; False when nothing changed (or it does not exist)."""
    result = await conn.execute(
        products.update()
        .where(products.c.id == product_id, products.c.status != ProductStatus.DISCONTINUED.value)
        .values(
            status=ProductStatus.DISCONTINUED.value,
            discontinued_at=sa.func.now(),
            updated_at=sa.func.now(),
            version=products.c.version + 1,
        )
    )
    return bool(result.rowcount)


async def replace_variants(conn: AsyncConnection, items: Sequence[tuple[uuid.UUID, ProductSpec]]) -> None:
    """Make the variants of each product exactly those of its spec: upsert them, delete the rest (and
    refresh the products' search projection)."""
    rows = [row for product_id, spec in items for row in variant_values(product_id, spec)]
    keep = [row["sku"] for row in rows]
    await conn.execute(
        variants.delete().where(
            variants.c.product_id == sa.any_(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))),
            variants.c.sku != sa.all_(sa.bindparam("keep", type_=ARRAY(sa.Text))),
        ),
        {"ids": [product_id for product_id, _ in items], "keep": keep},
    )
    if rows:
        stmt = insert(variants)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[variants.c.sku],
                set_={c.name: stmt.excluded[c.name] for c in variants.c if c.name != "sku"},
                # Never take over another product's SKU (callers check; this guards races).
                where=variants.c.product_id == stmt.excluded.product_id,
            ),
            rows,
        )
    # The search projection follows the variants (prices and stock are per SKU).
    await projection.refresh(conn, [product_id for product_id, _ in items])


@dataclass(frozen=True)
class UpsertedProduct:
    id: uuid.UUID
    slug: str
    version: int
    inserted: bool


async def upsert_products(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> dict[str, UpsertedProduct]:
    """Insert or update products keyed by slug in one executemany; products whose content digest is
    unchanged are left alone (and are absent from the result)."""
    if not rows:
        return {}
    insert_stmt = insert(products)
    content = [c for c in products.c if c.name in rows[0] and c.name not in ("id", "slug")]
    stmt = insert_stmt.on_conflict_do_update(
        index_elements=[products.c.slug],
        set_={
            **{c.name: insert_stmt.excluded[c.name] for c in content},
            "version": products.c.version + 1,
            "updated_at": sa.func.now(),
            "discontinued_at": sa.case(
                (insert_stmt.excluded.status != ProductStatus.DISCONTINUED.value, None),
                else_=sa.func.coalesce(products.c.discontinued_at, sa.func.now()),
            ),
        },
        where=products.c.content_hash != insert_stmt.excluded.content_hash,
    ).returning(
        products.c.id,
        products.c.slug,
        products.c.version,
        # xmax is 0 for a freshly inserted row version, non-zero when ON CONFLICT updated it.
        (sa.literal_column("xmax") == sa.literal_column("0")).label("inserted"),
    )
    result = await conn.execute(stmt, list(rows))
    return {row.slug: UpsertedProduct(row.id, row.slug, row.version, bool(row.inserted)) for row in result.all()}
