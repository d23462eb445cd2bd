"""The services of a release: each chart Deployment and, when canary is on, the Rollout that
references it (`spec.workloadRef`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from shopctl.errors import NotFound
from shopctl.kube import Json, Kube

INSTANCE_LABEL = "app.kubernetes.io/instance"
NAME_LABEL = "app.kubernetes.io/name"


@dataclass(frozen=True)
class Workload:
    service: str
    deployment: Json
    rollout: Json | None


def dig(document: Any, *path: str) -> Any:
    """document[path[0]][path[1]]..., or None where a step is missing."""
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def name_of(document: Json) -> str:
    return str(dig(document, "metadata", "name") or "")


def service_of(document: Json, release: str) -> str:
    """The chart labels each service's objects with app.kubernetes.io/name=<service>; fall back to
    the object name without the `<release>-` prefix."""
    label = dig(document, "metadata", "labels", NAME_LABEL)
    if label:
        return str(label)
    return name_of(document).removeprefix(f"{release}-")


def image_of(deployment: Json, service: str) -> str:
    """The image of the service's container (the one named after it, else the first)."""
    containers = dig(deployment, "spec", "template", "spec", "containers") or []
    chosen = next((c for c in containers if c.get("name") == service), containers[0] if containers else {})
    return str(chosen.get("image") or "")


def workloads(kube: Kube, release: str) -> list[Workload]:
    """Every service of the release, sorted by name."""
    deployments = kube.list_deployments(f"{INSTANCE_LABEL}={release}")
    rollouts = kube.list_argo("rollouts") if deployments else []
    labelled = Counter(service_of(d, release) for d in deployments)
    found = []
    for deployment in deployments:
        service = service_of(deployment, release)
        if labelled[service] > 1:  # several workloads of one part (the load generator's master and workers)
            service = name_of(deployment).removeprefix(f"{release}-")
        rollout = next((r for r in rollouts if _references(r, deployment)), None)
        found.append(Workload(service, deployment, rollout))
    return sorted(found, key=lambda w: w.service)


def _references(rollout: Json, deployment: Json) -> bool:
    ref = dig(rollout, "spec", "workloadRef") or {}
    return bool(ref.get("kind") == "Deployment" and ref.get("name") == name_of(deployment))


def workload(kube: Kube, release: str, service: str) -> Workload:
    """The named service, or NotFound listing the services the release has."""
    found = workloads(kube, release)
    for candidate in found:
        if candidate.service == service:
            return candidate
    if not found:
        raise NotFound(
            f"release {release!r} has no services in namespace {kube.namespace!r} "
            f"(no Deployment labelled {INSTANCE_LABEL}={release})"
        )
    known = ", ".join(w.service for w in found)
    raise NotFound(
        f"release {release!r} in namespace {kube.namespace!r} has no service {service!r} (services: {known})"
    )
