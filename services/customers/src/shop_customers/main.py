"""Composition root of the customers service: `shop-customers serve | migrate | settings`."""

from __future__ import annotations

from pathlib import Path

from shop.customers.v1 import customers_pb2, customers_pb2_grpc, integration_clients_pb2, integration_clients_pb2_grpc
from shop_customers import access, store
from shop_customers.api import CustomersServicer
from shop_customers.approvals.operations import ApprovalRules
from shop_customers.company_operations import Companies
from shop_customers.integrations import access as integration_access
from shop_customers.integrations.api import IntegrationClientsServicer
from shop_customers.integrations.operations import IntegrationClients
from shop_customers.operations import Clock, Customers, utc_now
from shop_customers.payments import Payments
from shop_customers.personal_data import CustomersPersonalData
from shop_customers.settings import CustomersSettings
from shopkit.cli import service_cli
from shopkit.runtime import Runtime, open_runtime


async def build(settings: CustomersSettings, *, clock: Clock = utc_now) -> Runtime:
    runtime = await open_runtime("customers", settings, outbox=store.outbox)
    payments = Payments.from_settings(settings)
    runtime.service.on_stop(payments.close)
    servicer = CustomersServicer(
        Customers(runtime.db, payments, clock=clock), Companies(runtime.db, clock=clock), ApprovalRules(runtime.db)
    )
    servicer.personal_data = CustomersPersonalData(runtime.db, runtime.relay)
    runtime.service.add_servicer(
        customers_pb2_grpc.add_CustomersServiceServicer_to_server,
        servicer,
        customers_pb2.DESCRIPTOR.services_by_name["CustomersService"].full_name,
        access.CALLERS,
    )
    runtime.service.add_servicer(
        integration_clients_pb2_grpc.add_IntegrationClientsServiceServicer_to_server,
        IntegrationClientsServicer(IntegrationClients(runtime.db, clock=clock)),
        integration_clients_pb2.DESCRIPTOR.services_by_name["IntegrationClientsService"].full_name,
        integration_access.CALLERS,
    )
    return runtime


async def serve(settings: CustomersSettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("customers", CustomersSettings, serve, Path(__file__).parent / "migrations")
