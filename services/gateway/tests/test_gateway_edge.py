"""The gateway's edge: anonymous rate-limit buckets per network (IPv6 by /64), the X-Forwarded-For
chain checked entry by entry, and readiness that tells the public nothing about the backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import REGISTRY

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

STRICT = {"anonymous_rate_limit_per_second": 0.01, "anonymous_rate_limit_burst": 2}


async def statuses(client: Client, forwarded: list[str]) -> list[int]:
    return [
        (await client.http.get("/v1/categories", headers={"X-Forwarded-For": chain})).status_code for chain in forwarded
    ]


async def test_anonymous_ipv6_clients_share_a_bucket_per_64(make_gateway: GatewayFactory) -> None:
    async with make_gateway(forwarded_hops=1, **STRICT) as client:
        same_network = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:DB8:1:2:0::abcd"]
        assert await statuses(client, same_network) == [200, 200, 429]
        assert await statuses(client, ["2001:db8:1:3::1"]) == [200]  # the next /64 is another client
        assert await statuses(client, ["198.51.100.7", "::ffff:198.51.100.7", "198.51.100.7"]) == [200, 200, 429]
        assert await statuses(client, ["198.51.100.8"]) == [200]  # IPv4 stays per address


async def test_forwarded_entries_that_are_not_addresses_end_the_trusted_chain(make_gateway: GatewayFactory) -> None:
    async with make_gateway(forwarded_hops=2, **STRICT) as client:
        # Made-up entries where the client's address should be: each would be a fresh bucket if
        # taken as an address. The chain is trusted up to them only, so all three share one bucket.
        chains = [f"not-an-ip-{n}, 203.0.113.9" for n in range(3)]
        assert await statuses(client, chains) == [200, 200, 429]
        gateway = client.runtime.gateway
        assert gateway.client_ip("10.0.0.1", "198.51.100.1, 203.0.113.9") == "198.51.100.1"
        assert gateway.client_ip("10.0.0.1", "198.51.100.1, garbage") == "10.0.0.1"
        assert gateway.client_ip("10.0.0.1", "198.51.100.1:443, 203.0.113.9") == "203.0.113.9"
        assert gateway.client_ip("10.0.0.1", "2001:DB8::0:1, 203.0.113.9") == "2001:db8::1"
        assert gateway.client_ip("10.0.0.1", "203.0.113.9") == "10.0.0.1"  # shorter than the trusted hops
        assert gateway.client_ip("10.0.0.1", None) == "10.0.0.1"
    async with make_gateway(forwarded_hops=1) as client:
        gateway = client.runtime.gateway
        assert gateway.client_ip("10.0.0.1", "<script>") == "10.0.0.1"
        assert gateway.client_ip("10.0.0.1", "1.2.3.4, 198.51.100.1") == "198.51.100.1"


async def test_readiness_is_a_bare_status_in_public_with_details_on_the_metrics_port(
    gateway: Client, make_gateway: GatewayFactory
) -> None:
    # The shared gateway has cart, checkout, order, fraud, notifications and customers configured but not running.
    response = await gateway.http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready"}
    assert "cart" not in response.text and "catalog" not in response.text
    serving = {"catalog": 1.0, "pricing": 1.0, "inventory": 1.0, "cart": 0.0}
    for backend, value in serving.items():
        assert REGISTRY.get_sample_value("shop_gateway_backend_serving", {"backend": backend}) == value
    async with make_gateway(
        cart_addr="", checkout_addr="", order_addr="", fraud_addr="", notifications_addr="", customers_addr=""
    ) as client:
        response = await client.http.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ready"}
