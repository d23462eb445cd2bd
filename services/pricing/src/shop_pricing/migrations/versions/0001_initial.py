"""Initial schema: base prices, price lists and tiers, rates, promotions, coupons, dynamic rules, audit log.

Revision ID: 0001
Revises:
Create Date: initial
"""

import sqlalchemy as sa
from alembic import op

from shopkit.outbox import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('base_prices',
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('anchor_amount', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('dynamic_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name='base_prices_currency_code'),
    sa.CheckConstraint('amount >= 0', name='base_prices_amount_not_negative'),
    sa.CheckConstraint('anchor_amount >= 0', name='base_prices_anchor_not_negative'),
    sa.PrimaryKeyConstraint('sku', 'currency')
    )
    op.create_table('currency_rates',
    sa.Column('base_currency', sa.Text(), nullable=False),
    sa.Column('quote_currency', sa.Text(), nullable=False),
    sa.Column('rate', sa.Numeric(precision=24, scale=12), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("base_currency ~ '^[A-Z]{3}$' AND quote_currency ~ '^[A-Z]{3}$'", name='currency_rates_currency_codes'),
    sa.CheckConstraint('base_currency <> quote_currency', name='currency_rates_distinct_pair'),
    sa.CheckConstraint('rate > 0', name='currency_rates_rate_positive'),
    sa.PrimaryKeyConstraint('base_currency', 'quote_currency')
    )
    op.create_table('dynamic_rules',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), server_default='', nullable=False),
    sa.Column('low_stock_threshold', sa.BigInteger(), nullable=True),
    sa.Column('raise_bp', sa.Integer(), server_default='0', nullable=False),
    sa.Column('high_stock_threshold', sa.BigInteger(), nullable=True),
    sa.Column('lower_bp', sa.Integer(), server_default='0', nullable=False),
    sa.Column('floor_bp', sa.Integer(), nullable=False),
    sa.Column('ceiling_bp', sa.Integer(), nullable=False),
    sa.Column('max_step_bp', sa.Integer(), nullable=False),
    sa.Column('cooldown_seconds', sa.Integer(), server_default='0', nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("currency = '' OR currency ~ '^[A-Z]{3}$'", name='dynamic_rules_currency_code'),
    sa.CheckConstraint("id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'", name='dynamic_rules_id_format'),
    sa.CheckConstraint('cooldown_seconds >= 0', name='dynamic_rules_cooldown'),
    sa.CheckConstraint('floor_bp BETWEEN 0 AND 10000 AND ceiling_bp >= 10000', name='dynamic_rules_bounds'),
    sa.CheckConstraint('low_stock_threshold IS NOT NULL OR high_stock_threshold IS NOT NULL', name='dynamic_rules_has_threshold'),
    sa.CheckConstraint('low_stock_threshold IS NULL OR high_stock_threshold IS NULL OR low_stock_threshold <= high_stock_threshold', name='dynamic_rules_threshold_order'),
    sa.CheckConstraint('max_step_bp BETWEEN 1 AND 10000', name='dynamic_rules_step'),
    sa.CheckConstraint('raise_bp BETWEEN 0 AND 100000 AND lower_bp BETWEEN 0 AND 10000', name='dynamic_rules_adjustments'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('price_changes',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('old_amount', sa.BigInteger(), nullable=True),
    sa.Column('new_amount', sa.BigInteger(), nullable=False),
    sa.Column('cause', sa.Text(), nullable=False),
    sa.Column('rule_id', sa.Text(), nullable=True),
    sa.Column('triggering_event_id', sa.Text(), nullable=True),
    sa.Column('total_available', sa.BigInteger(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("cause <> 'dynamic' OR (rule_id IS NOT NULL AND triggering_event_id IS NOT NULL)", name='price_changes_dynamic_has_trigger'),
    sa.CheckConstraint("cause IN ('base_price_set', 'dynamic')", name='price_changes_cause'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('price_changes_by_sku', 'price_changes', ['sku', 'id'], unique=False)
    op.create_table('price_lists',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('account_id', sa.Text(), server_default='', nullable=False),
    sa.Column('customer_group', sa.Text(), server_default='', nullable=False),
    sa.Column('channel', sa.Text(), server_default='', nullable=False),
    sa.Column('country', sa.Text(), server_default='', nullable=False),
    sa.Column('currency', sa.Text(), server_default='', nullable=False),
    sa.Column('priority', sa.Integer(), server_default='0', nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("currency = '' OR currency ~ '^[A-Z]{3}$'", name='price_lists_currency_code'),
    sa.CheckConstraint("id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'", name='price_lists_id_format'),
    sa.CheckConstraint("kind IN ('sale', 'override')", name='price_lists_kind'),
    sa.CheckConstraint('valid_from IS NULL OR valid_to IS NULL OR valid_to > valid_from', name='price_lists_window_order'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('promotions',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('percent_bp', sa.Integer(), server_default='0', nullable=False),
    sa.Column('amount_off', sa.BigInteger(), nullable=True),
    sa.Column('min_spend', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('automatic', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(kind = 'percent' AND percent_bp BETWEEN 1 AND 10000 AND amount_off IS NULL) OR (kind = 'amount' AND percent_bp = 0 AND amount_off > 0 AND currency IS NOT NULL)", name='promotions_discount_shape'),
    sa.CheckConstraint("currency IS NULL OR currency ~ '^[A-Z]{3}$'", name='promotions_currency_code'),
    sa.CheckConstraint("id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'", name='promotions_id_format'),
    sa.CheckConstraint("target IN ('order', 'products')", name='promotions_target'),
    sa.CheckConstraint('min_spend IS NULL OR (min_spend >= 0 AND currency IS NOT NULL)', name='promotions_min_spend'),
    sa.CheckConstraint('valid_from IS NULL OR valid_to IS NULL OR valid_to > valid_from', name='promotions_window_order'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('promotions_automatic_in_force', 'promotions', ['valid_to'], unique=False, postgresql_where=sa.text('automatic AND active'))
    op.create_table('coupons',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('promotion_id', sa.Text(), nullable=False),
    sa.Column('usage_limit_total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('usage_limit_per_customer', sa.Integer(), server_default='0', nullable=False),
    sa.Column('times_used', sa.Integer(), server_default='0', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[A-Z0-9_-]{3,64}$'", name='coupons_code_format'),
    sa.CheckConstraint('times_used >= 0', name='coupons_used_not_negative'),
    sa.CheckConstraint('usage_limit_total = 0 OR times_used <= usage_limit_total', name='coupons_within_limit'),
    sa.CheckConstraint('usage_limit_total >= 0 AND usage_limit_per_customer >= 0', name='coupons_limits'),
    sa.ForeignKeyConstraint(['promotion_id'], ['promotions.id'], ),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_index('coupons_by_promotion', 'coupons', ['promotion_id'], unique=False)
    op.create_table('dynamic_rule_skus',
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('rule_id', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['dynamic_rules.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sku')
    )
    op.create_index('dynamic_rule_skus_by_rule', 'dynamic_rule_skus', ['rule_id'], unique=False)
    op.create_table('price_list_entries',
    sa.Column('price_list_id', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('min_quantity', sa.BigInteger(), nullable=False),
    sa.Column('unit_amount', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name='price_list_entries_currency_code'),
    sa.CheckConstraint('min_quantity >= 1', name='price_list_entries_min_quantity_positive'),
    sa.CheckConstraint('unit_amount >= 0', name='price_list_entries_amount_not_negative'),
    sa.ForeignKeyConstraint(['price_list_id'], ['price_lists.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('price_list_id', 'sku', 'currency', 'min_quantity')
    )
    op.create_index('price_list_entries_by_sku', 'price_list_entries', ['sku', 'currency'], unique=False)
    op.create_table('promotion_skus',
    sa.Column('promotion_id', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['promotion_id'], ['promotions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('promotion_id', 'sku')
    )
    op.create_table('coupon_customer_uses',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('customer_id', sa.Text(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.CheckConstraint('uses >= 0', name='coupon_customer_uses_not_negative'),
    sa.ForeignKeyConstraint(['code'], ['coupons.code'], ),
    sa.PrimaryKeyConstraint('code', 'customer_id')
    )
    op.create_table('coupon_redemptions',
    sa.Column('idempotency_key', sa.Text(), nullable=False),
    sa.Column('code', sa.Text(), nullable=True),
    sa.Column('promotion_id', sa.Text(), nullable=True),
    sa.Column('customer_id', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status = 'released' OR (code IS NOT NULL AND redeemed_at IS NOT NULL)", name='coupon_redemptions_active_has_coupon'),
    sa.CheckConstraint("status IN ('active', 'released')", name='coupon_redemptions_status'),
    sa.ForeignKeyConstraint(['code'], ['coupons.code'], ),
    sa.PrimaryKeyConstraint('idempotency_key')
    )
    op.create_index('coupon_redemptions_by_coupon', 'coupon_redemptions', ['code', 'customer_id'], unique=False)
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
    op.drop_table('coupon_redemptions')
    op.drop_table('coupon_customer_uses')
    op.drop_table('promotion_skus')
    op.drop_table('price_list_entries')
    op.drop_table('dynamic_rule_skus')
    op.drop_table('coupons')
    op.drop_table('promotions')
    op.drop_table('price_lists')
    op.drop_table('price_changes')
    op.drop_table('dynamic_rules')
    op.drop_table('currency_rates')
    op.drop_table('base_prices')
