"""`shopctl canary promote|abort`: the same Rollout patches `kubectl argo rollouts promote|abort` sends.

The plugin patches the status subresource first (Argo Rollouts >= v0.10 serves Rollouts with one)
and, when that answers 404, the whole object; spec.paused always goes through the main resource.
All patches are JSON merge patches.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopctl.errors import ApiError, NotFound
from shopctl.kube import Json, Kube
from shopctl.release import dig, name_of, workload


@dataclass(frozen=True)
class Patches:
    spec: Json | None  # for the main resource
    status: Json | None  # for the status subresource
    unified: Json | None  # spec and status at once, for controllers without the status subresource


def promote_patches(rollout: Json, *, full: bool) -> Patches:
    """What promoting this Rollout sends (the plugin's getPatches, without its deprecated skip flags)."""
    status = dig(rollout, "status") or {}
    if full:
        # Already at the stable version: nothing to promote.
        if status.get("currentPodHash") != status.get("stableRS"):
            return Patches(spec=None, status={"status": {"promoteFull": True}}, unified=None)
        return Patches(spec=None, status=None, unified=None)

    spec_patch: Json | None = {"spec": {"paused": False}} if dig(rollout, "spec", "paused") else None
    unified: Json = {"spec": {"paused": False}, "status": {"pauseConditions": None}}
    status_patch: Json | None = None
    steps = dig(rollout, "spec", "strategy", "canary", "steps")
    if status.get("pauseConditions"):
        status_patch = {"status": {"pauseConditions": None}}
    elif dig(rollout, "spec", "strategy", "canary") is not None and steps:
        # Not paused (e.g. waiting on an analysis step): move on to the next step instead. Clearing
        # pause conditions and moving the index are never done together.
        index = int(status.get("currentStepIndex") or 0)
        if index < len(steps):
            index += 1
        status_patch = {"status": {"pauseConditions": None, "currentStepIndex": index}}
        unified = {"spec": {"paused": False}, "status": {"pauseConditions": None, "currentStepIndex": index}}
    return Patches(spec=spec_patch, status=status_patch, unified=unified)


def apply(kube: Kube, name: str, patches: Patches) -> Json | None:
    result: Json | None = None
    spec_patch = patches.spec
    if patches.status is not None:
        try:
            result = kube.patch_rollout(name, patches.status, status=True)
        except ApiError as exc:
            if exc.status != 404:
                raise
            spec_patch = patches.unified  # no status subresource: patch spec and status together
    if spec_patch is not None:
        result = kube.patch_rollout(name, spec_patch, status=False)
    return result


def rollout_of(kube: Kube, release: str, service: str) -> str:
    """The name of the service's Rollout; NotFound when canary is off for it."""
    found = workload(kube, release, service)
    if found.rollout is None:
        raise NotFound(
            f"service {service!r} has no Rollout in namespace {kube.namespace!r}: canary releases are off for it "
            f"(chart value services.{service}.canary.enabled)"
        )
    return name_of(found.rollout)


def promote(kube: Kube, release: str, service: str, *, full: bool) -> str:
    name = rollout_of(kube, release, service)
    rollout = kube.get_rollout(name)
    apply(kube, name, promote_patches(rollout, full=full))
    return f"rollout '{name}' {'fully promoted' if full else 'promoted'}"


ABORT_PATCH: Json = {"status": {"abort": True}}


def abort(kube: Kube, release: str, service: str) -> str:
    name = rollout_of(kube, release, service)
    apply(kube, name, Patches(spec=None, status=ABORT_PATCH, unified=ABORT_PATCH))
    return f"rollout '{name}' aborted"
