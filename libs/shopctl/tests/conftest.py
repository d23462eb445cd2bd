"""A Kubernetes API server in miniature for shopctl's tests: an in-process HTTP server that keeps
namespaced objects in memory and answers the REST calls the `kubernetes` client makes — list (with
label selectors), get, create (with generateName), JSON merge patch of an object or of its status
subresource, pod logs — with the status codes and `Status` error bodies a real API server sends.
It records every request. A small job controller completes or fails the Jobs it is told to, with
the pods, conditions and logs the real one leaves behind.

The `shop` fixture loads it with a release as a cluster holds it after `helm install`: objects
shaped like the API reference documents them (metadata the server fills, status the controllers
write).
"""

from __future__ import annotations

import base64
import copy
import gzip
import io
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from shopctl.cli import run

Json = dict[str, Any]
NAMESPACE = "shop"
RELEASE = "shop"
CREATED = "2026-05-04T10:00:00Z"
APPS = "/apis/apps/v1"
ARGO = "/apis/argoproj.io/v1alpha1"
BATCH = "/apis/batch/v1"
CORE = "/api/v1"
MERGE_PATCH = "application/merge-patch+json"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    body: Any


@dataclass
class JobScript:
    """What the fake job controller does with the next Job created for a service: after `polls`
    reads of the Job it finishes, succeeding or failing; its pod logs `log`."""

    succeed: bool
    log: str
    polls: int = 2


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors: `a=b`, `a==b`, `a!=b`, `a`, comma-separated."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def status_body(code: int, reason: str, message: str, details: Json | None = None) -> Json:
    body: Json = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


# plural -> (API path prefix, group of error messages, kind, apiVersion)
RESOURCES: dict[str, tuple[str, str, str, str]] = {
    "deployments": (APPS, "deployments.apps", "Deployment", "apps/v1"),
    "rollouts": (ARGO, "rollouts.argoproj.io", "Rollout", "argoproj.io/v1alpha1"),
    "analysisruns": (ARGO, "analysisruns.argoproj.io", "AnalysisRun", "argoproj.io/v1alpha1"),
    "jobs": (BATCH, "jobs.batch", "Job", "batch/v1"),
    "pods": (CORE, "pods", "Pod", "v1"),
    "secrets": (CORE, "secrets", "Secret", "v1"),
}
PATH = re.compile(
    r"^(?P<prefix>/api/v1|/apis/[^/]+/[^/]+)/namespaces/(?P<namespace>[^/]+)/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<subresource>[^/]+))?)?$"
)
NOT_FOUND = "the server could not find the requested resource"


