"""The one place shopctl talks to the Kubernetes API (through the official `kubernetes` client).

Every call asks for the raw response (`_preload_content=False`) and returns the JSON object as a
dict: shopctl reads a few fields of Argo Rollouts custom resources and Helm release Secrets that
the client has no models for, and raw JSON keeps Deployments, Jobs and Rollouts alike. Client
exceptions become shopctl errors here, so the commands never see the client's types.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config

from shopctl.errors import ApiError, ClusterUnreachable

Json = dict[str, Any]

ARGO_GROUP = "argoproj.io"
ARGO_VERSION = "v1alpha1"
MERGE_PATCH = "application/merge-patch+json"
# (connect, read) seconds for each request; a CLI should fail fast on a dead endpoint.
REQUEST_TIMEOUT = (5.0, 30.0)
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Target:
    """Where to connect: the kubeconfig file(s), the context and the namespace (all optional)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def connect(target: Target, default_namespace: str) -> Kube:
    """A client for the target. The namespace is --namespace, else the context's, else the default."""
    configuration = client.Configuration()
    configuration.retries = 1
    path = target.kubeconfig or os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    context_namespace: str | None
    if target.kubeconfig is None and not _any_file(path) and "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        context_namespace = IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.exists() else None
    else:
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=target.context, client_configuration=configuration, persist_config=False
            )
            contexts, current = config.list_kube_config_contexts(path)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
            raise ClusterUnreachable(f"cannot use kubeconfig {path}: {exc}") from exc
        active = next((c for c in contexts if c.get("name") == target.context), current) if target.context else current
        context_namespace = ((active or {}).get("context") or {}).get("namespace")
    namespace = target.namespace or context_namespace or default_namespace
    return Kube(client.ApiClient(configuration), namespace)


def _any_file(paths: str) -> bool:
    return any(Path(p).expanduser().is_file() for p in paths.split(os.pathsep) if p)


class Kube:
    """Namespaced calls used by shopctl, each returning parsed JSON."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.server: str = api_client.configuration.host
        self._apps = client.AppsV1Api(api_client)
        self._batch = client.BatchV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)

    # Deployments, Rollouts, AnalysisRuns

    def list_deployments(self, selector: str) -> list[Json]:
        with self._calling("list Deployments"):
            response = self._apps.list_namespaced_deployment(
                self.namespace, label_selector=selector, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        return _items(response)

    def list_argo(self, plural: str) -> list[Json]:
        """Every Rollout/AnalysisRun in the namespace; none when Argo Rollouts is not installed."""
        try:
            with self._calling(f"list {plural}"):
                response = self._custom.list_namespaced_custom_object(
                    ARGO_GROUP,
                    ARGO_VERSION,
                    self.namespace,
                    plural,
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
        except ApiError as exc:
            if exc.status == 404:  # the CRD is not installed
                return []
            raise
        return _items(response)

    def get_rollout(self, name: str) -> Json:
        with self._calling(f"get Rollout {name}"):
            response = self._custom.get_namespaced_custom_object(
                ARGO_GROUP,
                ARGO_VERSION,
                self.namespace,
                "rollouts",
                name,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        return _object(response)

    def patch_rollout(self, name: str, patch: Json, *, status: bool) -> Json:
        """A JSON merge patch of the Rollout, or of its status subresource."""
        with self._calling(f"patch Rollout {name}{'/status' if status else ''}"):
            if status:
                response = self._custom.patch_namespaced_custom_object_status(
                    ARGO_GROUP,
                    ARGO_VERSION,
                    self.namespace,
                    "rollouts",
                    name,
                    patch,
                    _content_type=MERGE_PATCH,
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            else:
                response = self._custom.patch_namespaced_custom_object(
                    ARGO_GROUP,
                    ARGO_VERSION,
                    self.namespace,
                    "rollouts",
                    name,
                    patch,
                    _content_type=MERGE_PATCH,
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
        return _object(response)

    # Helm release Secrets

    def list_secrets(self, selector: str) -> list[Json]:
        return self._list_core("Secrets", self._core.list_namespaced_secret, selector)

    # Jobs and their pods

    def create_job(self, job: Json) -> Json:
        body = client.V1Job.from_dict(job)
        if body is None:
            raise ApiError("the migration Job manifest is empty", 422)
        with self._calling("create Job"):
            response = self._batch.create_namespaced_job(
                self.namespace,
                body,
                _headers={"Content-Type": "application/json"},
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        return _object(response)

    def get_job(self, name: str) -> Json:
        with self._calling(f"get Job {name}"):
            response = self._batch.read_namespaced_job(
                name, self.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        return _object(response)

    def list_pods(self, selector: str) -> list[Json]:
        return self._list_core("Pods", self._core.list_namespaced_pod, selector)

    def _list_core(self, kinds: str, list_namespaced: Callable[..., Any], selector: str) -> list[Json]:
        with self._calling(f"list {kinds}"):
            response = list_namespaced(
                self.namespace, label_selector=selector, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        return _items(response)

    def pod_log(self, pod: str, container: str, tail_lines: int) -> str:
        with self._calling(f"read the log of {pod}/{container}"):
            response: Any = self._core.read_namespaced_pod_log(
                pod,
                self.namespace,
                container=container,
                tail_lines=tail_lines,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        data: bytes = response.data
        return data.decode("utf-8", "replace")

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        try:
            yield
        except client.ApiException as exc:
            status = int(exc.status or 0)
            message = _status_message(exc.body) or exc.reason or "error"
            raise ApiError(f"{what} in namespace {self.namespace}: {message} (HTTP {status})", status) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ClusterUnreachable(f"cannot reach the Kubernetes API server at {self.server}: {reason}") from exc


def _status_message(body: object) -> str | None:
    """The `message` of a Kubernetes Status error body, if the body is one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        return None
    try:
        status = json.loads(body)
    except ValueError:
        return body.strip() or None
    message = status.get("message") if isinstance(status, dict) else None
    return str(message) if message else None


def _object(response: Any) -> Json:
    document = json.loads(response.data)
    if not isinstance(document, dict):
        raise ApiError("the API server answered with something that is not an object", 500)
    return document


def _items(response: Any) -> list[Json]:
    items = _object(response).get("items") or []
    return [item for item in items if isinstance(item, dict)]
