"""The services' NATS users in the chart (`nats.auth`): each service's NATS_URL names its own user with
its password from the Secret, the users and consumers the chart knows are shopkit.natsauth's, and
staging and production refuse to install without them."""

from __future__ import annotations

import copy
from typing import Any

import helm_python
import pytest

from shop_deploycheck.manifests import VALUE_SETS, Manifest, env_of, render_set
from shop_deploycheck.render import load_values, render
from shopkit import events, natsauth

AUTH: dict[str, Any] = {"nats": {"auth": {"enabled": True}}}


def service_env(manifests: list[Manifest]) -> dict[str, dict[str, dict[str, Any]]]:
    """Environment of the main container of each service Deployment, by the service's name."""
    found = {}
    for m in manifests:
        if m["kind"] == "Deployment" and m["metadata"]["labels"].get("app.kubernetes.io/component") == "service":
            found[m["metadata"]["labels"]["app.kubernetes.io/name"]] = env_of(
                m["spec"]["template"]["spec"]["containers"][0]
            )
    return found


def test_the_chart_topology_has_the_users_and_consumers_of_the_table() -> None:
    """The chart's own list of who uses NATS and which durables it runs (KEDA) is natsauth's table."""
    by_service = service_env(render_set("defaults").manifests)
    assert {name for name, env in by_service.items() if "NATS_URL" in env} == set(natsauth.SERVICES)
    scaled = render_set("keda")
    for scaler in scaled.of_kind("ScaledObject"):
        name = scaler["metadata"]["labels"]["app.kubernetes.io/name"]
        lag = {
            (t["metadata"]["stream"], t["metadata"]["consumer"])
            for t in scaler["spec"]["triggers"]
            if t["type"] == "nats-jetstream"
        }
        expected = {
            (events.stream_name(c.source), natsauth.durable_name(name, c.name))
            for c in natsauth.CONSUMERS.get(name, ())
        }
        assert lag == expected, name


def test_without_auth_the_url_is_given_as_it_is() -> None:
    for name, env in service_env(render_set("defaults").manifests).items():
        if "NATS_URL" in env:
            assert env["NATS_URL"] == {"name": "NATS_URL", "value": "nats://nats.nats.svc.cluster.local:4222"}
            assert "NATS_PASSWORD" not in env, name


@pytest.mark.parametrize("value_set", ["production", "external"])
def test_each_service_connects_as_its_own_user(value_set: str) -> None:
    secret = load_values(VALUE_SETS[value_set])["nats"]["auth"].get("secretName", "shop-nats-users")
    checked = set()
    for name, env in service_env(render_set(value_set).manifests).items():
        if name not in natsauth.SERVICES:
            assert "NATS_URL" not in env and "NATS_PASSWORD" not in env, name
            continue
        assert env["NATS_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": secret, "key": name}}
        assert env["NATS_URL"]["value"] == f"nats://{name}:$(NATS_PASSWORD)@nats.nats.svc.cluster.local:4222"
        names = list(env)
        assert names.index("NATS_PASSWORD") < names.index("NATS_URL")  # $(VAR) expands only earlier ones
        checked.add(name)
    assert checked == set(natsauth.SERVICES)


def test_every_server_of_a_list_gets_the_credentials() -> None:
    url = "nats://nats-a.nats.svc.cluster.local:4222,tls://nats-b.nats.svc.cluster.local:4222"
    manifests = render(values={"nats": {"url": url, "auth": {"enabled": True}}})
    assert service_env(manifests)["order"]["NATS_URL"]["value"] == (
        "nats://order:$(NATS_PASSWORD)@nats-a.nats.svc.cluster.local:4222,"
        "tls://order:$(NATS_PASSWORD)@nats-b.nats.svc.cluster.local:4222"
    )


@pytest.mark.parametrize("value_set", ["production", "external"])
def test_staging_and_production_refuse_to_install_without_users(value_set: str) -> None:
    values = copy.deepcopy(load_values(VALUE_SETS[value_set]))
    values["nats"]["auth"]["enabled"] = False
    with pytest.raises(helm_python.HelmError, match=r"nats\.auth\.enabled is required"):
        render(values=values)


def test_credentials_in_the_url_and_users_do_not_mix() -> None:
    with pytest.raises(helm_python.HelmError, match=r"nats\.url carries credentials"):
        render(values={"nats": {"url": "nats://shared:pw@nats.nats.svc.cluster.local:4222", **AUTH["nats"]}})
