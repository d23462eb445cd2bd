"""A running customers service with the real payment sandbox it reads saved cards from, each on a
migrated database of its own, and helpers that call it as a shopper or as the operators' tooling."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TypeVar

import grpc
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2_grpc
from shop_customers.main import build
from shop_customers.settings import CustomersSettings
from shop_sandbox.client import SandboxClient
from shop_sandbox.main import build as build_sandbox
from shop_sandbox.settings import SandboxSettings
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, grpc_address, peer

T = TypeVar("T")
ADMIN = metadata_for("admin")
VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
EXP_YEAR = 2031


def new_customer() -> str:
    return f"cus-{uuid.uuid4().hex[:12]}"


def shopper(customer_id: str, role: str = "customer") -> tuple[tuple[str, str], ...]:
    return metadata_for(role, customer_id)


def address(city: str = "Berlin", **fields: str) -> common_pb2.Address:
    values = {"name": "Ada Lovelace", "line1": "Main St 1", "city": city, "postal_code": "10115", "country": "DE"}
    return common_pb2.Address(**{**values, **fields})


async def failure(call: Awaitable[object]) -> RpcErrorInfo:
    """The error of a call that must fail."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return parse_rpc_error(error)
    raise AssertionError("the call succeeded")


@dataclass
class Stack:
    runtime: Runtime
    stub: customers_pb2_grpc.CustomersServiceAsyncStub
    sandbox: SandboxClient
    nats_url: str
    # The helpers above, for the test modules (conftest is not importable under --import-mode=importlib).
    admin = ADMIN
    new_customer = staticmethod(new_customer)
    shopper = staticmethod(shopper)
    address = staticmethod(address)
    failure = staticmethod(failure)

    async def card(self, number: str = VISA) -> str:
        """A payment method id the provider tokenised (as a shopper's browser gets it)."""
        return (await self.sandbox.tokenise(number, 7, EXP_YEAR, "123", billing_country="DE")).id

    async def count(self, table: str, customer_id: str) -> int:
        engine = create_async_engine(self.runtime.settings.database_url)
        try:
            async with engine.connect() as conn:
                query = sa.text(f"SELECT count(*) FROM {table} WHERE customer_id = :c")  # test tables
                return int((await conn.execute(query, {"c": customer_id})).scalar_one())
        finally:
            await engine.dispose()


@pytest.fixture(scope="module")
async def stack(postgres: Postgres, nats_url: str) -> AsyncIterator[Stack]:
    async with contextlib.AsyncExitStack() as stack:
        sandbox_service = await stack.enter_async_context(
            peer(build_sandbox, SandboxSettings, postgres, nats_url, http_host="127.0.0.1", http_port=0)
        )
        runtime = await stack.enter_async_context(
            peer(build, CustomersSettings, postgres, nats_url, payment_provider_url=sandbox_service.base_url)
        )
        channel = grpc.aio.insecure_channel(grpc_address(runtime))
        stack.push_async_callback(channel.close, None)
        sandbox = SandboxClient(sandbox_service.base_url)
        stack.push_async_callback(sandbox.aclose)
        yield Stack(runtime, customers_pb2_grpc.CustomersServiceStub(channel), sandbox, nats_url)  # type: ignore[no-untyped-call]
