"""Requests that would queue for the same row locks, applied together in one transaction.

On a hot SKU every Reserve waits for the SKU row's lock, which each transaction holds across several
round trips. So while a transaction of a key is in flight, later requests of that key wait here
instead; when it ends they go as one group: one transaction, one lock, one plan in arrival order.
Each request still gets its own answer. A group that fails as a whole (a database error, not a
request's own refusal) is retried one request at a time, so one request cannot fail the others.

The groups of one key run one after another, each in a task of its own that carries the context
(trace) of the group's first request; its span links the spans of the other requests.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeAlias, TypeVar

from opentelemetry import trace

from shopkit import tracing

Item = TypeVar("Item")
Result = TypeVar("Result")


class Again:
    """The outcome of a request that must go in the next group (it repeats an id of this group)."""


AGAIN = Again()

Outcome: TypeAlias = Result | Exception | Again
GroupRun: TypeAlias = Callable[[Sequence[Item]], Awaitable[list[Outcome[Result]]]]

MAX_GROUP = 256  # bounds the statement parameters of one group


@dataclass(slots=True)
class _Waiter(Generic[Item, Result]):
    item: Item
    answer: asyncio.Future[Result]
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    span: trace.SpanContext = field(default_factory=lambda: trace.get_current_span().get_span_context())


class Groups(Generic[Item, Result]):
    """Runs the requests of each key in groups, one group of a key at a time."""

    def __init__(self, name: str, run: GroupRun[Item, Result]):
        self.name = name
        self._run = run
        self._waiting: dict[Hashable, list[_Waiter[Item, Result]]] = {}  # a key is here while it runs
        self._tasks: set[asyncio.Task[None]] = set()
        self._tracer = tracing.tracer("shop_inventory.grouping")
        self.groups = 0  # groups run, for tests and metrics

    async def submit(self, key: Hashable, item: Item) -> Result:
        waiter: _Waiter[Item, Result] = _Waiter(item, asyncio.get_running_loop().create_future())
        queue = self._waiting.get(key)
        if queue is None:
            self._waiting[key] = []
            self._start(key, [waiter])
        else:
            queue.append(waiter)
        return await waiter.answer

    def _start(self, key: Hashable, group: list[_Waiter[Item, Result]]) -> None:
        task = asyncio.create_task(self._drive(key, group), context=group[0].context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive(self, key: Hashable, group: list[_Waiter[Item, Result]]) -> None:
        again: list[_Waiter[Item, Result]] = []
        try:
            outcomes = await self._outcomes(group)
            for waiter, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, Again):
                    again.append(waiter)
                elif waiter.answer.done():  # its caller went away
                    continue
                elif isinstance(outcome, Exception):
                    waiter.answer.set_exception(outcome)
                else:
                    waiter.answer.set_result(outcome)
        except BaseException:  # cancelled (shutdown): nobody will run the waiting requests
            for waiter in [*group, *self._waiting.pop(key, [])]:
                waiter.answer.cancel()
            raise
        waiting = [w for w in [*again, *self._waiting[key]] if not w.answer.done()]
        if not waiting:
            del self._waiting[key]
            return
        self._waiting[key] = waiting[MAX_GROUP:]
        self._start(key, waiting[:MAX_GROUP])

    async def _outcomes(self, group: list[_Waiter[Item, Result]]) -> list[Outcome[Result]]:
        self.groups += 1
        links = [trace.Link(w.span) for w in group[1:] if w.span.is_valid]
        with self._tracer.start_as_current_span(self.name, links=links, attributes={"shop.group.size": len(group)}):
            try:
                return await self._run([w.item for w in group])
            except Exception as error:
                if len(group) == 1:
                    return [error]
        # The group failed as a whole: each request alone, so that only the one at fault fails.
        outcomes: list[Outcome[Result]] = []
        for waiter in group:
            try:
                outcomes.extend(await self._run([waiter.item]))
            except Exception as error:
                outcomes.append(error)
        return outcomes
