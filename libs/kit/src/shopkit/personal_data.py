"""A customer's personal data: the parts of export and erasure every service shares.

Each service that holds data about a signed-in customer (the token subject) answers
`ExportCustomerData` and `EraseCustomer` (messages in shop.common.v1). What it exports and how it
erases is its own (a `PersonalData` port in its `personal_data` module); this module holds the edge
(validation, who may ask), the erasure log that makes `EraseCustomer` idempotent by request id,
the pseudonyms and the JSON document of an export. The rules are in docs/architecture.md
"Personal data".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

import grpc
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import common_pb2
from shopkit.auth import caller
from shopkit.db import Database
from shopkit.errors import PermissionDenied, Violations
from shopkit.identifiers import check_request_id
from shopkit.outbox import OutboxRelay, add_event

MAX_CUSTOMER_ID = 128
ERASED_PREFIX = "erased-"
# A reserved top-level domain (RFC 2606): a pseudonymised e-mail stays well-formed for code that
# checks addresses, and no mail to it is ever sent (notifications skips it).
ERASED_MAIL_DOMAIN = "erased.invalid"

Context = grpc.aio.ServicerContext[Any, Any]
Records = list[dict[str, Any]]
Changes = dict[str, int]


def pseudonym(customer_id: str) -> str:
    """`erased-<hash>`: the same for all of one customer's records (an accountant still sees that two
    orders had one buyer) and not the customer id itself; the hash is one-way."""
    return ERASED_PREFIX + hashlib.sha256(f"shop-erased:{customer_id}".encode()).hexdigest()[:16]


def pseudonym_email(customer_id: str) -> str:
    return f"{pseudonym(customer_id)}@{ERASED_MAIL_DOMAIN}"


def is_erased_email(address: str) -> bool:
    return address.lower().endswith("@" + ERASED_MAIL_DOMAIN)


def keyed_hash(key: str, value: str) -> str:
    """A keyed one-way hash (HMAC-SHA-256) of a value that counters keep in place of the value."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


# --- the erasure log -----------------------------------------------------------------------------


