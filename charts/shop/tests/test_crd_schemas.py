"""Every custom resource the chart renders (Argo Rollouts, KEDA, CloudNativePG, Prometheus Operator,
Gateway API) matches its CRD's schema, unknown fields rejected as the API server's strict field
validation does; and the validator really rejects what the API server would."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from shop_deploycheck import crds
from shop_deploycheck.manifests import VALUE_SETS, Render, render_set


def _custom_resources(render: Render) -> list[dict[str, Any]]:
    return [m for m in render.manifests if (m["apiVersion"], m["kind"]) in crds.KINDS]


def test_custom_resources_match_their_crds(rendered: Render) -> None:
    failures = [
        f"{rendered.name}: {m['kind']}/{m['metadata']['name']}: {error}"
        for m in _custom_resources(rendered)
        for error in crds.validate(m)
    ]
    assert not failures, "\n".join(failures)


def test_every_rendered_kind_has_a_schema(rendered: Render) -> None:
    """A kind that is neither core Kubernetes nor in crds.KINDS would go unchecked."""
    unknown = set()
    for manifest in rendered.manifests:
        if (manifest["apiVersion"], manifest["kind"]) in crds.KINDS:
            continue
        try:
            kubernetes_validate.validate(manifest, crds.KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            unknown.add((manifest["apiVersion"], manifest["kind"]))
        except kubernetes_validate.ValidationError:
            pass  # the chart's own kubernetes-validate check reports these
    assert not unknown, f"{rendered.name}: no schema for {sorted(unknown)}"


def test_the_ci_values_render_every_kind_crds_knows() -> None:
    seen = {(m["apiVersion"], m["kind"]) for name in VALUE_SETS for m in render_set(name).manifests}
    # PrometheusRule is not rendered by the chart (k8s/ holds the rules): k8s/tests checks it.
    assert crds.KINDS - {("monitoring.coreos.com/v1", "PrometheusRule")} <= seen


@pytest.fixture(scope="module")
def rollout() -> dict[str, Any]:
    for name in VALUE_SETS:
        for manifest in render_set(name).manifests:
            if manifest["kind"] == "Rollout":
                return copy.deepcopy(manifest)
    raise AssertionError("no values set renders a Rollout")


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda r: r["spec"].update(replicas="three"), "spec.replicas: 'three' is not of type 'integer'"),
        (lambda r: r["spec"]["strategy"]["canary"].update(stepz=[]), "'stepz' was unexpected"),
        (
            lambda r: r["spec"]["strategy"]["canary"]["steps"].append({"setWeight": 10, "pauze": {}}),
            "'pauze' was unexpected",
        ),
        (lambda r: r["spec"]["workloadRef"].update(kind=["Deployment"]), "is not of type 'string'"),
        (lambda r: r["spec"]["strategy"]["canary"]["steps"].append({"pause": {"duration": 1.5}}), "duration"),
        (lambda r: r["metadata"].pop("name"), "'name' is a required property"),
        (lambda r: r["metadata"].update(labelz={}), "'labelz' was unexpected"),
        (lambda r: r["spec"]["strategy"].update(blueGreen={"activeService": "x"}), "not vendored"),
    ],
)
def test_a_broken_rollout_is_rejected(rollout: dict[str, Any], breakage: Any, expected: str) -> None:
    assert not crds.validate(rollout)
    broken = copy.deepcopy(rollout)
    breakage(broken)
    errors = crds.validate(broken)
    assert any(expected in error for error in errors), errors


def test_an_unknown_kind_raises() -> None:
    with pytest.raises(crds.UnknownKindError):
        crds.validate({"apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment", "metadata": {"name": "x"}})