@dataclass
class FakeKubeApi:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    objects: dict[tuple[str, str], dict[str, Json]] = field(default_factory=dict)  # (namespace, plural)
    logs: dict[tuple[str, str], str] = field(default_factory=dict)  # (pod, container)
    job_scripts: dict[str, JobScript] = field(default_factory=dict)  # by app.kubernetes.io/name
    denied: set[tuple[str, str]] = field(default_factory=set)  # (verb, plural[/subresource]) -> 403
    argo_installed: bool = True
    rollout_status_subresource: bool = True  # False: Argo Rollouts before v0.10
    lock: threading.Lock = field(default_factory=threading.Lock)
    _version: int = 1000
    _job_reads: dict[str, int] = field(default_factory=dict)

    # state helpers for tests

    def add(self, plural: str, obj: Json, namespace: str = NAMESPACE) -> Json:
        """Store an object as the API server would return it (server-filled metadata added)."""
        _, _, kind, api_version = RESOURCES[plural]
        stored = {"apiVersion": api_version, "kind": kind, **copy.deepcopy(obj)}
        metadata = stored.setdefault("metadata", {})
        metadata["namespace"] = namespace
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", CREATED)
        metadata.setdefault("generation", 1)
        metadata["resourceVersion"] = self._next_version()
        self.objects.setdefault((namespace, plural), {})[metadata["name"]] = stored
        return stored

    def get(self, plural: str, name: str, namespace: str = NAMESPACE) -> Json:
        return self.objects[(namespace, plural)][name]

    def remove(self, plural: str, name: str, namespace: str = NAMESPACE) -> None:
        del self.objects[(namespace, plural)][name]

    def calls(self, method: str, fragment: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and fragment in r.path]

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    # the REST API

    def handle(self, method: str, raw_path: str, content_type: str | None, body: bytes) -> tuple[int, str, bytes]:
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body.decode()
        with self.lock:
            self.requests.append(Request(method, path, query, content_type, parsed))
            code, payload = self._route(method, path, query, content_type, parsed)
        if isinstance(payload, str):
            return code, "text/plain", payload.encode()
        return code, "application/json", json.dumps(payload).encode()

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], content_type: str | None, body: Any
    ) -> tuple[int, Json | str]:
        match = PATH.match(path)
        if not match or match["plural"] not in RESOURCES or RESOURCES[match["plural"]][0] != match["prefix"]:
            return 404, status_body(404, "NotFound", NOT_FOUND)
        if match["prefix"] == ARGO and not self.argo_installed:
            return 404, status_body(404, "NotFound", NOT_FOUND)
        namespace, plural, name, subresource = match["namespace"], match["plural"], match["name"], match["subresource"]
        group = RESOURCES[plural][1]
        verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch"}.get(method, method.lower())
        resource = f"{plural}/{subresource}" if subresource else plural
        if (verb, resource) in self.denied:
            api_group = group.partition(".")[2]
            return 403, status_body(
                403,
                "Forbidden",
                f'{group} "{name or ""}" is forbidden: User "sre" cannot {verb} resource "{resource}" '
                f'in API group "{api_group}" in the namespace "{namespace}"',
            )
        collection = self.objects.setdefault((namespace, plural), {})
        if name is None:
            if method == "GET":
                return 200, self._list(plural, collection, (query.get("labelSelector") or [""])[0])
            if method == "POST":
                return self._create(plural, namespace, content_type, body)
            return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method")
        obj = collection.get(name)
        if obj is None:
            return 404, status_body(404, "NotFound", f'{group} "{name}" not found', {"name": name, "kind": plural})
        if subresource == "log" and plural == "pods" and method == "GET":
            tail = int((query.get("tailLines") or ["0"])[0])
            lines = self.logs.get((name, (query.get("container") or [""])[0]), "").splitlines(keepends=True)
            return 200, "".join(lines[-tail:] if tail else lines)
        if subresource == "status" and plural == "rollouts" and not self.rollout_status_subresource:
            return 404, status_body(404, "NotFound", NOT_FOUND)
        if subresource not in (None, "status"):
            return 404, status_body(404, "NotFound", NOT_FOUND)
        if method == "GET":
            if plural == "jobs":
                self._job_controller(obj)
            return 200, obj
        if method == "PATCH":
            return self._patch(obj, subresource, content_type, body)
        return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method")

    def _list(self, plural: str, collection: dict[str, Json], selector: str) -> Json:
        _, _, kind, api_version = RESOURCES[plural]
        items = [obj for obj in collection.values() if selector_matches(selector, obj["metadata"].get("labels") or {})]
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(self._version)},
            "items": items,
        }

    def _create(self, plural: str, namespace: str, content_type: str | None, body: Any) -> tuple[int, Json]:
        _, group, kind, api_version = RESOURCES[plural]
        if content_type != "application/json":
            return 415, status_body(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
        if not isinstance(body, dict) or body.get("kind") != kind or body.get("apiVersion") != api_version:
            return 400, status_body(400, "BadRequest", f"the body is not a {api_version} {kind}")
        metadata = body.get("metadata") or {}
        if metadata.get("namespace", namespace) != namespace:
            return 400, status_body(400, "BadRequest", "the namespace of the object does not match the request")
        name = metadata.get("name") or (
            metadata.get("generateName", "") + uuid.uuid4().hex[:5] if metadata.get("generateName") else ""
        )
        if not name:
            return 422, status_body(422, "Invalid", f"{kind} is invalid: metadata.name: Required value")
        if name in self.objects.get((namespace, plural), {}):
            return 409, status_body(409, "AlreadyExists", f'{group} "{name}" already exists')
        created = copy.deepcopy(body)
        created["metadata"] = {**metadata, "name": name}
        created.setdefault("status", {})
        if kind == "Job":
            uid = str(uuid.uuid4())
            created["metadata"]["uid"] = uid
            labels = created["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {})
            labels.update({"batch.kubernetes.io/job-name": name, "job-name": name, "controller-uid": uid})
            created["status"] = {"startTime": CREATED, "active": 1, "ready": 0}
        return 201, self.add(plural, created, namespace)

    def _patch(self, obj: Json, subresource: str | None, content_type: str | None, body: Any) -> tuple[int, Json]:
        if content_type != MERGE_PATCH or not isinstance(body, dict):
            return 415, status_body(415, "UnsupportedMediaType", "this fake serves JSON merge patches only")
        patched = merge_patch(obj, body)
        if subresource == "status":
            # The status subresource ignores everything but status.
            patched = {**obj, "status": patched.get("status", {})}
        elif self.rollout_status_subresource or obj["kind"] != "Rollout":
            # With a status subresource the main resource ignores status changes.
            patched["status"] = obj.get("status", {})
        if patched.get("spec") != obj.get("spec"):
            patched["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
        patched["metadata"]["resourceVersion"] = self._next_version()
        obj.clear()
        obj.update(patched)
        return 200, obj

    def _job_controller(self, job: Json) -> None:
        """Progress a Job the way the job controller would, per the script for its service."""
        name = job["metadata"]["name"]
        if any(c.get("status") == "True" for c in job["status"].get("conditions", [])):
            return
        labels = job["metadata"].get("labels") or {}
        script = self.job_scripts.get(labels.get("app.kubernetes.io/name", ""))
        if script is None:
            return
        self._job_reads[name] = self._job_reads.get(name, 0) + 1
        if self._job_reads[name] < script.polls:
            return
        pod_name = f"{name}-{uuid.uuid4().hex[:5]}"
        template = job["spec"]["template"]
        phase = "Succeeded" if script.succeed else "Failed"
        exit_code = 0 if script.succeed else 1
        self.add(
            "pods",
            {
                "metadata": {
                    "name": pod_name,
                    "labels": dict(template["metadata"]["labels"]),
                    "ownerReferences": [
                        {
                            "apiVersion": "batch/v1",
                            "kind": "Job",
                            "name": name,
                            "uid": job["metadata"]["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": template["spec"],
                "status": {
                    "phase": phase,
                    "containerStatuses": [
                        {
                            "name": c["name"],
                            "image": c["image"],
                            "ready": False,
                            "restartCount": 0,
                            "state": {
                                "terminated": {
                                    "exitCode": exit_code,
                                    "reason": "Completed" if exit_code == 0 else "Error",
                                }
                            },
                        }
                        for c in template["spec"]["containers"]
                    ],
                },
            },
            job["metadata"]["namespace"],
        )
        for container in template["spec"]["containers"]:
            self.logs[(pod_name, container["name"])] = script.log
        if script.succeed:
            job["status"] = {
                "startTime": CREATED,
                "completionTime": "2026-05-04T10:00:09Z",
                "succeeded": 1,
                "ready": 0,
                "conditions": [
                    {
                        "type": "SuccessCriteriaMet",
                        "status": "True",
                        "reason": "CompletionsReached",
                        "message": "Reached expected number of succeeded pods",
                    },
                    {
                        "type": "Complete",
                        "status": "True",
                        "reason": "CompletionsReached",
                        "message": "Reached expected number of succeeded pods",
                    },
                ],
            }
        else:
            job["status"] = {
                "startTime": CREATED,
                "failed": 1,
                "ready": 0,
                "conditions": [
                    {
                        "type": "FailureTarget",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                    },
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                    },
                ],
            }
        job["metadata"]["resourceVersion"] = self._next_version()


def _handler(api: FakeKubeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            code, content_type, payload = api.handle(self.command, self.path, self.headers.get("Content-Type"), body)
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    fake = FakeKubeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def write_kubeconfig(path: Path, server: str, namespace: str | None = NAMESPACE) -> Path:
    context: Json = {"cluster": "test", "user": "sre"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": {"server": server}}],
                "users": [{"name": "sre", "user": {"token": "test-token"}}],
                "contexts": [{"name": "test", "context": context}],
                "current-context": "test",
            }
        )
    )
    return path


@pytest.fixture
def kubeconfig(api: FakeKubeApi, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", api.url)


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Shopctl:
    kubeconfig: Path

    def __call__(self, *argv: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = run([*argv, "--kubeconfig", str(self.kubeconfig)], out, err)
        return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def shopctl(kubeconfig: Path) -> Shopctl:
    return Shopctl(kubeconfig)


def release_secret(release: str, version: int, status: str, hooks: list[Json]) -> Json:
    """A Helm release record as Helm's Secret storage driver writes it."""
    record = {
        "name": release,
        "namespace": NAMESPACE,
        "version": version,
        "info": {"status": status, "description": "Upgrade complete"},
        "chart": {"metadata": {"name": "shop", "version": "0.1.0"}},
        "config": {},
        "manifest": "",
        "hooks": hooks,
    }
    payload = base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()
    return {
        "metadata": {
            "name": f"sh.helm.release.v1.{release}.v{version}",
            "labels": {"name": release, "owner": "helm", "status": status, "version": str(version)},
        },
        "type": "helm.sh/release.v1",
        "data": {"release": base64.b64encode(payload.encode()).decode()},
    }


# A release as the cluster holds it after `helm install shop charts/shop` (names and labels as the
# chart renders them; status as the controllers write it).

REGISTRY = "registry.example.com"
STABLE_HASH = "5b8f7c9d6"
CANARY_HASH = "7d9c6b5f4"


def image(service: str, tag: str) -> str:
    return f"{REGISTRY}/shop-{service}:{tag}"


def chart_labels(service: str, component: str = "service", release: str = RELEASE) -> dict[str, str]:
    return {
        "helm.sh/chart": "shop-0.1.0",
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/version": "0.1.0",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/managed-by": "Helm",
    }


def canary_steps(service: str) -> list[Json]:
    analysis = {"analysis": {"templates": [{"templateName": f"{RELEASE}-{service}-red"}]}}
    return [
        {"setWeight": 20},
        {"pause": {"duration": "2m"}},
        analysis,
        {"setWeight": 50},
        {"pause": {"duration": "2m"}},
        analysis,
        {"setWeight": 100},
    ]


def _counts(**counts: int) -> dict[str, int]:
    # The API server leaves zero counts out of workload status.
    return {key: value for key, value in counts.items() if value}


def deployment(
    service: str,
    *,
    tag: str = "0.1.0",
    replicas: int = 2,
    ready: int | None = None,
    updated: int | None = None,
    available: int | None = None,
    total: int | None = None,
    generation: int = 1,
    observed: int | None = None,
    deadline_exceeded: bool = False,
    release: str = RELEASE,
) -> Json:
    ready = replicas if ready is None else ready
    updated = replicas if updated is None else updated
    available = ready if available is None else available
    total = max(replicas, updated) if total is None else total
    selector = {k: v for k, v in chart_labels(service, release=release).items() if k.startswith("app.kubernetes.io/")}
    selector = {
        k: selector[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")
    }
    progressing: Json = (
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": f'ReplicaSet "{release}-{service}-6c5d8f7b9" has timed out progressing.',
        }
        if deadline_exceeded
        else {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable",
            "message": f'ReplicaSet "{release}-{service}-6c5d8f7b9" has successfully progressed.',
        }
    )
    return {
        "metadata": {
            "name": f"{release}-{service}",
            "generation": generation,
            "labels": chart_labels(service, release=release),
            "annotations": {
                "deployment.kubernetes.io/revision": str(generation),
                "meta.helm.sh/release-name": release,
                "meta.helm.sh/release-namespace": NAMESPACE,
            },
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": dict(selector)},
                "spec": {
                    "serviceAccountName": f"{release}-{service}",
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": service,
                            "image": image(service, tag),
                            "args": ["serve"],
                            "ports": [{"name": "grpc", "containerPort": 50051, "protocol": "TCP"}],
                            "imagePullPolicy": "Always",
                        }
                    ],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                },
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": generation if observed is None else observed,
            **_counts(
                replicas=total,
                updatedReplicas=updated,
                readyReplicas=ready,
                availableReplicas=available,
                unavailableReplicas=max(total - available, 0),
            ),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available >= min(replicas, 1) else "False",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                },
                progressing,
            ],
        },
    }


def rollout(
    service: str,
    *,
    replicas: int = 5,
    step_index: int | None = 1,
    paused: bool = False,
    pause_reason: str | None = "CanaryPauseStep",
    current_hash: str = CANARY_HASH,
    stable_hash: str = STABLE_HASH,
    abort: bool = False,
    phase: str = "Paused",
    message: str = "CanaryPauseStep",
    updated: int = 1,
    ready: int | None = None,
    analysis_run: str | None = None,
    steps: list[Json] | None = None,
) -> Json:
    ready = replicas if ready is None else ready
    status: Json = {
        "HPAReplicas": replicas,
        **_counts(replicas=replicas, updatedReplicas=updated, readyReplicas=ready, availableReplicas=ready),
        "blueGreen": {},
        "canary": {},
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "AvailableReason",
                "message": "Rollout has minimum availability",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "RolloutPaused" if phase == "Paused" else "ReplicaSetUpdated",
                "message": "Rollout is paused"
                if phase == "Paused"
                else f'ReplicaSet "{RELEASE}-{service}-{current_hash}" is progressing.',
            },
        ],
        "currentPodHash": current_hash,
        "currentStepHash": "6d4f8b7c5b",
        "observedGeneration": "3",
        "phase": phase,
        "message": message,
        "selector": (
            f"app.kubernetes.io/component=service,app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name={service}"
        ),
        "stableRS": stable_hash,
        "workloadObservedGeneration": "2",
    }
    if step_index is not None:
        status["currentStepIndex"] = step_index
    if pause_reason:
        status["pauseConditions"] = [{"reason": pause_reason, "startTime": "2026-05-04T10:02:00Z"}]
        status["controllerPause"] = True
    if abort:
        status["abort"] = True
        status["abortedAt"] = "2026-05-04T10:05:00Z"
    if analysis_run:
        status["canary"] = {"currentStepAnalysisRunStatus": {"name": analysis_run, "status": "Running"}}
    spec: Json = {
        "replicas": replicas,
        "revisionHistoryLimit": 10,
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": service,
                "app.kubernetes.io/instance": RELEASE,
                "app.kubernetes.io/component": "service",
            }
        },
        "workloadRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"{RELEASE}-{service}",
            "scaleDown": "progressively",
        },
        "strategy": {
            "canary": {
                "canaryService": f"{RELEASE}-{service}-canary",
                "stableService": f"{RELEASE}-{service}-stable",
                "steps": canary_steps(service) if steps is None else steps,
            }
        },
    }
    if paused:
        spec["paused"] = True
    return {
        "metadata": {"name": f"{RELEASE}-{service}", "generation": 3, "labels": chart_labels(service, "canary")},
        "spec": spec,
        "status": status,
    }


