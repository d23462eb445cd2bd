"""An outbox relay process that publishes slowly, so a test can kill it mid-batch (run as a script)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import sqlalchemy as sa

from shopkit import events
from shopkit.db import Database
from shopkit.outbox import OutboxRelay, outbox_table


class SlowRelay(OutboxRelay):
    async def _publish(self, row: Any) -> asyncio.Future[Any]:
        future = await super()._publish(row)
        await future  # the message is in the stream now; the row is not yet marked sent
        await asyncio.sleep(0.02)
        return future


async def main(database_url: str, nats_url: str) -> None:
    db = Database(database_url)
    nc = await events.connect(nats_url, "relay-worker")
    relay = SlowRelay(db, nc.jetstream(), outbox_table(sa.MetaData()), batch_size=40)
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
