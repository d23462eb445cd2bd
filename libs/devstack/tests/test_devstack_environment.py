"""The environment the launcher gives each process, without starting any: the payment sandbox serves
HTTPS with its certificate and its probes on a plain-HTTP health port, and the URL its callers get
follows whether the stack's processes have their certificates; the developer's overrides still win."""

from __future__ import annotations

from pathlib import Path

from shop_devstack.components import probe_for
from shop_devstack.environment import service_environment
from shop_devstack.health import HttpHealthProbe
from shop_devstack.layout import SANDBOX_HEALTH_PORT, SANDBOX_HTTP_PORT, ServiceSpec, discover_services

OFFSET = 2000


def spec(name: str) -> ServiceSpec:
    return next(s for s in discover_services(OFFSET) if s.name == name)


def tls_files(name: str) -> dict[str, str]:
    folder = Path("/data/pki")
    return {
        "TLS_CERT_FILE": str(folder / f"{name}.pem"),
        "TLS_KEY_FILE": str(folder / f"{name}-key.pem"),
        "TLS_CA_FILE": str(folder / "ca.pem"),
    }


def environment(name: str, *, tls: bool = True, environ: dict[str, str] | None = None) -> dict[str, str]:
    return service_environment(
        spec(name),
        database_url=None,
        nats_url="nats://127.0.0.1:4222",
        port_offset=OFFSET,
        tls_files=tls_files(name) if tls else None,
        environ=environ or {},
    )


def test_the_sandbox_gets_its_certificate_and_a_health_port() -> None:
    env = environment("sandbox")
    assert env["HTTP_PORT"] == str(SANDBOX_HTTP_PORT + OFFSET)
    assert env["HEALTH_PORT"] == str(SANDBOX_HEALTH_PORT + OFFSET)
    assert env["TLS_CERT_FILE"] == "/data/pki/sandbox.pem"


def test_its_callers_get_an_https_url_when_the_stack_has_certificates() -> None:
    for caller in ("checkout", "order"):
        assert environment(caller)["PAYMENT_PROVIDER_URL"] == f"https://127.0.0.1:{SANDBOX_HTTP_PORT + OFFSET}"
        plain = environment(caller, tls=False)["PAYMENT_PROVIDER_URL"]
        assert plain == f"http://127.0.0.1:{SANDBOX_HTTP_PORT + OFFSET}"
    # The gateway's own HTTP port stays plain text: its issuer URL keeps http.
    assert environment("gateway")["JWT_ISSUER"].startswith("http://127.0.0.1:")


def test_overrides_still_win() -> None:
    overrides = {
        "SHOP_SANDBOX_SANDBOX_LATENCY_MS": "200",
        "SHOP_SANDBOX_HEALTH_PORT": "9999",
    }
    env = environment("sandbox", environ=overrides)
    assert (env["SANDBOX_LATENCY_MS"], env["HEALTH_PORT"]) == ("200", "9999")
    elsewhere = {"SHOP_CHECKOUT_PAYMENT_PROVIDER_URL": "https://psp.example.com"}
    assert environment("checkout", environ=elsewhere)["PAYMENT_PROVIDER_URL"] == "https://psp.example.com"


def test_the_sandbox_is_probed_on_its_health_port_and_shown_as_https() -> None:
    sandbox = spec("sandbox")
    probe = probe_for(sandbox, None)
    assert isinstance(probe, HttpHealthProbe) and probe.port == SANDBOX_HEALTH_PORT + OFFSET
    assert (SANDBOX_HEALTH_PORT + OFFSET, "sandbox health") in sandbox.ports  # checked free at start
    assert sandbox.address == (
        f"https://localhost:{SANDBOX_HTTP_PORT + OFFSET}, health http://localhost:{SANDBOX_HEALTH_PORT + OFFSET}"
    )
    gateway = spec("gateway")
    assert gateway.address.startswith("http://localhost:")
    gateway_probe = probe_for(gateway, None)
    assert isinstance(gateway_probe, HttpHealthProbe) and gateway_probe.port == gateway.http_port
