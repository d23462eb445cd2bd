"""The use cases of B2B companies: each owns its transaction, checks who may do it, asks the domain,
writes and stages the events of what changed. Every write locks the company's row first, so a member
never refers to a cost centre that a concurrent update removes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_customers import company_store, events
from shop_customers.approvals import store as approval_store
from shop_customers.companies import (
    Company,
    CompanyChange,
    Member,
    MemberChange,
    NewCompany,
    check_account_id,
    check_limit_currency,
)
from shop_customers.companies import check_user_id as _check_user_id
from shop_customers.domain import check_version
from shop_customers.operations import Clock, utc_now
from shopkit.auth import Caller
from shopkit.db import Database
from shopkit.errors import AlreadyExists, NotFound, PermissionDenied, Violations
from shopkit.identifiers import check_request_id
from shopkit.pagination import decode_token, encode_token, page_size


def _admin(who: Caller) -> None:
    if not who.is_admin:
        raise PermissionDenied("companies are administered by admins", reason="ROLE_REQUIRED")


def _keys(account_id: str, user_id: str | None = None) -> None:
    v = Violations()
    check_account_id(v, account_id)
    if user_id is not None:
        _check_user_id(v, user_id)
    v.raise_if_any()


async def require_manager(conn: AsyncConnection, who: Caller, account_id: str) -> None:
    """An admin, or a company_admin member of this company (signed in to it)."""
    if who.is_admin:
        return
    own = who.account_id == account_id and who.customer_id
    found = await company_store.member(conn, account_id, who.customer_id) if own else None
    if found is None or found[0].role != "company_admin":
        raise PermissionDenied(
            "a company's members and rules are managed by admins and the company's company_admin members",
            reason="COMPANY_ADMIN_REQUIRED",
        )


async def found_company(conn: AsyncConnection, account_id: str, *, lock: bool = False) -> Company:
    found = await company_store.company(conn, account_id, lock=lock)
    if found is None:
        raise NotFound("company", account_id)
    return found[0]


class Companies:
    def __init__(self, db: Database, *, clock: Clock = utc_now):
        self.db = db
        self.clock = clock

    async def _manager(self, conn: AsyncConnection, who: Caller, account_id: str) -> None:
        await require_manager(conn, who, account_id)

    # --- companies ----------------------------------------------------------------------------

    async def create(self, who: Caller, new: NewCompany) -> Company:
        _admin(who)
        new.check()
        async with self.db.transaction() as conn:
            created = await company_store.insert_company(conn, new.company, new.request_id)
            if created is None:
                existing = await company_store.company(conn, new.company.account_id)
                assert existing is not None
                if existing[1] != new.request_id:
                    raise AlreadyExists(f"the account id {new.company.account_id} is taken", reason="ACCOUNT_ID_TAKEN")
                return existing[0]  # the same request again
            await events.company_changed(conn, created)
            return created

    async def update(self, who: Caller, account_id: str, change: CompanyChange, expected_version: int) -> Company:
        _admin(who)
        _keys(account_id)
        change.check()
        async with self.db.transaction() as conn:
            current = await found_company(conn, account_id, lock=True)
            check_version(expected_version, current.version, "company")
            in_use = {m.cost_centre for m in await company_store.members(conn, account_id) if m.cost_centre}
            in_use |= await approval_store.cost_centres_in_use(conn, account_id)
            updated = change.apply(current, in_use, self.clock())
            if updated is current:
                return current
            saved = await company_store.update_company(conn, updated, updated.cost_centres != current.cost_centres)
            await events.company_changed(conn, saved)
            return saved

    async def get(self, who: Caller, account_id: str) -> tuple[Company, list[Member]]:
        _keys(account_id)
        async with self.db.transaction() as conn:
            await self._manager(conn, who, account_id)
            return await found_company(conn, account_id), await company_store.members(conn, account_id)

    async def list(self, who: Caller, size: int, token: str) -> tuple[list[Company], str]:
        _admin(who)
        limit = page_size(size, maximum=100)
        cursor = decode_token(token, "page_token") or {}
        async with self.db.transaction() as conn:
            found = await company_store.list_companies(conn, str(cursor.get("after", "")), limit + 1)
        more = len(found) > limit
        found = found[:limit]
        return found, encode_token({"after": found[-1].account_id}) if more else ""

    # --- members ------------------------------------------------------------------------------

    async def add_member(
        self, who: Caller, request_id: str, new: Member, currencies: Sequence[tuple[str, str]] = ()
    ) -> tuple[Member, str]:
        """Add `new` (and the company's currency); `currencies` are the (field, currency) of its limits,
        which must be the company's."""
        v = Violations()
        check_request_id(v, request_id, "request_id")
        check_account_id(v, new.account_id)
        _check_user_id(v, new.user_id)
        v.raise_if_any()
        async with self.db.transaction() as conn:
            await self._manager(conn, who, new.account_id)
            company = await found_company(conn, new.account_id, lock=True)
            for field, currency in currencies:
                check_limit_currency(v, currency, company, field)
            new.check(company, v)
            v.raise_if_any()
            existing = await company_store.member(conn, new.account_id, new.user_id)
            if existing is not None:
                if existing[1] != request_id:
                    raise AlreadyExists(f"{new.user_id} is a member already", reason="ALREADY_A_MEMBER")
                return existing[0], company.currency  # the same request again
            added = await company_store.insert_member(conn, new, request_id)
            await events.company_member_changed(conn, added, company.currency)
            return added, company.currency

    async def update_member(
        self, who: Caller, account_id: str, user_id: str, change: MemberChange, expected_version: int
    ) -> tuple[Member, str]:
        _keys(account_id, user_id)
        async with self.db.transaction() as conn:
            await self._manager(conn, who, account_id)
            company = await found_company(conn, account_id, lock=True)
            found = await company_store.member(conn, account_id, user_id)
            if found is None:
                raise NotFound("company member", user_id)
            check_version(expected_version, found[0].version, "member")
            updated = change.apply(found[0], company, self.clock())
            if updated is not found[0]:
                updated = await company_store.update_member(conn, updated)
                await events.company_member_changed(conn, updated, company.currency)
            return updated, company.currency

    async def remove_member(self, who: Caller, account_id: str, user_id: str) -> bool:
        _keys(account_id, user_id)
        async with self.db.transaction() as conn:
            await self._manager(conn, who, account_id)
            company = await found_company(conn, account_id, lock=True)
            removed = await company_store.delete_member(conn, account_id, user_id)
            if removed is not None:
                await events.company_member_changed(conn, removed, company.currency, removed=True)
            return removed is not None

    # --- the gateway's read -------------------------------------------------------------------

    async def buying_context(self, who: Caller, user_id: str, account_id: str) -> tuple[Company, Member]:
        """The member's company and membership: for an admin, or for the user themselves."""
        _keys(account_id, user_id)
        if not who.is_admin and (who.customer_id != user_id or who.account_id != account_id):
            raise PermissionDenied("a user reads their own buying context alone", reason="NOT_OWN_ACCOUNT")
        async with self.db.connect() as conn:
            found = await company_store.company(conn, account_id, with_centres=False)
            member = await company_store.member(conn, account_id, user_id) if found is not None else None
        if found is None or member is None:
            missing = NotFound("company member", user_id)
            missing.reason = "NOT_A_MEMBER"  # the gateway answers 403 to it
            raise missing
        return replace(found[0], cost_centres=()), member[0]
