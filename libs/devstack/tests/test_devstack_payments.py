"""`shop-dev run --payments stripe` (`make run PAYMENTS=stripe`), without starting anything: a fake
Stripe replaces the payment sandbox, and the three services that call the provider get the Stripe
adapter's settings pointing at it; the others get none, and the developer's overrides still win."""

from __future__ import annotations

from shop_devstack.environment import service_environment
from shop_devstack.layout import STRIPE_HTTP_PORT, ServiceSpec, discover_services

OFFSET = 3000


def stripe_stack() -> list[ServiceSpec]:
    return discover_services(OFFSET, "stripe")


def environment(name: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    spec = next(s for s in stripe_stack() if s.name == name)
    return service_environment(
        spec,
        database_url=None,
        nats_url="nats://127.0.0.1:4222",
        port_offset=OFFSET,
        environ=environ or {},
        payments="stripe",
    )


def test_the_fake_stripe_replaces_the_sandbox() -> None:
    names = [s.name for s in stripe_stack()]
    assert "stripe" in names and "sandbox" not in names
    [fake] = [s for s in stripe_stack() if s.name == "stripe"]
    assert (fake.http_port, fake.database, fake.kind, fake.http_scheme) == (
        STRIPE_HTTP_PORT + OFFSET,
        False,
        "http",
        "http",
    )
    assert "sandbox" in [s.name for s in discover_services(OFFSET)]  # the default stack keeps the sandbox


def test_the_provider_s_callers_get_the_stripe_settings() -> None:
    for caller in ("checkout", "order", "customers"):
        env = environment(caller)
        assert env["PAYMENT_PROVIDER"] == "stripe"
        assert env["STRIPE_API_BASE"] == f"http://127.0.0.1:{STRIPE_HTTP_PORT + OFFSET}"
        assert env["STRIPE_SECRET_KEY"].startswith("sk_test_")
    assert "PAYMENT_PROVIDER" not in environment("catalog")
    assert environment("stripe")["HTTP_PORT"] == str(STRIPE_HTTP_PORT + OFFSET)


def test_overrides_still_win() -> None:
    env = environment("checkout", {"SHOP_CHECKOUT_STRIPE_SECRET_KEY": "sk_test_mine"})
    assert env["STRIPE_SECRET_KEY"] == "sk_test_mine"
