"""Rendered manifests against the Kubernetes 1.33 API schemas (kubernetes-validate, strict) and
checkov's policies (0 failed checks; every skip carries its reason in the chart)."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import kubernetes_validate  # type: ignore[import-untyped]
import kubernetes_validate.utils  # type: ignore[import-untyped]
import pytest
import yaml

from shop_deploycheck import checkov
from shop_deploycheck.manifests import VALUE_SETS, Manifest, Render, render_set
from shop_deploycheck.render import render

KUBERNETES_VERSION = "1.33.0"
# kubernetes-validate parses its large schema files on every call; they never change in a run.
kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)
# API groups kubernetes-validate knows (core kinds); custom resources are checked against their CRDs.
CORE_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io"}


PLANTED = "planted-violation"
PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "bad", "namespace": "shop"},
    "spec": {"containers": [{"name": "c", "image": "x:1", "securityContext": {"privileged": True}}]},
}


def api_group(manifest: Manifest) -> str:
    api_version: str = manifest["apiVersion"]
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def test_core_kinds_match_the_kubernetes_schema(rendered: Render) -> None:
    core = [m for m in rendered.manifests if api_group(m) in CORE_GROUPS]
    assert core
    for manifest in core:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']}: {error.message} at {list(error.path)}")


def test_strict_validation_catches_unknown_fields() -> None:
    """The validator is strict: a misspelt field in a rendered Deployment fails."""
    deployment = render_set("defaults").service_deployments()[0]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.fixture(scope="session")
def checkov_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, checkov.CheckovReport]:
    """checkov on the render of every values set, all in one run (its start-up takes seconds)."""
    folder = tmp_path_factory.mktemp("checkov")
    files = {}
    for name in VALUE_SETS:
        files[name] = folder / f"{name}.yaml"
        files[name].write_text(yaml.safe_dump_all(render_set(name).manifests, sort_keys=False))
    # A known violation scanned in the same run: proves the scan reports failures at all.
    files[PLANTED] = folder / f"{PLANTED}.yaml"
    files[PLANTED].write_text(yaml.safe_dump(PRIVILEGED_POD))
    reports = checkov.scan(list(files.values()))
    return {name: reports[path] for name, path in files.items()}


@pytest.mark.timeout(900)  # the first of these waits for the scan
@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_checkov_finds_nothing(checkov_reports: dict[str, checkov.CheckovReport], value_set: str) -> None:
    report = checkov_reports[value_set]
    assert report.parsing_errors == 0
    failed = [f"{f.check_id} {f.resource}: {f.name}" for f in report.failed]
    assert not failed, "\n".join(failed)
    # checkov really looked at every workload of the render.
    workloads = {
        f"{m['kind']}.{m['metadata']['namespace']}.{m['metadata']['name']}"
        for m, _ in render_set(value_set).workloads()
    }
    assert workloads <= report.resources, sorted(workloads - report.resources)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_checkov_skips_state_their_reason(checkov_reports: dict[str, checkov.CheckovReport], value_set: str) -> None:
    for finding in checkov_reports[value_set].skipped:
        assert len(finding.reason.split()) >= 5, f"{finding.check_id} on {finding.resource}: skipped without a reason"


def skip_annotations(manifest: Manifest) -> Iterator[str]:
    for key, value in (manifest["metadata"].get("annotations") or {}).items():
        if key.startswith("checkov.io/skip"):
            yield str(value)


def test_skips_only_where_their_reason_holds() -> None:
    """A digest, pull policy Always and a CPU limit make their skips disappear."""
    digest = "sha256:" + "0" * 64
    strict = Render(
        "strict",
        (),
        render(
            values={
                "image": {"digest": digest, "pullPolicy": "Always"},
                "defaults": {"resources": {"limits": {"cpu": "1", "memory": "512Mi"}}},
            }
        ),
    )
    for deployment in strict.service_deployments():
        reasons = " ".join(skip_annotations(deployment))
        assert "CKV_K8S_43" not in reasons and "CKV_K8S_15" not in reasons and "CKV_K8S_11" not in reasons
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f"@{digest}")


@pytest.mark.timeout(900)
def test_scan_reports_real_failures(checkov_reports: dict[str, checkov.CheckovReport]) -> None:
    assert "CKV_K8S_16" in {f.check_id for f in checkov_reports[PLANTED].failed}  # privileged container
