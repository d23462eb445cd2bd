"""shopctl against exactly what charts/shop installs: the rendered Deployments, Rollouts and
migration hooks (Helm's own engine) loaded into the API server, with the status the controllers
would write. Catches a chart change shopctl no longer understands (labels, names, hook shape)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from shop_deploycheck.render import CHART, render

if TYPE_CHECKING:
    from conftest import Build, FakeKubeApi, Shopctl

CANARY_VALUES = CHART / "ci" / "canary-values.yaml"


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render([CANARY_VALUES], values={"loadgen": {"enabled": True}})


@pytest.fixture
def installed(api: FakeKubeApi, build: type[Build], rendered: list[dict[str, Any]]) -> FakeKubeApi:
    """The cluster after `helm install shop charts/shop -f ci/canary-values.yaml`, the canaries
    paused at their first pause step."""
    hooks = []
    for manifest in rendered:
        annotations = manifest["metadata"].get("annotations") or {}
        if "helm.sh/hook" in annotations:
            record = build.hook_record(manifest, tuple(annotations["helm.sh/hook"].split(",")))
            hooks.append(record)
        elif manifest["kind"] == "Deployment":
            replicas = manifest["spec"].get("replicas", 1)
            status = build.deployment("x", replicas=replicas)["status"]
            api.add("deployments", {**manifest, "status": status})
        elif manifest["kind"] == "Rollout":
            service = manifest["metadata"]["labels"]["app.kubernetes.io/name"]
            live = build.rollout(service, replicas=manifest["spec"].get("replicas", 3), step_index=1)
            api.add("rollouts", {**manifest, "spec": {"replicas": 3, **manifest["spec"]}, "status": live["status"]})
    api.add("secrets", build.release_secret("shop", 1, "deployed", hooks))
    return api


def chart_services(rendered: list[dict[str, Any]], kind: str) -> set[str]:
    return {m["metadata"]["labels"]["app.kubernetes.io/name"] for m in rendered if m["kind"] == kind}


def test_status_of_the_chart(installed: FakeKubeApi, shopctl: Shopctl, rendered: list[dict[str, Any]]) -> None:
    result = shopctl("status", "-o", "json")

    assert result.code == 0, result.err
    services = {s["service"]: s for s in json.loads(result.out)["services"]}
    # The load generator's master and workers share their labels: listed by their names instead.
    assert set(services) == chart_services(rendered, "Deployment") - {"loadgen"} | {"loadgen-master", "loadgen-worker"}
    canaries = {name for name, s in services.items() if s["canary"]}
    assert canaries == chart_services(rendered, "Rollout") and canaries
    for manifest in rendered:
        if manifest["kind"] == "Deployment":
            service = services[manifest["metadata"]["name"].removeprefix("shop-")]
            assert service["deployment"] == manifest["metadata"]["name"]
            assert service["image"] == manifest["spec"]["template"]["spec"]["containers"][0]["image"]
        if manifest["kind"] == "Rollout":
            canary = services[manifest["metadata"]["labels"]["app.kubernetes.io/name"]]["canary"]
            assert canary["rollout"] == manifest["metadata"]["name"]
            assert canary["steps"] == len(manifest["spec"]["strategy"]["canary"]["steps"])
            assert canary["set_weight"] == manifest["spec"]["strategy"]["canary"]["steps"][0]["setWeight"]


def test_promote_a_chart_rollout(installed: FakeKubeApi, shopctl: Shopctl, rendered: list[dict[str, Any]]) -> None:
    service = min(chart_services(rendered, "Rollout"))

    result = shopctl("canary", "promote", service)

    assert result.code == 0, result.err
    (patch,) = installed.calls("PATCH")
    assert patch.path == f"/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/shop-{service}/status"


def test_migrate_every_chart_migration(
    installed: FakeKubeApi, shopctl: Shopctl, build: type[Build], rendered: list[dict[str, Any]]
) -> None:
    hook_jobs = {
        m["metadata"]["labels"]["app.kubernetes.io/name"]: m
        for m in rendered
        if m["kind"] == "Job" and "helm.sh/hook" in (m["metadata"].get("annotations") or {})
    }
    for service in hook_jobs:
        installed.job_scripts[service] = build.JobScript(succeed=True, log="migrated\n", polls=1)
    # One service moved on to a new image since the release was installed.
    moved = min(hook_jobs)
    deployment = installed.get("deployments", f"shop-{moved}")
    new_image = deployment["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[0] + ":0.2.0"
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = new_image

    result = shopctl("migrate", "--poll-interval", "0.01")

    assert result.code == 0, result.err
    created = {r.body["metadata"]["labels"]["app.kubernetes.io/name"]: r.body for r in installed.calls("POST")}
    assert set(created) == set(hook_jobs) and "gateway" not in created
    for service, job in created.items():
        chart_pod = hook_jobs[service]["spec"]["template"]["spec"]
        pod = job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        (chart_container,) = chart_pod["containers"]
        assert container["command"] == chart_container["command"] == [f"shop-{service}"]
        assert container["args"] == ["migrate"]
        assert container["env"] == chart_container["env"]
        assert pod["serviceAccountName"] == chart_pod["serviceAccountName"]
        expected_image = new_image if service == moved else chart_container["image"]
        assert container["image"] == expected_image
        assert not any(k.startswith("helm.sh/hook") for k in job["metadata"]["annotations"])
