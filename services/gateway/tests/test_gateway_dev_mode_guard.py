"""The built-in token issuer (dev mode) signs a token for anyone who asks, so the gateway refuses it
unless nobody else can ask: it binds loopback only, or the operator states the network is local."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shop_gateway.settings import GatewaySettings

# Every way the environment can turn dev mode on: the alias, the field name, any case, any truthy spelling.
DEV_MODE_KEYS = ("GATEWAY_DEV_MODE", "gateway_dev_mode", "Gateway_Dev_Mode", "DEV_MODE", "dev_mode")
TRUTHY = ("true", "True", "TRUE", "1", "yes", "on")
HOST_VARIABLES = ("HTTP_HOST", "GRPC_HOST", "GATEWAY_DEV_MODE_LOCAL_ONLY", "DEV_MODE_LOCAL_ONLY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*DEV_MODE_KEYS, *HOST_VARIABLES):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("key", DEV_MODE_KEYS)
@pytest.mark.parametrize("value", TRUTHY)
def test_dev_mode_on_a_public_address_is_refused_whatever_the_spelling(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match="GATEWAY_DEV_MODE") as refused:
        GatewaySettings()
    assert "0.0.0.0" in str(refused.value)  # says which address exposes the issuer


@pytest.mark.parametrize("key", DEV_MODE_KEYS)
def test_the_same_spellings_turn_dev_mode_on_at_loopback(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """The guard above is not vacuous: each of these keys really turns the issuer on."""
    monkeypatch.setenv(key, "yes")
    monkeypatch.setenv("HTTP_HOST", "127.0.0.1")
    monkeypatch.setenv("GRPC_HOST", "127.0.0.1")
    assert GatewaySettings().dev_mode is True


@pytest.mark.parametrize(
    ("http_host", "grpc_host"),
    [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "0.0.0.0"), ("::", "::1"), ("10.1.2.3", "127.0.0.1"), ("", "127.0.0.1")],
)
def test_either_server_on_a_public_address_is_refused(http_host: str, grpc_host: str) -> None:
    with pytest.raises(ValidationError, match="GATEWAY_DEV_MODE_LOCAL_ONLY"):
        GatewaySettings(dev_mode=True, http_host=http_host, grpc_host=grpc_host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"])
def test_dev_mode_at_loopback_is_allowed(host: str) -> None:
    settings = GatewaySettings(dev_mode=True, http_host=host, grpc_host=host)
    assert settings.dev_mode is True


@pytest.mark.parametrize("key", ["GATEWAY_DEV_MODE_LOCAL_ONLY", "gateway_dev_mode_local_only", "DEV_MODE_LOCAL_ONLY"])
def test_the_local_only_flag_allows_dev_mode_on_any_address(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("GATEWAY_DEV_MODE", "true")
    monkeypatch.setenv(key, "true")
    settings = GatewaySettings()
    assert settings.dev_mode is True and settings.http_host == "0.0.0.0"


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off"])
def test_dev_mode_off_needs_no_flag(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("GATEWAY_DEV_MODE", value)
    assert GatewaySettings().dev_mode is False
