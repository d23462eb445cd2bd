"""A customer's mails: export, and erasure that empties their bodies and addresses once per request
id; after the order is erased too, its later events mail nobody (the address is a pseudonym)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING

from shop.common.v1 import common_pb2
from shopkit.auth import metadata_for
from shopkit.personal_data import pseudonym_email

if TYPE_CHECKING:
    from conftest import Stack

ADMIN = metadata_for("admin")


async def test_erasure_empties_the_mails_and_later_events_mail_nobody(stack: Stack) -> None:
    order = await stack.place()
    customer_id = order.customer_id
    await stack.mails_of(order.order_id, "order_confirmation")
    await stack.recorded(order.order_id)

    export = common_pb2.ExportCustomerDataRequest(customer_id=customer_id)
    document = json.loads((await stack.stub.ExportCustomerData(export, metadata=ADMIN)).document)
    [mail] = document["mails"]
    assert (mail["order_id"], mail["recipient"], mail["kind"]) == (order.order_id, order.email, "order_confirmation")
    assert order.number in mail["text_body"]

    request = common_pb2.EraseCustomerRequest(customer_id=customer_id, request_id=str(uuid.uuid4()))
    erased = await stack.stub.EraseCustomer(request, metadata=metadata_for("customer", customer_id=customer_id))
    assert dict(erased.changed) == {"mails": 1, "pending_mails_given_up": 0}
    repeat = await stack.stub.EraseCustomer(request, metadata=ADMIN)
    assert repeat.repeated and dict(repeat.changed) == dict(erased.changed)
    again = common_pb2.EraseCustomerRequest(customer_id=customer_id, request_id=str(uuid.uuid4()))
    assert dict((await stack.stub.EraseCustomer(again, metadata=ADMIN)).changed)["mails"] == 0

    document = json.loads((await stack.stub.ExportCustomerData(export, metadata=ADMIN)).document)
    [mail] = document["mails"]
    assert (mail["recipient"], mail["subject"], mail["text_body"], mail["html_body"]) == (
        pseudonym_email(customer_id),
        "",
        "",
        "",
    )
    assert mail["status"] == "sent" and len(document["erasures"]) == 2

    # The order service erases its copy: the shipment of the erased order is mailed to nobody.
    await stack.orders.EraseCustomer(again, metadata=ADMIN)
    await stack.fulfil(order)
    await asyncio.sleep(1.0)
    assert stack.catcher.mails(order.order_id, "shipment") == []
    assert [row.kind for row in await stack.rows(order.order_id)] == ["order_confirmation"]
