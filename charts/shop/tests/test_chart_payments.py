"""paymentProvider.provider: with `stripe` checkout, order and customers get PAYMENT_PROVIDER=stripe and
STRIPE_SECRET_KEY from the Secret named in paymentProvider.stripe.secretKeyRef (never a plain value),
no sandbox URL, and egress to the provider outside the cluster; without the Secret's name the install
fails with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest

from shop_deploycheck.manifests import VALUE_SETS, Render, env_of
from shop_deploycheck.render import render

PAYMENT_CALLERS = ("checkout", "order", "customers")
PRODUCTION = VALUE_SETS["production"]
STRIPE = {
    "paymentProvider": {
        "provider": "stripe",
        "url": "",
        "stripe": {"secretKeyRef": {"name": "shop-stripe", "key": "secret-key"}},
    }
}


def _env(manifests: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [deployment] = [m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == f"shop-{name}"]
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return env_of(container)


def _rendered(files: tuple[Path, ...], values: dict[str, Any]) -> list[dict[str, Any]]:
    return render(files, values=values)


def test_stripe_takes_its_secret_key_from_a_kubernetes_secret() -> None:
    manifests = _rendered(PRODUCTION, STRIPE)
    for name in PAYMENT_CALLERS:
        env = _env(manifests, name)
        assert env["PAYMENT_PROVIDER"]["value"] == "stripe"
        assert env["STRIPE_SECRET_KEY"] == {
            "name": "STRIPE_SECRET_KEY",
            "valueFrom": {"secretKeyRef": {"name": "shop-stripe", "key": "secret-key"}},
        }
        assert "PAYMENT_PROVIDER_URL" not in env and "STRIPE_API_BASE" not in env
    policy = Render("stripe", PRODUCTION, manifests).find("NetworkPolicy", "shop-checkout")
    assert policy is not None
    assert any("ipBlock" in peer for rule in policy["spec"]["egress"] for peer in rule.get("to", []))


def test_the_sandbox_stays_the_default_provider() -> None:
    manifests = _rendered((), {})
    env = _env(manifests, "checkout")
    assert env["PAYMENT_PROVIDER"]["value"] == "sandbox"
    assert env["PAYMENT_PROVIDER_URL"]["value"].startswith("https://shop-sandbox.")
    assert "STRIPE_SECRET_KEY" not in env


def test_stripe_without_the_secret_s_name_fails_the_install() -> None:
    values = {"paymentProvider": {"provider": "stripe", "url": ""}}
    with pytest.raises(helm_python.HelmError, match=r"paymentProvider\.stripe\.secretKeyRef\.name"):
        _rendered(PRODUCTION, values)
