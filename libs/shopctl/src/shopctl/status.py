"""`shopctl status`: replicas, image and canary progress of every service of a release."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from shopctl.kube import Json, Kube
from shopctl.release import Workload, dig, image_of, name_of, workload, workloads


@dataclass(frozen=True)
class Analysis:
    name: str
    phase: str


@dataclass(frozen=True)
class Canary:
    rollout: str
    step: int | None  # status.currentStepIndex; None when the strategy has no steps
    steps: int
    set_weight: int  # percent of traffic (or replicas, without a router) the canary is set to
    phase: str  # Rollout status.phase: Healthy, Progressing, Paused, Degraded
    paused: bool
    aborted: bool
    message: str
    analysis: Analysis | None  # the Rollout's latest AnalysisRun


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    deployment: str
    desired: int
    ready: int
    updated: int
    available: int
    image: str
    phase: str
    canary: Canary | None


def collect(kube: Kube, release: str, services: list[str] | None = None) -> list[ServiceStatus]:
    found = workloads(kube, release)
    if services:
        known = {w.service for w in found}
        for service in services:
            if service not in known:
                workload(kube, release, service)  # raises NotFound naming the services there are
        found = [w for w in found if w.service in services]
    runs = kube.list_argo("analysisruns") if any(w.rollout for w in found) else []
    return [service_status(w, runs) for w in found]


def service_status(workload: Workload, analysis_runs: list[Json]) -> ServiceStatus:
    deployment, rollout = workload.deployment, workload.rollout
    # With canary on, the Rollout owns the pods (it scales its own ReplicaSets from the
    # Deployment's template), so its counts are the ones that matter.
    counted = rollout or deployment
    desired = dig(counted, "spec", "replicas")
    status = dig(counted, "status") or {}
    return ServiceStatus(
        service=workload.service,
        deployment=name_of(deployment),
        desired=1 if desired is None else int(desired),
        ready=int(status.get("readyReplicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        image=image_of(deployment, workload.service),
        phase=str(dig(rollout, "status", "phase") or "Progressing") if rollout else _deployment_phase(deployment),
        canary=_canary(rollout, analysis_runs) if rollout else None,
    )


def _deployment_phase(deployment: Json) -> str:
    """Healthy, Progressing or Degraded, in the terms `kubectl rollout status` uses."""
    status = dig(deployment, "status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return "Degraded"
    desired = dig(deployment, "spec", "replicas")
    desired = 1 if desired is None else int(desired)
    generation = int(dig(deployment, "metadata", "generation") or 0)
    settled = (
        int(status.get("observedGeneration") or 0) >= generation
        and int(status.get("updatedReplicas") or 0) >= desired
        and int(status.get("replicas") or 0) <= int(status.get("updatedReplicas") or 0)
        and int(status.get("availableReplicas") or 0) >= desired
    )
    return "Healthy" if settled else "Progressing"


def _canary(rollout: Json, analysis_runs: list[Json]) -> Canary:
    steps = dig(rollout, "spec", "strategy", "canary", "steps") or []
    status = dig(rollout, "status") or {}
    index = status.get("currentStepIndex")
    step = (0 if index is None else int(index)) if steps else None
    return Canary(
        rollout=name_of(rollout),
        step=step,
        steps=len(steps),
        set_weight=set_weight(rollout),
        phase=str(status.get("phase") or ""),
        paused=bool(dig(rollout, "spec", "paused")) or bool(status.get("pauseConditions")),
        aborted=bool(status.get("abort")),
        message=str(status.get("message") or ""),
        analysis=_latest_analysis(rollout, analysis_runs),
    )


def set_weight(rollout: Json) -> int:
    """The canary weight the controller aims for, computed the way Argo Rollouts does: 100 once
    fully promoted (or with no stable ReplicaSet yet), 0 when aborted, else the last setWeight at
    or before the current step."""
    status = dig(rollout, "status") or {}
    stable = status.get("stableRS")
    if status.get("promoteFull") or not stable or status.get("currentPodHash") == stable:
        return 100
    if status.get("abort"):
        return 0
    steps = dig(rollout, "spec", "strategy", "canary", "steps") or []
    index = int(status.get("currentStepIndex") or 0)
    if index >= len(steps):
        return 100
    for candidate in reversed(steps[: index + 1]):
        if isinstance(candidate, dict) and candidate.get("setWeight") is not None:
            return int(candidate["setWeight"])
    return 0


def _latest_analysis(rollout: Json, analysis_runs: list[Json]) -> Analysis | None:
    uid, name = dig(rollout, "metadata", "uid"), name_of(rollout)
    owned = [
        run
        for run in analysis_runs
        if any(
            ref.get("kind") == "Rollout" and (ref.get("uid") == uid if uid else ref.get("name") == name)
            for ref in dig(run, "metadata", "ownerReferences") or []
        )
    ]
    if not owned:
        return None
    latest = max(owned, key=lambda run: (str(dig(run, "metadata", "creationTimestamp") or ""), name_of(run)))
    return Analysis(name=name_of(latest), phase=str(dig(latest, "status", "phase") or "Pending"))


def as_json(statuses: list[ServiceStatus], *, release: str, namespace: str) -> str:
    document: dict[str, Any] = {
        "release": release,
        "namespace": namespace,
        "services": [asdict(s) for s in statuses],
    }
    return json.dumps(document, indent=2)


COLUMNS = (
    *("SERVICE", "DESIRED", "READY", "UPDATED", "AVAILABLE"),
    *("PHASE", "STEP", "WEIGHT", "PAUSED", "ANALYSIS", "IMAGE"),
)


def as_table(statuses: list[ServiceStatus]) -> str:
    rows = [COLUMNS, *(_row(s) for s in statuses)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _row(status: ServiceStatus) -> tuple[str, ...]:
    canary = status.canary
    step = weight = paused = analysis = "-"
    phase = status.phase
    if canary:
        step = f"{canary.step}/{canary.steps}" if canary.step is not None else "-"
        weight = f"{canary.set_weight}%"
        paused = "yes" if canary.paused else "no"
        analysis = f"{canary.analysis.phase} ({canary.analysis.name})" if canary.analysis else "-"
        phase = f"{phase} (aborted)" if canary.aborted else phase
    return (
        status.service,
        str(status.desired),
        str(status.ready),
        str(status.updated),
        str(status.available),
        phase,
        step,
        weight,
        paused,
        analysis,
        status.image,
    )