def erasures_table(metadata: sa.MetaData) -> sa.Table:
    """One row per erasure request: what it changed. A repeat of the request answers this row; the
    row also records that the customer was erased (the customer id is a token subject, not a name)."""
    return sa.Table(
        "customer_erasures",
        metadata,
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("changed", JSONB, nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        # Named as every service's naming convention would name it, whichever metadata creates it.
        sa.Index("customer_erasures_customer_id_idx", "customer_id"),
    )


def create_erasures_table(op: Any) -> None:
    """For a service's alembic migration."""
    metadata = sa.MetaData()
    erasures_table(metadata).create(op.get_bind())


@dataclass(frozen=True)
class Erasure:
    changed: Changes
    repeated: bool = False


Erase = Callable[[AsyncConnection, str], Awaitable[Changes]]


async def erase_once(
    db: Database,
    erasures: sa.Table,
    outbox: sa.Table,
    service: str,
    customer_id: str,
    request_id: str,
    erase: Erase,
) -> Erasure:
    """Run `erase` and log it in one transaction, once per request id; stage the customer_erased event.

    The log row is inserted first (ON CONFLICT DO NOTHING): of two concurrent repeats one inserts and
    erases, the other waits on the row and then reads the first one's outcome.
    """
    async with db.transaction() as conn:
        inserted = await conn.execute(
            insert(erasures)
            .values(request_id=request_id, customer_id=customer_id, changed={})
            .on_conflict_do_nothing()
            .returning(erasures.c.request_id)
        )
        if inserted.first() is None:
            row = (
                await conn.execute(
                    sa.select(erasures.c.customer_id, erasures.c.changed).where(erasures.c.request_id == request_id)
                )
            ).one()
            if row.customer_id != customer_id:
                v = Violations()
                v.add("request_id", "was used for the erasure of another customer")
                v.raise_if_any()
            return Erasure(dict(row.changed), repeated=True)
        changed = await erase(conn, customer_id)
        await conn.execute(sa.update(erasures).where(erasures.c.request_id == request_id).values(changed=changed))
        event = common_pb2.CustomerErased(
            customer_id=customer_id, request_id=request_id, service=service, changed=changed
        )
        await add_event(conn, outbox, f"shop.{service}.customer_erased", event, customer_id)
    return Erasure(changed)


class ServicePersonalData:
    """The common part of a service's `PersonalData`: a subclass names its service and tables, and
    says what it exports (`export`) and what an erasure changes in the transaction (`erase_in`)."""

    service: str
    erasures: sa.Table
    outbox: sa.Table

    def __init__(self, db: Database, relay: OutboxRelay | None):
        self.db, self.relay = db, relay

    async def export(self, customer_id: str) -> Mapping[str, Any]:
        raise NotImplementedError

    async def erase_in(self, conn: AsyncConnection, customer_id: str) -> Changes:
        raise NotImplementedError

    async def erase(self, customer_id: str, request_id: str) -> Erasure:
        erasure = await erase_once(
            self.db, self.erasures, self.outbox, self.service, customer_id, request_id, self.erase_in
        )
        if self.relay is not None and not erasure.repeated:
            self.relay.wake()  # the customer_erased event goes now, not at the relay's next poll
        return erasure

    async def log(self, conn: AsyncConnection, customer_id: str) -> Records:
        """The customer's erasures, for the export: a customer sees that (and when) they were erased."""
        return await erasure_log(conn, self.erasures, customer_id)


async def erasure_log(conn: AsyncConnection, erasures: sa.Table, customer_id: str) -> Records:
    rows = await conn.execute(sa.select(erasures).where(erasures.c.customer_id == customer_id))
    return records(rows)


# --- the export document ------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def records(result: sa.Result[Any] | sa.CursorResult[Any], *, leave_out: tuple[str, ...] = ()) -> Records:
    """The rows of a query as JSON-ready dicts, without the columns named in `leave_out`."""
    return [{k: _plain(v) for k, v in row._mapping.items() if k not in leave_out} for row in result]


def document(sections: Mapping[str, Any]) -> bytes:
    return json.dumps(_plain(dict(sections)), sort_keys=True, separators=(",", ":")).encode()


# --- the edge --------------------------------------------------------------------------------------


class PersonalData(Protocol):
    service: str

    async def export(self, customer_id: str) -> Mapping[str, Any]: ...

    async def erase(self, customer_id: str, request_id: str) -> Erasure: ...


def _check_customer(v: Violations, customer_id: str) -> None:
    v.check(
        0 < len(customer_id) <= MAX_CUSTOMER_ID and customer_id == customer_id.strip(),
        "customer_id",
        f"is required: at most {MAX_CUSTOMER_ID} characters, without surrounding spaces",
    )


def _check_allowed(context: Context, customer_id: str) -> None:
    """The person themselves (a customer or a B2B buyer: the token's subject), or an admin (support, on
    a customer's request)."""
    who = caller(context)
    if who.is_admin or (bool(who.customer_id) and who.customer_id == customer_id):
        return
    raise PermissionDenied(
        "only the customer themselves or an admin may export or erase a customer's data",
        reason="NOT_DATA_SUBJECT",
        metadata={"role": who.role or "anonymous"},
    )


class PersonalDataRpcs:
    """Mixed into a service's servicer; the composition root sets `personal_data`."""

    personal_data: PersonalData

    async def ExportCustomerData(
        self, request: common_pb2.ExportCustomerDataRequest, context: Context
    ) -> common_pb2.ExportCustomerDataResponse:
        v = Violations()
        _check_customer(v, request.customer_id)
        v.raise_if_any()
        _check_allowed(context, request.customer_id)
        sections = await self.personal_data.export(request.customer_id)
        return common_pb2.ExportCustomerDataResponse(service=self.personal_data.service, document=document(sections))

    async def EraseCustomer(
        self, request: common_pb2.EraseCustomerRequest, context: Context
    ) -> common_pb2.EraseCustomerResponse:
        v = Violations()
        _check_customer(v, request.customer_id)
        check_request_id(v, request.request_id, "request_id")
        v.raise_if_any()
        _check_allowed(context, request.customer_id)
        erasure = await self.personal_data.erase(request.customer_id, request.request_id)
        return common_pb2.EraseCustomerResponse(
            service=self.personal_data.service, changed=erasure.changed, repeated=erasure.repeated
        )


# --- pseudonymising records ------------------------------------------------------------------------

# What identifies a person in an address. Country, region, postal code and city stay: tax is decided
# on them (US sales tax by state, EU VAT by country) and they are kept with the invoice.
ADDRESS_PERSONAL_FIELDS = ("name", "first_name", "last_name", "company", "line1", "line2", "phone")


def pseudonymise_address(address: Mapping[str, Any] | None, customer_id: str) -> dict[str, Any] | None:
    """An address (a dict of its fields) with its personal fields replaced; empty fields stay empty."""
    if address is None:
        return None
    alias = pseudonym(customer_id)
    return {k: (alias if k in ADDRESS_PERSONAL_FIELDS and v else v) for k, v in address.items()}
