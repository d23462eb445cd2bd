"""The customers service reads saved cards at the payment provider: PAYMENT_PROVIDER_URL is the
in-cluster sandbox (or paymentProvider.url in production), the sandbox admits its pods, and the
gateway is told where customers is."""

from __future__ import annotations

from typing import Any

from shop_deploycheck.manifests import env_of, render_set


def _env(rendered: Any, name: str) -> dict[str, Any]:
    deployment = rendered.find("Deployment", f"shop-{name}")
    assert deployment is not None, name
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return env_of(container)


def test_customers_reads_cards_at_the_sandbox_and_the_gateway_reaches_it() -> None:
    rendered = render_set("defaults")
    assert _env(rendered, "customers")["PAYMENT_PROVIDER_URL"]["value"].startswith("https://shop-sandbox.")
    assert _env(rendered, "gateway")["CUSTOMERS_ADDR"]["value"].endswith(":50059")
    policy = rendered.find("NetworkPolicy", "shop-sandbox")
    assert policy is not None
    callers = {
        peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in policy["spec"]["ingress"]
        for peer in rule.get("from", [])
    }
    assert {"checkout", "order", "customers"} <= callers


def test_production_reads_cards_at_the_configured_provider() -> None:
    rendered = render_set("production")
    assert _env(rendered, "customers")["PAYMENT_PROVIDER_URL"]["value"] == "https://api.payments.example.com"
