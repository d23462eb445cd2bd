"""The invoice use cases: issuing an invoice order's invoice under the account's credit lock (part of
CreateOrder), reading invoices and an account's credit, and recording payments against invoices."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

from shop.order.v1 import events_pb2
from shop_order import invoice_codec, invoice_store, loading, placing
from shop_order.domain import decisions
from shop_order.domain import invoices as domain
from shop_order.domain.decisions import Decision
from shop_order.domain.invoices import Credit, Invoice, InvoicePayment, InvoiceTerms, PaymentCommand
from shop_order.domain.model import REQUEST_ID_REUSED, Actor
from shopkit.db import Database, DriverConnection
from shopkit.errors import AlreadyExists, NotFound
from shopkit.outbox import OutboxRelay

ISSUED = "shop.order.invoice_issued"
PAID = "shop.order.invoice_paid"


def now() -> datetime:
    return datetime.now(UTC)


def account_credit(credits: list[Credit], account_id: str, currency: str) -> Credit:
    """What an order in `currency` is weighed against: that currency's open balance, and overdue
    invoices in any currency (an account behind on one is behind)."""
    mine = next((c for c in credits if c.currency == currency), Credit(account_id, currency))
    return dataclasses.replace(
        mine,
        overdue_count=sum(c.overdue_count for c in credits),
        overdue_amount=sum(c.overdue_amount for c in credits if c.currency == currency),
    )


async def place(db: Database, decision: Decision, terms: InvoiceTerms) -> Decision | None:
    """CreateOrder for an invoice order: under the account's credit lock, refuse it when the account
    is overdue or would exceed its limit, else insert the order and issue its invoice, in one
    transaction. None when the checkout placed its order before (the caller returns that one)."""
    order = decision.order
    async with db.driver_transaction() as conn:
        await invoice_store.lock_account(conn, order.account_id)
        if await loading.load_order(conn, checkout_id=order.checkout_id) is not None:
            return None
        at = now()
        credits = await invoice_store.credit(conn, order.account_id, at)
        domain.check_credit(
            account_credit(credits, order.account_id, order.currency), order.totals.total, terms.credit_limit
        )
        placed = await placing.insert_order(conn, decision)
        assert placed is not None, "the account lock serialises the checkout's CreateOrder calls"
        invoice = await invoice_store.add(conn, domain.issue(placed.order, terms.terms_days, at))
        event = events_pb2.InvoiceIssued(invoice=invoice_codec.invoice(invoice, at))
        await placing.outbox_writer.add(conn, [(ISSUED, event, order.order_id)])
    return placed


def can_see(invoice: Invoice, actor: Actor) -> bool:
    if actor.role in decisions.READ_ALL_ROLES:
        return True
    return actor.role in decisions.ACCOUNT_ROLES and bool(actor.account_id) and actor.account_id == invoice.account_id


class Invoices:
    def __init__(self, db: Database, relay: OutboxRelay | None):
        self.db = db
        self.relay = relay

    async def get(self, actor: Actor, *, number: str = "", order_id: str = "") -> Invoice:
        async with self.db.driver() as conn:
            invoice = await invoice_store.load(conn, number=number, order_id=order_id)
        if invoice is None or not can_see(invoice, actor):
            raise NotFound("invoice", number or order_id)  # another account's is as unknown as a missing one
        return invoice

    async def of_order(self, order_id: str) -> Invoice | None:
        """An order's invoice for the order's own view (the caller already may see the order)."""
        async with self.db.driver() as conn:
            return await invoice_store.load(conn, order_id=order_id)

    async def of_orders(self, order_ids: list[str]) -> dict[str, Invoice]:
        """The invoices of a page of orders, by order id (the caller already may see the orders)."""
        async with self.db.driver() as conn:
            return await invoice_store.of_orders(conn, order_ids)

    async def page(
        self, account_id: str, statuses: tuple[str, ...], overdue_only: bool, after: int, limit: int
    ) -> list[Invoice]:
        async with self.db.driver() as conn:
            return await invoice_store.page(
                conn,
                account_id=account_id,
                statuses=statuses,
                overdue_only=overdue_only,
                now=now(),
                after=after,
                limit=limit,
            )

    async def credit(self, account_id: str) -> list[Credit]:
        async with self.db.driver() as conn:
            return await invoice_store.credit(conn, account_id, now())

    async def record_payment(
        self, number: str, command: PaymentCommand, actor: Actor
    ) -> tuple[Invoice, InvoicePayment]:
        """Record a payment; the same key again returns the first one (another body: ALREADY_EXISTS)."""
        async with self.db.driver_transaction() as conn:
            invoice = await invoice_store.load(conn, number=number, for_update=True)
            if invoice is None:
                raise NotFound("invoice", number)
            earlier = next((p for p in invoice.payments if p.idempotency_key == command.idempotency_key), None)
            if earlier is not None:
                _check_repeat(invoice, earlier, command)
                return invoice, earlier
            at = now()
            payment = domain.pay(invoice, command, str(uuid.uuid4()), actor, at)
            await invoice_store.add_payment(conn, invoice.number, payment)
            invoice = await self._reload(conn, number)
            if invoice.status is domain.InvoiceStatus.PAID:
                event = events_pb2.InvoicePaid(
                    invoice=invoice_codec.invoice(invoice, at), payment=invoice_codec.payment(payment)
                )
                await placing.outbox_writer.add(conn, [(PAID, event, invoice.order_id)])
        if invoice.status is domain.InvoiceStatus.PAID and self.relay is not None:
            self.relay.wake()
        return invoice, payment

    async def _reload(self, conn: DriverConnection, number: str) -> Invoice:
        invoice = await invoice_store.load(conn, number=number)
        assert invoice is not None
        return invoice


def _check_repeat(invoice: Invoice, earlier: InvoicePayment, command: PaymentCommand) -> None:
    if earlier.fingerprint != command.fingerprint:
        raise AlreadyExists(
            f"idempotency key {command.idempotency_key} recorded another payment on invoice {invoice.number}",
            reason=REQUEST_ID_REUSED,
            metadata={"invoice_number": invoice.number, "payment_id": earlier.payment_id},
        )
