"""The customers service's tables (SQLAlchemy Core).

`customers` holds one row per customer (the subject of their tokens), created on their first write;
every write locks it first, which serialises one customer's changes (the address limit, the single
default shipping and billing address) without locking anyone else.

`companies` holds the B2B accounts (keyed by the account id tokens name), with their cost centres and
members (user ids: the subjects of tokens, not necessarily customers with a profile row). Every write
to a company locks its row first, as for customers.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from shopkit.outbox import inbox_table, outbox_table
from shopkit.personal_data import erasures_table

metadata = sa.MetaData(
    naming_convention={
        "pk": "%(table_name)s_pkey",
        "fk": "%(table_name)s_%(column_0_name)s_fkey",
        "ck": "%(table_name)s_%(constraint_name)s_check",
        "uq": "%(table_name)s_%(column_0_name)s_key",
        "ix": "%(table_name)s_%(column_0_name)s_idx",
    }
)


def _times() -> list[sa.Column[datetime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


customers = sa.Table(
    "customers",
    metadata,
    sa.Column("customer_id", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False, server_default=""),
    sa.Column("email", sa.Text, nullable=False, server_default=""),
    sa.Column("phone", sa.Text, nullable=False, server_default=""),
    sa.Column("locale", sa.Text, nullable=False, server_default=""),
    sa.Column("currency", sa.Text, nullable=False, server_default=""),
    sa.Column("country", sa.Text, nullable=False, server_default=""),
    sa.Column("marketing_consent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("marketing_consent_at", sa.DateTime(timezone=True)),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    *_times(),
)

addresses = sa.Table(
    "addresses",
    metadata,
    sa.Column("address_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", sa.Text, sa.ForeignKey("customers.customer_id", ondelete="CASCADE"), nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False, server_default=""),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("line1", sa.Text, nullable=False),
    sa.Column("line2", sa.Text, nullable=False, server_default=""),
    sa.Column("city", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False, server_default=""),
    sa.Column("postal_code", sa.Text, nullable=False, server_default=""),
    sa.Column("country", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=False, server_default=""),
    sa.Column("default_shipping", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("default_billing", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    *_times(),
    sa.UniqueConstraint("customer_id", "request_id", name="addresses_request_key"),
    sa.Index("addresses_customer_idx", "customer_id", "created_at"),
    # One default of each kind per customer, whatever the code does.
    sa.Index(
        "addresses_default_shipping_key", "customer_id", unique=True, postgresql_where=sa.text("default_shipping")
    ),
    sa.Index("addresses_default_billing_key", "customer_id", unique=True, postgresql_where=sa.text("default_billing")),
)

payment_methods = sa.Table(
    "payment_methods",
    metadata,
    sa.Column("payment_method_id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, sa.ForeignKey("customers.customer_id", ondelete="CASCADE"), nullable=False),
    sa.Column("brand", sa.Text, nullable=False),
    sa.Column("last4", sa.Text, nullable=False),
    sa.Column("exp_month", sa.Integer, nullable=False),
    sa.Column("exp_year", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("last4 ~ '^[0-9]{4}$'", name="last4"),
    sa.Index("payment_methods_customer_idx", "customer_id", "created_at"),
)

companies = sa.Table(
    "companies",
    metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("tax_id", sa.Text, nullable=False, server_default=""),
    sa.Column("payment_terms_days", sa.Integer, nullable=False, server_default="0"),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("credit_limit", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    *_times(),
    sa.CheckConstraint("status IN ('active', 'suspended')", name="status"),
    sa.CheckConstraint("credit_limit >= 0 AND payment_terms_days >= 0", name="amounts"),
)

cost_centres = sa.Table(
    "cost_centres",
    metadata,
    sa.Column("account_id", sa.Text, sa.ForeignKey("companies.account_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
)

company_members = sa.Table(
    "company_members",
    metadata,
    sa.Column("account_id", sa.Text, sa.ForeignKey("companies.account_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("cost_centre", sa.Text, nullable=False, server_default=""),
    # Limits in the company's currency; NULL: none.
    sa.Column("order_limit", sa.BigInteger),
    sa.Column("period_limit", sa.BigInteger),
    sa.Column("limit_period", sa.Text, nullable=False, server_default=""),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    *_times(),
    sa.CheckConstraint("role IN ('buyer', 'approver', 'company_admin')", name="role"),
    sa.CheckConstraint("limit_period IN ('', 'day', 'week', 'month')", name="limit_period"),
    sa.Index("company_members_user_idx", "user_id"),
)

outbox = outbox_table(metadata)
customer_erasures = erasures_table(metadata)
inbox = inbox_table(metadata)