def analysis_run(rollout_obj: Json, *, name: str, phase: str, created: str, pod_hash: str, step: int = 2) -> Json:
    service = rollout_obj["metadata"]["labels"]["app.kubernetes.io/name"]
    query = (
        f'sum(rate(grpc_server_handled_total{{namespace="{NAMESPACE}",'
        f'pod=~"{RELEASE}-{service}-{pod_hash}-.*",grpc_code=~"Internal|Unknown|Unavailable"}}[2m]))'
    )
    measurement = {"phase": "Successful", "value": "[0.002]", "startedAt": created, "finishedAt": created}
    status: Json = {"phase": phase, "startedAt": created, "runSummary": {"count": 1, "successful": 1}}
    if phase != "Pending":
        status["metricResults"] = [
            {
                "name": "error-rate",
                "phase": "Successful" if phase != "Failed" else "Failed",
                "count": 1,
                "successful": 1 if phase != "Failed" else 0,
                "failed": 1 if phase == "Failed" else 0,
                "measurements": [
                    measurement if phase != "Failed" else {**measurement, "phase": "Failed", "value": "[0.3]"}
                ],
            }
        ]
    if phase == "Failed":
        status["message"] = 'Metric "error-rate" assessed Failed due to failed (1) > failureLimit (0)'
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "labels": {"rollout-type": "Step", "rollouts-pod-template-hash": pod_hash, "step-index": str(step)},
            "annotations": {"rollout.argoproj.io/revision": "3"},
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Rollout",
                    "name": rollout_obj["metadata"]["name"],
                    "uid": rollout_obj["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "metrics": [
                {
                    "name": "error-rate",
                    "interval": "1m",
                    "count": 3,
                    "failureLimit": 1,
                    "successCondition": "result[0] <= 0.01",
                    "provider": {
                        "prometheus": {"address": "http://prometheus-operated.monitoring.svc:9090", "query": query}
                    },
                }
            ]
        },
        "status": status,
    }


