"""Rendered manifests as the checks read them: the values sets of CI, lookups, and a small
evaluator of NetworkPolicies (does some policy let pod A reach pod B on port P?)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from shop_deploycheck.render import CI_VALUES, render

Manifest = dict[str, Any]

# "defaults" is the chart as installed without values files.
VALUE_SETS: dict[str, tuple[Path, ...]] = {
    "defaults": (),
    **{path.name.removesuffix("-values.yaml"): (path,) for path in CI_VALUES},
}


@dataclass
class Render:
    name: str
    files: tuple[Path, ...]
    manifests: list[Manifest]
    release: str = "shop"
    namespace: str = "shop"

    def of_kind(self, *kinds: str) -> list[Manifest]:
        return [m for m in self.manifests if m["kind"] in kinds]

    def find(self, kind: str, name: str) -> Manifest | None:
        found = [m for m in self.manifests if m["kind"] == kind and m["metadata"]["name"] == name]
        if len(found) > 1:
            raise AssertionError(f"{len(found)} {kind} objects named {name}")
        return found[0] if found else None

    def workloads(self) -> Iterator[tuple[Manifest, dict[str, Any]]]:
        """(resource, pod spec) of everything that runs pods: Deployments, Jobs, Pods."""
        for manifest in self.manifests:
            if manifest["kind"] in ("Deployment", "Job"):
                yield manifest, manifest["spec"]["template"]["spec"]
            elif manifest["kind"] == "Pod":
                yield manifest, manifest["spec"]

    def service_deployments(self) -> list[Manifest]:
        """The shop's service Deployments (not the load generator)."""
        return [m for m in self.of_kind("Deployment") if component(m) == "service"]

    def policies(self) -> list[Manifest]:
        return self.of_kind("NetworkPolicy")


@cache
def render_set(name: str, release: str = "shop", namespace: str = "shop") -> Render:
    """One values set of VALUE_SETS rendered (once per process)."""
    files = VALUE_SETS[name]
    return Render(name, files, render(files, release=release, namespace=namespace), release, namespace)


def component(manifest: Manifest) -> str | None:
    labels: dict[str, str] = manifest["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component")


def env_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's env entries by name."""
    return {entry["name"]: entry for entry in container.get("env", [])}


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@dataclass(frozen=True)
class Endpoint:
    """One side of a connection: a pod's labels and its namespace's labels."""

    labels: Mapping[str, str]
    namespace: str

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    if selector.get("matchExpressions"):
        raise NotImplementedError("matchExpressions")
    return labels_match(selector.get("matchLabels", {}) or {}, labels)


def _peer_matches(peer: Mapping[str, Any], other: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return False  # pods are addressed by selectors here; ipBlocks are for outside the cluster
    pod_selector = peer.get("podSelector")
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is None:
        # A podSelector alone selects pods of the policy's own namespace.
        if other.namespace != policy_namespace:
            return False
    elif not _selects(ns_selector, other.namespace_labels):
        return False
    return pod_selector is None or _selects(pod_selector, other.labels)


def _port_matches(ports: list[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True  # no ports: every port
    return any(p.get("port") in (None, port) and p.get("protocol", "TCP") == protocol for p in ports)


def allowed(
    policies: list[Manifest], source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """Whether the NetworkPolicies let `source` open a connection to `destination` on `port`.

    As in Kubernetes: a direction is open when no policy of that type selects the pod, or when one
    of the policies that select it has a rule matching the peer and port. External endpoints (not
    in the policies' namespaces) are judged on the side whose policies are given.
    """
    return _direction_open(policies, source, destination, port, protocol, "Egress") and _direction_open(
        policies, destination, source, port, protocol, "Ingress"
    )


def _direction_open(
    policies: list[Manifest], pod: Endpoint, peer: Endpoint, port: int, protocol: str, direction: str
) -> bool:
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and _selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    key, side = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(side)
            peer_ok = not peers or any(_peer_matches(p, peer, pod.namespace) for p in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False
