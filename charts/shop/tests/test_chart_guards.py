"""What the chart refuses to install: the gateway's dev token issuer anywhere but a local cluster
(whatever the spelling that turns it on), a dev issuer whose replicas would sign with different
keys, and staging or production with the services' public default secrets."""

from __future__ import annotations

import copy
from typing import Any

import helm_python
import pytest

from shop_deploycheck.manifests import VALUE_SETS, Manifest, Render, env_of, render_set
from shop_deploycheck.render import load_values, render
from shop_fraud.settings import FraudSettings
from shop_gateway.settings import GatewaySettings
from shop_gateway.tokens import DEV_KEY_FILE
from shop_sandbox.settings import SandboxSettings

# The names the gateway reads dev mode (and its local-only flag) from: alias and field name.
DEV_MODE_KEYS = ("GATEWAY_DEV_MODE", "DEV_MODE", "GATEWAY_DEV_MODE_LOCAL_ONLY", "DEV_MODE_LOCAL_ONLY")
DEV_ISSUER: dict[str, Any] = {"gateway": {"devIssuer": {"enabled": True}}}
SIGNING_KEY = {"name": "shop-dev-issuer", "key": "private-key.pem"}
ORDER_ACCESS = {"secretName": "shop-gateway-orders", "key": "order-access"}
# Every way to run more than one gateway pod: replicas, either autoscaler, a canary.
SEVERAL_GATEWAY_PODS: list[dict[str, Any]] = [
    {"replicas": 2},
    {"autoscaling": {"mode": "hpa"}},
    {"autoscaling": {"mode": "keda"}},
    {"replicas": 2, "canary": {"enabled": True}},
]
PUBLIC_DEFAULTS = {
    ("fraud", "COUNTER_KEY_SECRET"): str(FraudSettings.model_fields["counter_key_secret"].default),
    ("sandbox", "SANDBOX_FINGERPRINT_KEY"): str(SandboxSettings.model_fields["sandbox_fingerprint_key"].default),
}


