"""The events the customers service publishes (stream SHOP_CUSTOMERS), staged in the outbox in the
transaction of the change they tell: for consumers to come (search of customers, B2B accounts, the
storefront's caches). Each carries the record as it is after the change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from shop.customers.v1 import events_pb2
from shop_customers import company_mapping, mapping, store
from shop_customers.approvals import mapping as approval_mapping
from shop_customers.approvals.rules import ApprovalRule
from shop_customers.companies import Company, Member
from shop_customers.domain import Profile, SavedAddress, SavedPaymentMethod
from shop_customers.integrations import mapping as integration_mapping
from shop_customers.integrations.domain import IntegrationClient
from shopkit.outbox import add_event

PROFILE_CHANGED = "shop.customers.profile_changed"
ADDRESS_CHANGED = "shop.customers.address_changed"
PAYMENT_METHOD_CHANGED = "shop.customers.payment_method_changed"
COMPANY_CHANGED = "shop.customers.company_changed"
COMPANY_MEMBER_CHANGED = "shop.customers.company_member_changed"
APPROVAL_RULE_CHANGED = "shop.customers.approval_rule_changed"
INTEGRATION_CLIENT_CHANGED = "shop.customers.integration_client_changed"


async def profile_changed(conn: AsyncConnection, value: Profile) -> None:
    message = events_pb2.ProfileChanged(profile=mapping.profile(value))
    await add_event(conn, store.outbox, PROFILE_CHANGED, message, value.customer_id)


async def address_changed(conn: AsyncConnection, value: SavedAddress, *, deleted: bool = False) -> None:
    message = events_pb2.AddressChanged(
        customer_id=value.customer_id, address=mapping.saved_address(value), deleted=deleted
    )
    await add_event(conn, store.outbox, ADDRESS_CHANGED, message, value.customer_id)


async def payment_method_changed(conn: AsyncConnection, value: SavedPaymentMethod, *, deleted: bool = False) -> None:
    message = events_pb2.PaymentMethodChanged(
        customer_id=value.customer_id, payment_method=mapping.payment_method(value), deleted=deleted
    )
    await add_event(conn, store.outbox, PAYMENT_METHOD_CHANGED, message, value.customer_id)


async def company_changed(conn: AsyncConnection, value: Company) -> None:
    message = events_pb2.CompanyChanged(company=company_mapping.company(value))
    await add_event(conn, store.outbox, COMPANY_CHANGED, message, value.account_id)


async def company_member_changed(conn: AsyncConnection, value: Member, currency: str, *, removed: bool = False) -> None:
    message = events_pb2.CompanyMemberChanged(member=company_mapping.member(value, currency), removed=removed)
    await add_event(conn, store.outbox, COMPANY_MEMBER_CHANGED, message, value.account_id)


async def approval_rule_changed(conn: AsyncConnection, value: ApprovalRule, *, deleted: bool = False) -> None:
    message = events_pb2.ApprovalRuleChanged(rule=approval_mapping.rule(value), deleted=deleted)
    await add_event(conn, store.outbox, APPROVAL_RULE_CHANGED, message, value.account_id)


async def integration_client_changed(conn: AsyncConnection, value: IntegrationClient, change: str) -> None:
    message = events_pb2.IntegrationClientChanged(client=integration_mapping.client(value), change=change)
    await add_event(conn, store.outbox, INTEGRATION_CLIENT_CHANGED, message, value.client_id)
