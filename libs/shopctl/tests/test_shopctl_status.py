"""`shopctl status` against the in-process API server: what it prints and what it asks for."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from shopctl.cli import run

if TYPE_CHECKING:
    from conftest import Build, FakeKubeApi, Shopctl

RELEASE = "shop"
CANARY_HASH = "7d9c6b5f4"


def image(service: str, tag: str) -> str:
    return f"registry.example.com/shop-{service}:{tag}"


def rows(table: str) -> dict[str, list[str]]:
    lines = table.strip().splitlines()
    header = lines[0].split()
    assert header == [
        *("SERVICE", "DESIRED", "READY", "UPDATED", "AVAILABLE"),
        *("PHASE", "STEP", "WEIGHT", "PAUSED", "ANALYSIS", "IMAGE"),
    ]
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_table_shows_each_service_of_the_release(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("status")

    assert result.code == 0, result.err
    table = rows(result.out)
    assert list(table) == ["cart", "catalog", "checkout", "gateway"]  # not the other release's catalog
    # The canary's Rollout owns the pods: its counts, step 1 of 7 (the pause after setWeight 20).
    assert table["catalog"] == [
        *("catalog", "5", "5", "1", "5", "Paused", "1/7", "20%", "yes"),
        *("Running", f"({RELEASE}-catalog-{CANARY_HASH}-3-2)", image("catalog", "0.2.0")),
    ]
    assert table["cart"] == ["cart", "3", "3", "3", "3", "Healthy", "-", "-", "-", "-", image("cart", "0.1.0")]
    assert table["checkout"][:6] == ["checkout", "3", "3", "1", "3", "Progressing"]
    assert table["gateway"][:6] == ["gateway", "2", "1", "2", "1", "Degraded"]


def test_json_output(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("status", "-o", "json")

    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["release"] == RELEASE and document["namespace"] == "shop"
    services = {s["service"]: s for s in document["services"]}
    assert services["catalog"] == {
        "service": "catalog",
        "deployment": "shop-catalog",
        "desired": 5,
        "ready": 5,
        "updated": 1,
        "available": 5,
        "image": image("catalog", "0.2.0"),
        "phase": "Paused",
        "canary": {
            "rollout": "shop-catalog",
            "step": 1,
            "steps": 7,
            "set_weight": 20,
            "phase": "Paused",
            "paused": True,
            "aborted": False,
            "message": "CanaryPauseStep",
            # The latest of the Rollout's AnalysisRuns, not the earlier successful one.
            "analysis": {"name": f"{RELEASE}-catalog-{CANARY_HASH}-3-2", "phase": "Running"},
        },
    }
    assert services["cart"]["canary"] is None
    assert services["cart"]["phase"] == "Healthy"


def test_asks_only_for_the_release_in_the_namespace(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    shopctl("status")

    (listed,) = shop.calls("GET", "/deployments")
    assert listed.path == "/apis/apps/v1/namespaces/shop/deployments"
    assert listed.query["labelSelector"] == [f"app.kubernetes.io/instance={RELEASE}"]
    assert {r.path for r in shop.requests} == {
        "/apis/apps/v1/namespaces/shop/deployments",
        "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts",
        "/apis/argoproj.io/v1alpha1/namespaces/shop/analysisruns",
    }
    assert all(r.method == "GET" for r in shop.requests)


def test_release_and_namespace_flags(shop: FakeKubeApi, shopctl: Shopctl, build: type[Build]) -> None:
    shop.add("deployments", build.deployment("cart", replicas=1, release="staging"), namespace="staging")

    result = shopctl("status", "--release", "staging", "-o", "json")
    assert [s["service"] for s in json.loads(result.out)["services"]] == ["catalog"]

    result = shopctl("status", "--namespace", "staging", "--release", "staging", "-o", "json")
    document = json.loads(result.out)
    assert document["namespace"] == "staging"
    assert [s["service"] for s in document["services"]] == ["cart"]
    assert shop.calls("GET", "/deployments")[-1].path == "/apis/apps/v1/namespaces/staging/deployments"


def test_named_services_only(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("status", "cart", "checkout")

    assert result.code == 0, result.err
    assert list(rows(result.out)) == ["cart", "checkout"]


def test_unknown_service_is_not_found(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("status", "billing")

    assert result.code == 4
    assert result.out == ""
    assert "has no service 'billing' (services: cart, catalog, checkout, gateway)" in result.err


def test_without_argo_rollouts_installed(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    shop.argo_installed = False  # the Rollout CRD answers 404, like a cluster without the controller

    result = shopctl("status", "-o", "json")

    assert result.code == 0, result.err
    catalog = next(s for s in json.loads(result.out)["services"] if s["service"] == "catalog")
    assert catalog["canary"] is None
    assert catalog["desired"] == 0  # the Deployment's own count (scaled down under the Rollout)


def test_weight_once_fully_promoted_and_after_abort(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    rollout = shop.get("rollouts", "shop-catalog")
    rollout["status"]["abort"] = True
    rollout["status"]["phase"] = "Degraded"
    aborted = json.loads(shopctl("status", "catalog", "-o", "json").out)["services"][0]["canary"]
    assert (aborted["set_weight"], aborted["aborted"], aborted["phase"]) == (0, True, "Degraded")
    assert "Degraded (aborted)" in shopctl("status", "catalog").out

    rollout["status"].pop("abort")
    rollout["status"]["stableRS"] = rollout["status"]["currentPodHash"]
    done = json.loads(shopctl("status", "catalog", "-o", "json").out)["services"][0]["canary"]
    assert done["set_weight"] == 100


def test_empty_release(api: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("status")

    assert result.code == 0
    assert "release 'shop' has no services in namespace 'shop'" in result.err


def test_unreachable_cluster(tmp_path: Path, build: type[Build]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = build.write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")

    err = io.StringIO()
    code = run(["status", "--kubeconfig", str(config)], io.StringIO(), err)

    assert code == 3
    assert f"cannot reach the Kubernetes API server at http://127.0.0.1:{port}" in err.getvalue()
    assert "Connection refused" in err.getvalue()


def test_unusable_kubeconfig(tmp_path: Path) -> None:
    # The installed console script, as an SRE runs it: message on stderr, exit code 3.
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "shopctl"), "status", "--kubeconfig", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 3
    assert completed.stdout == ""
    assert completed.stderr.startswith(f"shopctl: cannot use kubeconfig {tmp_path / 'missing'}")


def test_context_flag_selects_the_context(shop: FakeKubeApi, tmp_path: Path, build: type[Build]) -> None:
    config = build.write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:1")  # current context: dead
    document = yaml.safe_load(config.read_text())
    document["clusters"].append({"name": "live", "cluster": {"server": shop.url}})
    document["contexts"].append({"name": "live", "context": {"cluster": "live", "user": "sre"}})
    config.write_text(yaml.safe_dump(document))

    out, err = io.StringIO(), io.StringIO()
    code = run(["status", "--kubeconfig", str(config), "--context", "live", "-o", "json"], out, err)

    assert code == 0, err.getvalue()
    # No namespace in that context: the default one.
    assert json.loads(out.getvalue())["namespace"] == "shop"

    code = run(["status", "--kubeconfig", str(config), "--context", "nosuch"], io.StringIO(), err)
    assert code == 3
    assert "nosuch" in err.getvalue()