def gateway(manifests: list[Manifest]) -> Manifest:
    found = [m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"].endswith("-gateway")]
    assert len(found) == 1
    return found[0]


def gateway_env(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    return env_of(gateway(manifests)["spec"]["template"]["spec"]["containers"][0])


def dev_mode_entries(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {name: entry for name, entry in gateway_env(manifests).items() if name.upper() in DEV_MODE_KEYS}


def production_like(environment: str) -> dict[str, Any]:
    """Values that install cleanly in staging or production (the production set, sandbox as staging has it)."""
    values = copy.deepcopy(load_values(VALUE_SETS["production"]))
    values["environment"] = environment
    if environment != "production":
        values["services"]["sandbox"] = {
            "secretEnv": {"SANDBOX_FINGERPRINT_KEY": {"secretName": "shop-sandbox", "key": "fingerprint-key"}}
        }
    return values


def refused(values: dict[str, Any], match: str) -> None:
    with pytest.raises(helm_python.HelmError, match=match):
        render(values=values)


# --- finding: the dev token issuer ----------------------------------------------------------------


def test_the_dev_issuer_is_off_by_default() -> None:
    assert dev_mode_entries(render_set("defaults").manifests) == {}


@pytest.mark.parametrize("value_set", [name for name in VALUE_SETS if name != "keda"])
def test_only_the_load_test_values_turn_the_dev_issuer_on(value_set: str) -> None:
    """Staging (external) and production verify tokens of a real issuer; nothing else issues its own."""
    rendered = render_set(value_set)
    assert dev_mode_entries(rendered.manifests) == {}, value_set
    if load_values(VALUE_SETS[value_set]).get("environment", "development") != "development":
        assert "JWKS_URL" in gateway_env(rendered.manifests), value_set


@pytest.mark.parametrize("key", DEV_MODE_KEYS)
@pytest.mark.parametrize("value", ["true", "True", "1", "yes", "on", " TRUE "])
@pytest.mark.parametrize("environment", ["development", "staging", "production"])
def test_dev_mode_in_plain_env_is_refused_whatever_the_spelling(key: str, value: str, environment: str) -> None:
    values = production_like(environment) if environment != "development" else {}
    values.setdefault("services", {}).setdefault("gateway", {}).setdefault("env", {})[key] = value
    refused(values, f"services.gateway.env.{key}.*gateway.devIssuer")


@pytest.mark.parametrize("key", DEV_MODE_KEYS)
@pytest.mark.parametrize("environment", ["development", "production"])
def test_dev_mode_from_a_secret_is_refused(key: str, environment: str) -> None:
    """A Secret's value is unknown when the chart renders: the key alone is refused."""
    values = production_like(environment) if environment != "development" else {}
    secret_env = values.setdefault("services", {}).setdefault("gateway", {}).setdefault("secretEnv", {})
    secret_env[key] = {"secretName": "gateway", "key": "dev"}
    refused(values, f"services.gateway.secretEnv.{key}")


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off"])
def test_dev_mode_spelt_off_is_accepted(value: str) -> None:
    values = production_like("production")
    values["services"]["gateway"]["env"]["GATEWAY_DEV_MODE"] = value
    assert render(values=values)


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_dev_issuer_is_refused_outside_development(environment: str) -> None:
    values = production_like(environment)
    values["gateway"]["devIssuer"] = {"enabled": True}
    refused(values, "gateway.devIssuer.enabled.*development")


@pytest.mark.parametrize("environment", ["staging", "production"])
@pytest.mark.parametrize("where", ["env", "secretEnv"])
def test_staging_and_production_need_the_real_issuer(environment: str, where: str) -> None:
    values = production_like(environment)
    del values["services"]["gateway"]["env"]["JWKS_URL"]
    refused(values, "services.gateway.env.JWKS_URL")
    if where == "secretEnv":
        values["services"]["gateway"]["secretEnv"]["JWKS_URL"] = {"secretName": "issuer", "key": "jwks-url"}
    else:
        values["services"]["gateway"]["env"]["JWKS_URL"] = "https://auth.example.com/jwks"
    assert render(values=values)


def test_the_dev_issuer_states_it_is_local_and_the_gateway_accepts_that(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart turns on dev mode with the local-only flag: the gateway's own guard (dev mode binds
    loopback or says it is local) passes with the Deployment's environment, and fails without the flag."""
    env = gateway_env(render(values=DEV_ISSUER))
    assert env["GATEWAY_DEV_MODE"]["value"] == "true"
    assert env["GATEWAY_DEV_MODE_LOCAL_ONLY"]["value"] == "true"
    for name in ("HTTP_HOST", "GRPC_HOST", "DEV_MODE", "DEV_MODE_LOCAL_ONLY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEWAY_DEV_MODE", "true")
    monkeypatch.setenv("GATEWAY_DEV_MODE_LOCAL_ONLY", "true")
    assert GatewaySettings().dev_mode
    monkeypatch.delenv("GATEWAY_DEV_MODE_LOCAL_ONLY")
    with pytest.raises(ValueError, match="GATEWAY_DEV_MODE_LOCAL_ONLY"):
        GatewaySettings()


# --- finding: one signing key for every replica of the dev issuer ---------------------------------


@pytest.mark.parametrize("gateway_values", SEVERAL_GATEWAY_PODS)
def test_several_dev_issuers_without_a_shared_key_are_refused(gateway_values: dict[str, Any]) -> None:
    gateway_values = {**gateway_values, "secretEnv": {"ORDER_ACCESS_SECRET": ORDER_ACCESS}}
    values = {**DEV_ISSUER, "serviceMonitor": {"enabled": True}, "services": {"gateway": gateway_values}}
    refused(values, "gateway.devIssuer.signingKeySecret")
    values["gateway"] = {"devIssuer": {"enabled": True, "signingKeySecret": SIGNING_KEY}}
    assert render(values=values)


def test_every_replica_signs_with_the_key_from_the_secret() -> None:
    values = {"gateway": {"devIssuer": {"enabled": True, "signingKeySecret": SIGNING_KEY}}}
    autoscaled = {"autoscaling": {"mode": "hpa", "minReplicas": 3}}
    values["services"] = {"gateway": {**autoscaled, "secretEnv": {"ORDER_ACCESS_SECRET": ORDER_ACCESS}}}
    pod = gateway(render(values=values))["spec"]["template"]["spec"]
    container = pod["containers"][0]
    data_dir = env_of(container)["GATEWAY_DATA_DIR"]["value"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[data_dir]["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[data_dir]["name"])
    assert volume["secret"]["secretName"] == SIGNING_KEY["name"]
    # The issuer loads <GATEWAY_DATA_DIR>/<DEV_KEY_FILE>: the Secret's key lands exactly there.
    assert volume["secret"]["items"] == [{"key": SIGNING_KEY["key"], "path": DEV_KEY_FILE}]


# --- finding: one key for guests' order tokens on every gateway pod ---------------------------------


@pytest.mark.parametrize("gateway_values", SEVERAL_GATEWAY_PODS)
def test_several_gateway_pods_without_a_shared_order_token_key_are_refused(gateway_values: dict[str, Any]) -> None:
    values: dict[str, Any] = {"serviceMonitor": {"enabled": True}, "services": {"gateway": gateway_values}}
    refused(values, "services.gateway.secretEnv.ORDER_ACCESS_SECRET")
    values["services"]["gateway"] = {**gateway_values, "secretEnv": {"ORDER_ACCESS_SECRET": ORDER_ACCESS}}
    env = gateway_env(render(values=values))
    assert env["ORDER_ACCESS_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": ORDER_ACCESS["secretName"],
        "key": ORDER_ACCESS["key"],
    }


def test_one_gateway_pod_needs_no_order_token_key() -> None:
    assert "ORDER_ACCESS_SECRET" not in gateway_env(render(values={}))


def test_the_load_test_values_share_one_key() -> None:
    """keda-values autoscales the gateway and drives it with locust, which signs in at the dev issuer."""
    rendered = render_set("keda")
    assert dev_mode_entries(rendered.manifests)["GATEWAY_DEV_MODE"]["value"] == "true"
    assert "GATEWAY_DATA_DIR" in gateway_env(rendered.manifests)


def test_a_single_dev_issuer_keeps_its_key_in_memory() -> None:
    pod = gateway(render(values=DEV_ISSUER))["spec"]["template"]["spec"]
    assert "GATEWAY_DATA_DIR" not in env_of(pod["containers"][0])
    assert "secret" not in {k for v in pod["volumes"] if v["name"] != "tls" for k in v}, pod["volumes"]


# --- finding: public default secrets --------------------------------------------------------------


@pytest.mark.parametrize(("service", "variable"), list(PUBLIC_DEFAULTS))
@pytest.mark.parametrize("environment", ["staging", "production"])
def test_production_like_installs_refuse_default_or_missing_secrets(
    service: str, variable: str, environment: str
) -> None:
    if service == "sandbox" and environment == "production":
        pytest.skip("the sandbox never renders in production")
    values = production_like(environment)
    assert render(values=values)  # the baseline installs
    entry = values["services"].setdefault(service, {})
    entry.setdefault("secretEnv", {}).pop(variable, None)
    refused(values, f"services.{service}.secretEnv.{variable}")  # missing
    for kept in (PUBLIC_DEFAULTS[service, variable], "", "   "):
        entry.setdefault("env", {})[variable] = kept
        refused(values, f"services.{service}.secretEnv.{variable}")  # the public default, or empty
    entry["env"].pop(variable)
    entry["secretEnv"][variable] = {"secretName": "", "key": "k"}
    refused(values, f"services.{service}.secretEnv.{variable}")  # a reference to nothing


def test_development_keeps_the_built_in_secrets() -> None:
    rendered = Render("development", (), render())
    for (service, variable), _ in PUBLIC_DEFAULTS.items():
        deployment = rendered.find("Deployment", f"shop-{service}")
        assert deployment is not None
        assert variable not in env_of(deployment["spec"]["template"]["spec"]["containers"][0])
