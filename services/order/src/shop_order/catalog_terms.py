"""What the catalog says about returning products: whether each is returnable and its return window
(catalog's BatchGetVariants, read at the moment a return is requested or inspected)."""

from __future__ import annotations

from collections.abc import Iterable

import grpc

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop_order.domain.returns import ProductTerms
from shopkit.auth import metadata_for
from shopkit.clients import make_channel
from shopkit.errors import Unavailable
from shopkit.tls import Tls

SERVICE = metadata_for("service")
CATALOG_UNAVAILABLE = "CATALOG_UNAVAILABLE"


class CatalogTerms:
    def __init__(self, catalog_addr: str, timeout: float, tls: Tls | None = None):
        self.channel = make_channel(
            catalog_addr, [catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]], default_timeout=timeout, tls=tls
        )
        self.stub = catalog_pb2_grpc.CatalogServiceStub(self.channel)  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self.channel.close(grace=None)

    async def terms(self, skus: Iterable[str]) -> dict[str, ProductTerms]:
        """SKU -> its product's return terms; SKUs the catalog does not know are left out (they get
        the defaults: returnable within 30 days)."""
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        try:
            response = await self.stub.BatchGetVariants(
                catalog_pb2.BatchGetVariantsRequest(skus=wanted), metadata=SERVICE
            )
        except grpc.aio.AioRpcError as error:
            raise Unavailable(
                f"the catalog could not say whether these products may be returned: {error.code().name}",
                reason=CATALOG_UNAVAILABLE,
            ) from error
        return {
            view.variant.sku: ProductTerms(
                returnable=view.returnable,
                window_days=view.return_window_days,
                product_id=view.product_id,
                name=view.variant.title or view.product_name,
            )
            for view in response.variants
        }
