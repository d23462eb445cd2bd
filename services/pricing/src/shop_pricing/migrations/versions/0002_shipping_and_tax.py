"""Shipping methods per zone and tax rules per country and region.

Revision ID: 0002
Revises: 0001
Create Date: shipping and tax
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


def upgrade() -> None:
    op.create_table(
        "shipping_methods",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("countries", ARRAY(sa.Text()), nullable=False),
        sa.Column("regions", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("min_days", sa.Integer(), nullable=False),
        sa.Column("max_days", sa.Integer(), nullable=False),
        sa.Column("rate_kind", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("flat_amount", sa.BigInteger()),
        sa.Column("bands", JSONB(), nullable=False, server_default="[]"),
        sa.Column("free_over", sa.BigInteger()),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(f"id ~ '{ID_PATTERN}'", name="shipping_methods_id_format"),
        sa.CheckConstraint(f"code ~ '{ID_PATTERN}'", name="shipping_methods_code_format"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="shipping_methods_currency_code"),
        sa.CheckConstraint("rate_kind IN ('flat', 'order_value', 'weight')", name="shipping_methods_rate_kind"),
        sa.CheckConstraint("rate_kind <> 'flat' OR flat_amount >= 0", name="shipping_methods_flat_price"),
        sa.CheckConstraint("free_over IS NULL OR free_over >= 0", name="shipping_methods_free_over"),
        sa.CheckConstraint("0 <= min_days AND min_days <= max_days", name="shipping_methods_delivery_days"),
        sa.CheckConstraint("cardinality(countries) > 0", name="shipping_methods_has_country"),
    )
    op.create_index("shipping_methods_by_country", "shipping_methods", ["countries"], postgresql_using="gin")
    op.create_table(
        "tax_rules",
        sa.Column("country", sa.Text(), primary_key=True),
        sa.Column("region", sa.Text(), primary_key=True, server_default=""),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("prices_include_tax", sa.Boolean(), nullable=False),
        sa.Column("tax_shipping", sa.Boolean(), nullable=False),
        sa.Column("exempt_with_tax_id", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name="tax_rules_country_code"),
        sa.CheckConstraint("rate_bp BETWEEN 0 AND 10000", name="tax_rules_rate"),
    )


def downgrade() -> None:
    op.drop_table("tax_rules")
    op.drop_index("shipping_methods_by_country", table_name="shipping_methods")
    op.drop_table("shipping_methods")
