"""The pricing database: SQLAlchemy Core tables on one metadata. Constraints back every invariant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from shopkit.outbox import inbox_table, outbox_table

metadata = sa.MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
COUPON_PATTERN = r"^[A-Z0-9_-]{3,64}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"


def _stamp(name: str) -> sa.Column[datetime]:
    """A timestamp the database fills in."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


# One base price per SKU and currency. `amount` is what customers pay before lists and promotions;
# `anchor_amount` is what an admin set (dynamic pricing moves `amount` around it, within bounds).
base_prices = sa.Table(
    "base_prices",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("anchor_amount", sa.BigInteger, nullable=False),
    _stamp("updated_at"),
    sa.Column("dynamic_changed_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("amount >= 0", name="base_prices_amount_not_negative"),
    sa.CheckConstraint("anchor_amount >= 0", name="base_prices_anchor_not_negative"),
    sa.CheckConstraint(f"currency ~ '{CURRENCY_PATTERN}'", name="base_prices_currency_code"),
)

# Scope fields hold '' for "anyone" (not NULL) so that lookups are plain equality tests.
price_lists = sa.Table(
    "price_lists",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("account_id", sa.Text, nullable=False, server_default=""),
    sa.Column("customer_group", sa.Text, nullable=False, server_default=""),
    sa.Column("channel", sa.Text, nullable=False, server_default=""),
    sa.Column("country", sa.Text, nullable=False, server_default=""),
    sa.Column("currency", sa.Text, nullable=False, server_default=""),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("valid_from", sa.DateTime(timezone=True)),
    sa.Column("valid_to", sa.DateTime(timezone=True)),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
    _stamp("created_at"),
    _stamp("updated_at"),
    sa.CheckConstraint(f"id ~ '{ID_PATTERN}'", name="price_lists_id_format"),
    sa.CheckConstraint("kind IN ('sale', 'override')", name="price_lists_kind"),
    sa.CheckConstraint("currency = '' OR currency ~ '^[A-Z]{3}$'", name="price_lists_currency_code"),
    sa.CheckConstraint(
        "valid_from IS NULL OR valid_to IS NULL OR valid_to > valid_from", name="price_lists_window_order"
    ),
)

price_list_entries = sa.Table(
    "price_list_entries",
    metadata,
    sa.Column("price_list_id", sa.Text, sa.ForeignKey("price_lists.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    sa.Column("min_quantity", sa.BigInteger, primary_key=True),
    sa.Column("unit_amount", sa.BigInteger, nullable=False),
    sa.CheckConstraint("min_quantity >= 1", name="price_list_entries_min_quantity_positive"),
    sa.CheckConstraint("unit_amount >= 0", name="price_list_entries_amount_not_negative"),
    sa.CheckConstraint(f"currency ~ '{CURRENCY_PATTERN}'", name="price_list_entries_currency_code"),
    # Quote/GetPrices look entries up by SKU and currency for every list at once.
    sa.Index("price_list_entries_by_sku", "sku", "currency"),
)

# 1 base_currency = rate quote_currency.
currency_rates = sa.Table(
    "currency_rates",
    metadata,
    sa.Column("base_currency", sa.Text, primary_key=True),
    sa.Column("quote_currency", sa.Text, primary_key=True),
    sa.Column("rate", sa.Numeric(24, 12), nullable=False),
    _stamp("updated_at"),
    sa.CheckConstraint("rate > 0", name="currency_rates_rate_positive"),
    sa.CheckConstraint("base_currency <> quote_currency", name="currency_rates_distinct_pair"),
    sa.CheckConstraint(
        f"base_currency ~ '{CURRENCY_PATTERN}' AND quote_currency ~ '{CURRENCY_PATTERN}'",
        name="currency_rates_currency_codes",
    ),
)

# `currency` is the currency of amount_off and min_spend (both must agree).
promotions = sa.Table(
    "promotions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("percent_bp", sa.Integer, nullable=False, server_default="0"),
    sa.Column("amount_off", sa.BigInteger),
    sa.Column("min_spend", sa.BigInteger),
    sa.Column("currency", sa.Text),
    sa.Column("valid_from", sa.DateTime(timezone=True)),
    sa.Column("valid_to", sa.DateTime(timezone=True)),
    sa.Column("automatic", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
    _stamp("created_at"),
    sa.CheckConstraint(f"id ~ '{ID_PATTERN}'", name="promotions_id_format"),
    sa.CheckConstraint("target IN ('order', 'products')", name="promotions_target"),
    sa.CheckConstraint(
        "(kind = 'percent' AND percent_bp BETWEEN 1 AND 10000 AND amount_off IS NULL)"
        " OR (kind = 'amount' AND percent_bp = 0 AND amount_off > 0 AND currency IS NOT NULL)",
        name="promotions_discount_shape",
    ),
    sa.CheckConstraint("min_spend IS NULL OR (min_spend >= 0 AND currency IS NOT NULL)", name="promotions_min_spend"),
    sa.CheckConstraint("currency IS NULL OR currency ~ '^[A-Z]{3}$'", name="promotions_currency_code"),
    sa.CheckConstraint(
        "valid_from IS NULL OR valid_to IS NULL OR valid_to > valid_from", name="promotions_window_order"
    ),
    # Every quote looks for the automatic promotions in force.
    sa.Index("promotions_automatic_in_force", "valid_to", postgresql_where=sa.text("automatic AND active")),
)

promotion_skus = sa.Table(
    "promotion_skus",
    metadata,
    sa.Column("promotion_id", sa.Text, sa.ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sku", sa.Text, primary_key=True),
)

# Codes are stored upper-case: the primary key makes them unique case-insensitively.
coupons = sa.Table(
    "coupons",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("promotion_id", sa.Text, sa.ForeignKey("promotions.id"), nullable=False),
    sa.Column("usage_limit_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("usage_limit_per_customer", sa.Integer, nullable=False, server_default="0"),
    sa.Column("times_used", sa.Integer, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
    _stamp("created_at"),
    sa.CheckConstraint(f"code ~ '{COUPON_PATTERN}'", name="coupons_code_format"),
    sa.Index("coupons_by_promotion", "promotion_id"),
    sa.CheckConstraint("usage_limit_total >= 0 AND usage_limit_per_customer >= 0", name="coupons_limits"),
    sa.CheckConstraint("times_used >= 0", name="coupons_used_not_negative"),
    # The total limit holds in the database, not only in the conditional UPDATE that redeems.
    sa.CheckConstraint("usage_limit_total = 0 OR times_used <= usage_limit_total", name="coupons_within_limit"),
)

# One counter row per coupon and customer; redemption increments it with a conditional upsert.
coupon_customer_uses = sa.Table(
    "coupon_customer_uses",
    metadata,
    sa.Column("code", sa.Text, sa.ForeignKey("coupons.code"), primary_key=True),
    sa.Column("customer_id", sa.Text, primary_key=True),
    sa.Column("uses", sa.Integer, nullable=False),
    sa.CheckConstraint("uses >= 0", name="coupon_customer_uses_not_negative"),
)

# One row per checkout/order id (the idempotency key). A release of an unknown key leaves a
# 'released' row without a code so that a late redemption with that key cannot consume a use.
coupon_redemptions = sa.Table(
    "coupon_redemptions",
    metadata,
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("code", sa.Text, sa.ForeignKey("coupons.code")),
    sa.Column("promotion_id", sa.Text),
    sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("redeemed_at", sa.DateTime(timezone=True)),
    sa.Column("released_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("status IN ('active', 'released')", name="coupon_redemptions_status"),
    sa.CheckConstraint(
        "status = 'released' OR (code IS NOT NULL AND redeemed_at IS NOT NULL)",
        name="coupon_redemptions_active_has_coupon",
    ),
    sa.Index("coupon_redemptions_by_coupon", "code", "customer_id"),
)

dynamic_rules = sa.Table(
    "dynamic_rules",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False, server_default=""),
    sa.Column("low_stock_threshold", sa.BigInteger),
    sa.Column("raise_bp", sa.Integer, nullable=False, server_default="0"),
    sa.Column("high_stock_threshold", sa.BigInteger),
    sa.Column("lower_bp", sa.Integer, nullable=False, server_default="0"),
    sa.Column("floor_bp", sa.Integer, nullable=False),
    sa.Column("ceiling_bp", sa.Integer, nullable=False),
    sa.Column("max_step_bp", sa.Integer, nullable=False),
    sa.Column("cooldown_seconds", sa.Integer, nullable=False, server_default="0"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
    _stamp("created_at"),
    _stamp("updated_at"),
    sa.CheckConstraint(f"id ~ '{ID_PATTERN}'", name="dynamic_rules_id_format"),
    sa.CheckConstraint("currency = '' OR currency ~ '^[A-Z]{3}$'", name="dynamic_rules_currency_code"),
    sa.CheckConstraint(
        "low_stock_threshold IS NOT NULL OR high_stock_threshold IS NOT NULL", name="dynamic_rules_has_threshold"
    ),
    sa.CheckConstraint(
        "low_stock_threshold IS NULL OR high_stock_threshold IS NULL OR low_stock_threshold <= high_stock_threshold",
        name="dynamic_rules_threshold_order",
    ),
    sa.CheckConstraint(
        "raise_bp BETWEEN 0 AND 100000 AND lower_bp BETWEEN 0 AND 10000", name="dynamic_rules_adjustments"
    ),
    sa.CheckConstraint("floor_bp BETWEEN 0 AND 10000 AND ceiling_bp >= 10000", name="dynamic_rules_bounds"),
    sa.CheckConstraint("max_step_bp BETWEEN 1 AND 10000", name="dynamic_rules_step"),
    sa.CheckConstraint("cooldown_seconds >= 0", name="dynamic_rules_cooldown"),
)

# The primary key on sku: a SKU is governed by at most one rule.
dynamic_rule_skus = sa.Table(
    "dynamic_rule_skus",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("rule_id", sa.Text, sa.ForeignKey("dynamic_rules.id", ondelete="CASCADE"), nullable=False),
    sa.Index("dynamic_rule_skus_by_rule", "rule_id"),
)

# The audit log of base-price changes (admin and dynamic). No foreign key to the rule: the log
# outlives deleted rules.
price_changes = sa.Table(
    "price_changes",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("old_amount", sa.BigInteger),
    sa.Column("new_amount", sa.BigInteger, nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("rule_id", sa.Text),
    sa.Column("triggering_event_id", sa.Text),
    sa.Column("total_available", sa.BigInteger),
    _stamp("changed_at"),
    sa.CheckConstraint("cause IN ('base_price_set', 'dynamic')", name="price_changes_cause"),
    sa.CheckConstraint(
        "cause <> 'dynamic' OR (rule_id IS NOT NULL AND triggering_event_id IS NOT NULL)",
        name="price_changes_dynamic_has_trigger",
    ),
    sa.Index("price_changes_by_sku", "sku", "id"),
)


# A shipping method of a zone. Rates are money of one currency; `bands` is a JSON list of
# {"from": n, "amount": m} in ascending order (checked at the edge), the first from 0.
shipping_methods = sa.Table(
    "shipping_methods",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("countries", ARRAY(sa.Text), nullable=False),
    sa.Column("regions", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("min_days", sa.Integer, nullable=False),
    sa.Column("max_days", sa.Integer, nullable=False),
    sa.Column("rate_kind", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("flat_amount", sa.BigInteger),
    sa.Column("bands", JSONB, nullable=False, server_default="[]"),
    sa.Column("free_over", sa.BigInteger),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
    _stamp("updated_at"),
    sa.CheckConstraint(f"id ~ '{ID_PATTERN}'", name="shipping_methods_id_format"),
    sa.CheckConstraint(f"code ~ '{ID_PATTERN}'", name="shipping_methods_code_format"),
    sa.CheckConstraint(f"currency ~ '{CURRENCY_PATTERN}'", name="shipping_methods_currency_code"),
    sa.CheckConstraint("rate_kind IN ('flat', 'order_value', 'weight')", name="shipping_methods_rate_kind"),
    sa.CheckConstraint("rate_kind <> 'flat' OR flat_amount >= 0", name="shipping_methods_flat_price"),
    sa.CheckConstraint("free_over IS NULL OR free_over >= 0", name="shipping_methods_free_over"),
    sa.CheckConstraint("0 <= min_days AND min_days <= max_days", name="shipping_methods_delivery_days"),
    sa.CheckConstraint("cardinality(countries) > 0", name="shipping_methods_has_country"),
    # Quotes look methods up by destination country.
    sa.Index("shipping_methods_by_country", "countries", postgresql_using="gin"),
)

# The tax of a country ('' region) or of one of its regions.
tax_rules = sa.Table(
    "tax_rules",
    metadata,
    sa.Column("country", sa.Text, primary_key=True),
    sa.Column("region", sa.Text, primary_key=True, server_default=""),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("rate_bp", sa.Integer, nullable=False),
    sa.Column("prices_include_tax", sa.Boolean, nullable=False),
    sa.Column("tax_shipping", sa.Boolean, nullable=False),
    sa.Column("exempt_with_tax_id", sa.Boolean, nullable=False),
    _stamp("updated_at"),
    sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name="tax_rules_country_code"),
    sa.CheckConstraint("rate_bp BETWEEN 0 AND 10000", name="tax_rules_rate"),
)


# Sales quotes (request for quote). `status` is as stored: an offered or accepted quote past
# expires_at reads as expired (domain.sales_quotes). Numbers come from a sequence ("Q-000001").
SALES_QUOTE_STATUSES = "('requested', 'offered', 'accepted', 'ordered', 'declined')"
sales_quotes = sa.Table(
    "sales_quotes",
    metadata,
    sa.Column("quote_id", sa.Text, primary_key=True),
    sa.Column("number", sa.Text, nullable=False, unique=True),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("buyer_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("current_version", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("cart_id", sa.Text, nullable=False),
    sa.Column("checkout_id", sa.Text, nullable=False, server_default=""),
    # The buyer's idempotency key and what it asked for: the same key with another basket is refused.
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("request_fingerprint", sa.Text, nullable=False),
    _stamp("created_at"),
    _stamp("updated_at"),
    sa.CheckConstraint(f"status IN {SALES_QUOTE_STATUSES}", name="sales_quotes_status"),
    sa.CheckConstraint(f"currency ~ '{CURRENCY_PATTERN}'", name="sales_quotes_currency_code"),
    sa.CheckConstraint("current_version >= 1", name="sales_quotes_version_positive"),
    sa.CheckConstraint("(status = 'ordered') = (checkout_id <> '')", name="sales_quotes_ordered_by_checkout"),
    sa.CheckConstraint(
        "status NOT IN ('offered', 'accepted', 'ordered') OR expires_at IS NOT NULL", name="sales_quotes_offer_expiry"
    ),
    sa.UniqueConstraint("account_id", "request_id", name="sales_quotes_request_once"),
    sa.Index("sales_quotes_by_account", "account_id", "created_at"),
    sa.Index("sales_quotes_by_status", "status", "created_at"),
)

# Every request, offer and revision: appended, never updated (the lines are a JSON list of
# {"sku", "quantity", "unit_amount"}; unit_amount null for a reference price that did not exist).
sales_quote_versions = sa.Table(
    "sales_quote_versions",
    metadata,
    sa.Column("quote_id", sa.Text, sa.ForeignKey("sales_quotes.quote_id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("author_id", sa.Text, nullable=False),
    sa.Column("author_role", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    _stamp("created_at"),
    sa.CheckConstraint("kind IN ('request', 'offer', 'revision')", name="sales_quote_versions_kind"),
    sa.CheckConstraint("(kind = 'offer') = (expires_at IS NOT NULL)", name="sales_quote_versions_offer_expiry"),
)

# One row per checkout that redeemed (or released) a quote: redemptions are idempotent by checkout
# id, and a release that came first leaves a 'released' row that a late redemption cannot pass.
sales_quote_redemptions = sa.Table(
    "sales_quote_redemptions",
    metadata,
    sa.Column("checkout_id", sa.Text, primary_key=True),
    sa.Column("quote_id", sa.Text, sa.ForeignKey("sales_quotes.quote_id")),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("redeemed_at", sa.DateTime(timezone=True)),
    sa.Column("released_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("status IN ('active', 'released')", name="sales_quote_redemptions_status"),
    sa.CheckConstraint("status = 'released' OR quote_id IS NOT NULL", name="sales_quote_redemptions_active_quote"),
)


def any_of(column: sa.ColumnElement[str], values: Sequence[str]) -> sa.ColumnElement[bool]:
    """`column = ANY(:array)`: one statement text for any number of values (prepared-statement cache)."""
    return column == sa.any_(sa.literal(list(values), ARRAY(sa.Text)))
