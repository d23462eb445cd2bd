"""Catalog: categories, products, variants, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

from shopkit.outbox import create_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLUG_CHECK = "~ '^[a-z0-9]+(-[a-z0-9]+)*$'"
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english'::regconfig, name), 'A')"
    " || setweight(to_tsvector('english'::regconfig, brand), 'B')"
    " || setweight(jsonb_to_tsvector('english'::regconfig, facets, '[\"string\"]'::jsonb), 'C')"
    " || setweight(to_tsvector('english'::regconfig, description), 'D')"
)


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("parent_id", UUID(as_uuid=True), sa.ForeignKey("categories.id"), nullable=True),
        sa.Column("slug", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("path", sa.Text(collation="C"), nullable=False),
        sa.Column("depth", sa.SmallInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("slug", name="categories_slug_key"),
        sa.UniqueConstraint("path", name="categories_path_key"),
        sa.CheckConstraint(f"slug {SLUG_CHECK}", name="categories_slug_format"),
        sa.CheckConstraint("length(btrim(name)) > 0", name="categories_name_present"),
        sa.CheckConstraint("depth >= 0 AND (parent_id IS NULL) = (depth = 0)", name="categories_depth_matches_parent"),
    )
    op.create_index("categories_parent", "categories", ["parent_id"])

    op.create_table(
        "products",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("slug", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("brand", sa.Text, nullable=False, server_default=""),
        sa.Column("category_id", UUID(as_uuid=True), sa.ForeignKey("categories.id"), nullable=False),
        sa.Column("attributes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("facets", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("channels", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False, server_default=sa.text("1")),
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
        sa.CheckConstraint("status IN ('draft', 'active', 'discontinued')", name="products_status_known"),
        sa.CheckConstraint(
            "channels <@ ARRAY['web', 'mobile', 'b2b', 'pos']::text[]", name="products_channels_known"
        ),
        sa.CheckConstraint("version > 0", name="products_version_positive"),
        sa.CheckConstraint("jsonb_typeof(attributes) = 'object'", name="products_attributes_object"),
        sa.CheckConstraint(
            "(status = 'discontinued') = (discontinued_at IS NOT NULL)",
            name="products_discontinued_at_matches_status",
        ),
    )
    op.create_index("products_category", "products", ["category_id"])
    op.create_index("products_status_slug", "products", ["status", "slug"])
    op.create_index(
        "products_facets", "products", ["facets"], postgresql_using="gin", postgresql_ops={"facets": "jsonb_path_ops"}
    )
    op.create_index("products_channels", "products", ["channels"], postgresql_using="gin")
    op.create_index("products_search", "products", ["search"], postgresql_using="gin")

    op.create_table(
        "variants",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column(
            "product_id", UUID(as_uuid=True), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False
        ),
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
    )
    op.create_index("variants_product", "variants", ["product_id", "position"])

    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
    op.drop_table("variants")
    op.drop_table("products")
    op.drop_table("categories")
