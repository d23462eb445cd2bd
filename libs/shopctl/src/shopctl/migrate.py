"""`shopctl migrate`: run a service's database migrations again, outside `helm upgrade`.

The chart runs migrations as a pre-install/pre-upgrade hook Job per service. Helm keeps the hooks
it rendered in the release record (the Secret `sh.helm.release.v1.<release>.v<N>`), so the Job
created here is exactly the chart's, for the deployed values — only with the image the service's
Deployment runs now, a generated name and no hook annotations.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from shopctl.errors import ApiError, NotFound, OperationFailed
from shopctl.kube import Json, Kube
from shopctl.release import dig, image_of, name_of, service_of, workloads

HOOK_EVENTS = {"pre-install", "post-install", "pre-upgrade"}
GZIP_MAGIC = b"\x1f\x8b\x08"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
# A re-run Job cleans itself up a day after it finishes (the hook Jobs use their own policy).
TTL_SECONDS_AFTER_FINISHED = 86400
LOG_TAIL_LINES = 200


@dataclass(frozen=True)
class Outcome:
    service: str
    job: str
    succeeded: bool
    detail: str


def decode_release(data: str) -> Json:
    """A Helm release record from its Secret's `data.release`: base64 (the Secret's encoding) of
    base64 of gzipped JSON."""
    raw = base64.b64decode(base64.b64decode(data))
    if raw[:3] == GZIP_MAGIC:
        raw = gzip.decompress(raw)
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise ValueError("a Helm release record must be a JSON object")
    return document


def deployed_release(kube: Kube, release: str) -> Json:
    secrets = kube.list_secrets(f"owner=helm,name={release},status=deployed")
    if not secrets:
        raise NotFound(
            f"no deployed Helm release {release!r} in namespace {kube.namespace!r}: shopctl migrate reads the "
            "migration Jobs from the release record (Secret sh.helm.release.v1.<release>.v<N>)"
        )
    latest = max(secrets, key=lambda s: int(dig(s, "metadata", "labels", "version") or 0))
    try:
        return decode_release(str(dig(latest, "data", "release")))
    except (ValueError, OSError) as exc:
        raise OperationFailed(f"cannot read the Helm release record {name_of(latest)}: {exc}") from exc


def migration_jobs(record: Json, release: str) -> dict[str, Json]:
    """Service -> the manifest of its migration hook Job (run on install and before upgrades)."""
    jobs: dict[str, Json] = {}
    for hook in record.get("hooks") or []:
        if hook.get("kind") != "Job" or not HOOK_EVENTS & set(hook.get("events") or []):
            continue
        manifest = yaml.safe_load(hook.get("manifest") or "")
        if isinstance(manifest, dict):
            jobs[service_of(manifest, release)] = manifest
    return jobs


def repository(image: str) -> str:
    """registry/name of an image reference, without tag or digest."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def job_from_hook(hook: Json, image: str, namespace: str) -> Json:
    """A standalone Job from the hook's manifest, running `image` where the hook runs the same repository."""
    job = copy.deepcopy(hook)
    metadata = job.setdefault("metadata", {})
    metadata["generateName"] = f"{str(metadata.pop('name', 'migrate'))[:50]}-"
    metadata["namespace"] = namespace
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if not k.startswith("helm.sh/hook")}
    metadata["annotations"] = {**annotations, "shop.example.com/started-by": "shopctl migrate"}
    labels = metadata.setdefault("labels", {})
    labels["app.kubernetes.io/managed-by"] = "shopctl"
    spec = job.setdefault("spec", {})
    spec.setdefault("ttlSecondsAfterFinished", TTL_SECONDS_AFTER_FINISHED)
    pod = dig(spec, "template", "spec") or {}
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        if repository(str(container.get("image") or "")) == repository(image):
            container["image"] = image
    return job


def job_state(job: Json) -> tuple[str, str]:
    """('succeeded' | 'failed' | 'running', reason) from the Job's terminal conditions."""
    for condition in dig(job, "status", "conditions") or []:
        if condition.get("status") != "True":
            continue
        reason = ": ".join(str(x) for x in (condition.get("reason"), condition.get("message")) if x)
        if condition.get("type") == "Complete":
            return "succeeded", reason
        if condition.get("type") == "Failed":
            return "failed", reason
    return "running", ""


def run(
    kube: Kube,
    release: str,
    services: list[str],
    *,
    timeout: float,
    poll_interval: float,
    out: TextIO,
    err: TextIO,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = time.sleep,
) -> list[Outcome]:
    """Create the migration Job of each service (all of them when none are named), wait for every
    one to finish, print the logs of the failed ones. Raises OperationFailed if any failed."""
    hooks = migration_jobs(deployed_release(kube, release), release)
    chosen = services or sorted(hooks)
    for service in chosen:
        if service not in hooks:
            known = ", ".join(sorted(hooks)) or "none"
            raise NotFound(
                f"release {release!r} has no migration Job for {service!r} (services with migrations: {known})"
            )
    images = {w.service: image_of(w.deployment, w.service) for w in workloads(kube, release)}

    started: dict[str, str] = {}
    for service in chosen:
        image = images.get(service) or _hook_image(hooks[service])
        created = kube.create_job(job_from_hook(hooks[service], image, kube.namespace))
        started[service] = name_of(created)
        print(f"{service}: started job/{started[service]} ({image})", file=out, flush=True)

    outcomes: dict[str, Outcome] = {}
    deadline = clock() + timeout
    while True:
        for service, name in started.items():
            if service in outcomes:
                continue
            state, reason = job_state(kube.get_job(name))
            if state != "running":
                outcomes[service] = Outcome(service, name, state == "succeeded", reason)
                because = f" ({reason})" if reason and state == "failed" else ""
                print(f"{service}: job/{name} {state}{because}", file=out)
        if len(outcomes) == len(started):
            break
        if clock() >= deadline:
            for service, name in started.items():
                if service not in outcomes:
                    outcomes[service] = Outcome(service, name, False, f"not finished after {timeout:g}s")
                    print(f"{service}: job/{name} did not finish within {timeout:g}s (it keeps running)", file=out)
            break
        sleep(poll_interval)

    failed = [o for o in outcomes.values() if not o.succeeded]
    for outcome in failed:
        print_logs(kube, outcome.job, err)
    if failed:
        names = ", ".join(f"{o.service} ({o.detail})" for o in failed)
        raise OperationFailed(f"migration failed for {names}")
    return [outcomes[s] for s in chosen]


def print_logs(kube: Kube, job: str, err: TextIO) -> None:
    pods = sorted(kube.list_pods(f"{JOB_NAME_LABEL}={job}"), key=lambda p: str(dig(p, "metadata", "creationTimestamp")))
    if not pods:
        print(f"--- job/{job}: no pods (check `kubectl describe job {job}`)", file=err)
    for pod in pods:
        spec = dig(pod, "spec") or {}
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            name = str(container.get("name"))
            print(f"--- logs of pod/{name_of(pod)} container {name} (last {LOG_TAIL_LINES} lines)", file=err)
            try:
                print(kube.pod_log(name_of(pod), name, LOG_TAIL_LINES).rstrip("\n"), file=err)
            except ApiError as exc:
                print(f"(no log: {exc})", file=err)


def _hook_image(hook: Json) -> str:
    containers = dig(hook, "spec", "template", "spec", "containers") or []
    return str(containers[0].get("image") or "") if containers else ""