def hook_job(service: str, tag: str = "0.1.0") -> Json:
    """The chart's migration hook Job of a service."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{RELEASE}-{service}-migrate",
            "namespace": NAMESPACE,
            "labels": chart_labels(service, "migration"),
            "annotations": {
                "helm.sh/hook": "pre-install,pre-upgrade",
                "helm.sh/hook-weight": "-5",
                "helm.sh/hook-delete-policy": "before-hook-creation",
            },
        },
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": chart_labels(service, "migration")},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": f"{RELEASE}-{service}",
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "migrate",
                            "image": image(service, tag),
                            "args": ["migrate"],
                            "env": [
                                {
                                    "name": "DATABASE_URL",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": f"{RELEASE}-{service}-db-app", "key": "uri"}
                                    },
                                }
                            ],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def hook_record(manifest: Json, events: tuple[str, ...] = ("pre-install", "pre-upgrade")) -> Json:
    """A hook as Helm keeps it in the release record."""
    return {
        "name": manifest["metadata"]["name"],
        "kind": manifest["kind"],
        "path": "shop/templates/migrations.yaml",
        "manifest": yaml.safe_dump(manifest, sort_keys=False),
        "events": list(events),
        "last_run": {"started_at": CREATED, "completed_at": CREATED, "phase": "Succeeded"},
        "weight": -5,
        "delete_policies": ["before-hook-creation"],
    }


@pytest.fixture
def shop(api: FakeKubeApi) -> FakeKubeApi:
    """Release `shop`: catalog mid-canary (paused after setWeight 20, a step analysis running), cart
    healthy, checkout rolling out, gateway stuck; a second release beside it."""
    api.add("deployments", deployment("catalog", tag="0.2.0", replicas=0, generation=2))
    catalog = api.add("rollouts", rollout("catalog", analysis_run=f"{RELEASE}-catalog-{CANARY_HASH}-3-2"))
    api.add(
        "analysisruns",
        analysis_run(
            catalog,
            name=f"{RELEASE}-catalog-{STABLE_HASH}-2-5",
            phase="Successful",
            created="2026-05-01T09:00:00Z",
            pod_hash=STABLE_HASH,
            step=5,
        ),
    )
    api.add(
        "analysisruns",
        analysis_run(
            catalog,
            name=f"{RELEASE}-catalog-{CANARY_HASH}-3-2",
            phase="Running",
            created="2026-05-04T10:04:00Z",
            pod_hash=CANARY_HASH,
        ),
    )
    api.add("deployments", deployment("cart", replicas=3))
    api.add("deployments", deployment("checkout", tag="0.2.0", replicas=3, updated=1, ready=3, total=4, generation=4))
    api.add("deployments", deployment("gateway", replicas=2, ready=1, deadline_exceeded=True))
    api.add("deployments", deployment("catalog", release="staging", replicas=1))
    return api


class Build:
    """The builders above, for tests (which cannot import conftest at run time)."""

    RELEASE = RELEASE
    NAMESPACE = NAMESPACE
    STABLE_HASH = STABLE_HASH
    CANARY_HASH = CANARY_HASH
    image = staticmethod(image)
    deployment = staticmethod(deployment)
    rollout = staticmethod(rollout)
    analysis_run = staticmethod(analysis_run)
    hook_job = staticmethod(hook_job)
    hook_record = staticmethod(hook_record)
    release_secret = staticmethod(release_secret)
    write_kubeconfig = staticmethod(write_kubeconfig)
    JobScript = JobScript


@pytest.fixture
def build() -> type[Build]:
    return Build
