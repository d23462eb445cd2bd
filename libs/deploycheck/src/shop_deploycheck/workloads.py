"""The workloads a chart render describes, and their environment resolved for a local run.

A rendered Deployment says which command, arguments and environment its container gets; the
migration hook Job says how its database is prepared. To run the same thing on one machine (as a
local process or as a container with podman) the environment is resolved as the kubelet would —
`valueFrom` secrets and field refs, `$(VAR)` references — and every address that names something
in the cluster is pointed at its local stand-in:

- DATABASE_URL (a CloudNativePG `<cluster>-app` secret, or an external URL) -> the service's own
  database on the local PostgreSQL server;
- NATS_URL -> the local NATS server; OTEL_EXPORTER_OTLP_ENDPOINT -> a local endpoint;
- `host:port` of a Service the chart renders -> 127.0.0.1 and the local port of the pod's port;
- `*_PORT` settings equal to one of the container's ports -> that port's local number;
- a Secret mounted as a volume -> a local folder holding its keys as files, when the run has one
  (`secret_dirs`: the components' certificates, see `localtls`); other secret volumes are left out.

The same rewriting of Service addresses applies to a container's command and args (after `$(VAR)`
expansion), which is where the chart's `helm test` Pods name the Service they check.

Anything else that still names a cluster host is an error: the process would fail to resolve it.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shopkit.pki import Issued

Manifest = dict[str, Any]

LOCAL_HOST = "127.0.0.1"
DATABASE_URL = "DATABASE_URL"
NATS_URL = "NATS_URL"
OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
CLUSTER_DOMAIN = "cluster.local"
HELM_HOOK = "helm.sh/hook"
HELM_TEST_HOOKS = frozenset({"test", "test-success"})  # test-success: Helm 2's name, still honoured

# host:port inside a value, with an optional scheme (`dns:///`, `http://`, `nats://`).
_ADDRESS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*:/{0,3})?(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>\d{1,5})\b"
)
# Kubernetes' dependent environment variables: $(NAME) expands, $$(NAME) is a literal $(NAME).
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


class ResolutionError(ValueError):
    """The rendered spec refers to something that has no local value."""


@dataclass(frozen=True)
class Probe:
    kind: str  # "grpc" or "http"
    port: int  # container port
    path: str = ""  # HTTP probes


@dataclass(frozen=True)
class SecretMount:
    """A secret volume mounted into a container: the files are its keys, or `items` (key, path)."""

    path: str  # mountPath
    secret: str  # secretName
    items: tuple[tuple[str, str], ...] = ()
    read_only: bool = True


@dataclass(frozen=True)
class Container:
    """One container of a rendered pod template, as much of it as a local run needs."""

    name: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[Manifest, ...]
    env_from: tuple[Manifest, ...]
    ports: Mapping[str, int]  # port name -> containerPort ("" names unnamed ports by number)
    run_as_user: int | None
    run_as_group: int | None
    read_only_root: bool
    drop_all_capabilities: bool
    no_new_privileges: bool
    tmpfs: tuple[tuple[str, str], ...]  # (mount path, size limit or "") of emptyDir volumes
    memory_limit: int | None  # bytes
    startup: Probe | None
    readiness: Probe | None
    liveness: Probe | None
    secret_mounts: tuple[SecretMount, ...] = ()

    @property
    def health(self) -> Probe | None:
        """The probe that says the container is up: startup first, as the kubelet checks it first."""
        return self.startup or self.readiness

    def resolve_port(self, port: int | str) -> int:
        """A probe's or Service's port given by number or by name."""
        if isinstance(port, int):
            return port
        if port.isdigit():
            return int(port)
        if port not in self.ports:
            raise ResolutionError(f"container {self.name} has no port named {port!r}")
        return self.ports[port]


@dataclass(frozen=True)
class Workload:
    """A Deployment's (first) container and, when it has a database, its migration Job's container."""

    service: str  # app.kubernetes.io/name
    deployment: str
    namespace: str
    labels: Mapping[str, str]  # of the pod template
    annotations: Mapping[str, str]
    service_account: str
    container: Container
    migrate: Container | None

    @property
    def pod_name(self) -> str:
        return f"{self.deployment}-local"

    @property
    def metrics_port(self) -> int | None:
        """The container port named `metrics`, else the `http` port (an HTTP server serves /metrics
        there), else the port of its HTTP probes."""
        for name in ("metrics", "http"):
            if name in self.container.ports:
                return self.container.ports[name]
        probe = self.container.health
        return probe.port if probe is not None and probe.kind == "http" else None

    @property
    def grpc_port(self) -> int | None:
        """The port of its gRPC API: the container port named `grpc`, else that of its gRPC probes."""
        if "grpc" in self.container.ports:
            return self.container.ports["grpc"]
        probe = self.container.health
        return probe.port if probe is not None and probe.kind == "grpc" else None


def _probe(container: Manifest, key: str, ports: Mapping[str, int]) -> Probe | None:
    spec = container.get(key)
    if not spec:
        return None
    if "grpc" in spec:
        return Probe("grpc", int(spec["grpc"]["port"]))
    if "httpGet" in spec:
        port = spec["httpGet"]["port"]
        number = ports[port] if isinstance(port, str) and not port.isdigit() else int(port)
        return Probe("http", number, spec["httpGet"].get("path", "/"))
    if "tcpSocket" in spec:
        port = spec["tcpSocket"]["port"]
        return Probe("tcp", ports[port] if isinstance(port, str) and not port.isdigit() else int(port))
    return None


def quantity_bytes(value: str | int | None) -> int | None:
    if value is None:
        return None
    match = _QUANTITY.match(str(value))
    if match is None:
        raise ResolutionError(f"unsupported memory quantity {value!r}")
    return int(float(match[1]) * _UNITS[match[2]])


def parse_container(container: Manifest, pod_spec: Manifest) -> Container:
    ports = {str(p.get("name") or p["containerPort"]): int(p["containerPort"]) for p in container.get("ports", [])}
    pod_security = pod_spec.get("securityContext") or {}
    security = container.get("securityContext") or {}
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    tmpfs = []
    secrets = []
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        if "emptyDir" in volume:
            tmpfs.append((mount["mountPath"], str((volume["emptyDir"] or {}).get("sizeLimit", ""))))
        elif "secret" in volume:
            source = volume["secret"]
            items = tuple((str(i["key"]), str(i["path"])) for i in source.get("items") or [])
            secrets.append(
                SecretMount(mount["mountPath"], source["secretName"], items, bool(mount.get("readOnly", False)))
            )
    limits = (container.get("resources") or {}).get("limits") or {}
    return Container(
        name=container["name"],
        image=container["image"],
        command=tuple(container.get("command", [])),
        args=tuple(container.get("args", [])),
        env=tuple(container.get("env", [])),
        env_from=tuple(container.get("envFrom", [])),
        ports=ports,
        run_as_user=security.get("runAsUser", pod_security.get("runAsUser")),
        run_as_group=security.get("runAsGroup", pod_security.get("runAsGroup")),
        read_only_root=bool(security.get("readOnlyRootFilesystem", False)),
        drop_all_capabilities="ALL" in ((security.get("capabilities") or {}).get("drop") or []),
        no_new_privileges=security.get("allowPrivilegeEscalation") is False,
        tmpfs=tuple(tmpfs),
        memory_limit=quantity_bytes(limits.get("memory")),
        startup=_probe(container, "startupProbe", ports),
        readiness=_probe(container, "readinessProbe", ports),
        liveness=_probe(container, "livenessProbe", ports),
        secret_mounts=tuple(secrets),
    )


def _template(manifest: Manifest) -> Manifest:
    template: Manifest = manifest["spec"]["template"]
    return template


def workloads(manifests: Iterable[Manifest]) -> list[Workload]:
    """Every Deployment of a render, each with the migration Job that runs its image (if any)."""
    manifests = list(manifests)
    jobs = [m for m in manifests if m.get("kind") == "Job"]
    found = []
    for deployment in (m for m in manifests if m.get("kind") == "Deployment"):
        template = _template(deployment)
        pod = template["spec"]
        container = parse_container(pod["containers"][0], pod)
        migrate = None
        for job in jobs:
            job_pod = _template(job)["spec"]
            for candidate in job_pod["containers"]:
                if candidate["image"] == container.image:
                    migrate = parse_container(candidate, job_pod)
        labels = dict(template.get("metadata", {}).get("labels") or {})
        found.append(
            Workload(
                service=labels.get("app.kubernetes.io/name", deployment["metadata"]["name"]),
                deployment=deployment["metadata"]["name"],
                namespace=deployment["metadata"].get("namespace", "default"),
                labels=labels,
                annotations=dict(template.get("metadata", {}).get("annotations") or {}),
                service_account=pod.get("serviceAccountName", "default"),
                container=container,
                migrate=migrate,
            )
        )
    return found


@dataclass(frozen=True)
class HelmTestPod:
    """A `helm test` Pod of the render (annotation helm.sh/hook: test): its (first) container runs
    to completion, and `helm test` passes when it exits 0."""

    service: str  # app.kubernetes.io/name: the service it checks
    name: str
    namespace: str
    container: Container


def helm_test_pods(manifests: Iterable[Manifest]) -> list[HelmTestPod]:
    found = []
    for m in manifests:
        metadata = m.get("metadata") or {}
        hooks = {h.strip() for h in str((metadata.get("annotations") or {}).get(HELM_HOOK, "")).split(",")}
        if m.get("kind") != "Pod" or not hooks & HELM_TEST_HOOKS:
            continue
        spec = m["spec"]
        found.append(
            HelmTestPod(
                service=(metadata.get("labels") or {}).get("app.kubernetes.io/name", metadata["name"]),
                name=metadata["name"],
                namespace=metadata.get("namespace", "default"),
                container=parse_container(spec["containers"][0], spec),
            )
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL_HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class PortMap:
    """Local port numbers for the pods' container ports: several pods may use the same number, and
    a fixed port may be taken on this machine."""

    allocate: Callable[[], int] = free_port
    _ports: dict[tuple[str, int], int] = field(default_factory=dict)

    def local(self, deployment: str, container_port: int) -> int:
        key = (deployment, container_port)
        if key not in self._ports:
            taken = set(self._ports.values())
            port = self.allocate()
            while port in taken:
                port = self.allocate()
            self._ports[key] = port
        return self._ports[key]


@dataclass(frozen=True)
class ClusterService:
    """A rendered Service: the names it answers to in cluster DNS and where its ports lead."""

    name: str
    namespace: str
    selector: Mapping[str, str]
    ports: Mapping[int, int | str]  # service port -> targetPort

    def hostnames(self) -> set[str]:
        base = f"{self.name}.{self.namespace}"
        return {base, f"{base}.svc", f"{base}.svc.{CLUSTER_DOMAIN}"}


def cluster_services(manifests: Iterable[Manifest]) -> list[ClusterService]:
    found = []
    for m in manifests:
        if m.get("kind") != "Service":
            continue
        spec = m.get("spec", {})
        ports = {int(p["port"]): p.get("targetPort", p["port"]) for p in spec.get("ports", [])}
        found.append(
            ClusterService(
                m["metadata"]["name"], m["metadata"].get("namespace", "default"), spec.get("selector") or {}, ports
            )
        )
    return found


@dataclass
class LocalEnvironment:
    """The local stand-ins of a render's cluster: database URLs per service, NATS, a telemetry
    endpoint, and the local ports of every pod (shared by all workloads, so peers find each other)."""

    manifests: Sequence[Manifest]
    database_urls: Mapping[str, str]  # service -> URL of its own local database
    nats_url: str
    otlp_endpoint: str
    ports: PortMap = field(default_factory=PortMap)
    node_name: str = "local"
    # Secret name -> a local folder with its keys as files (see `localtls`); mounted where pods mount it.
    secret_dirs: Mapping[str, Path] = field(default_factory=dict)
    # The certificate a local check presents to the servers it calls (the operators' tooling).
    client: Issued | None = None

    def __post_init__(self) -> None:
        self._workloads = workloads(self.manifests)
        self._services = cluster_services(self.manifests)
        self._config_maps = {
            (m["metadata"].get("namespace", "default"), m["metadata"]["name"]): m.get("data") or {}
            for m in self.manifests
            if m.get("kind") == "ConfigMap"
        }

    @property
    def workloads(self) -> list[Workload]:
        return self._workloads

    def local_port(self, workload: Workload, container_port: int) -> int:
        return self.ports.local(workload.deployment, container_port)

    def _service_target(self, host: str, port: int, namespace: str) -> int | None:
        """The local port behind `host:port` when host is a Service of the render."""
        for service in self._services:
            names = service.hostnames()
            if service.namespace == namespace:  # the short name resolves within the namespace only
                names.add(service.name)
            if host not in names or port not in service.ports:
                continue
            for workload in self._workloads:
                if workload.namespace == service.namespace and all(
                    workload.labels.get(k) == v for k, v in service.selector.items()
                ):
                    target = workload.container.resolve_port(service.ports[port])
                    return self.local_port(workload, target)
            raise ResolutionError(f"Service {service.name} selects no Deployment of the render")
        return None

    def _rewrite_addresses(self, value: str, namespace: str) -> str:
        def replace(match: re.Match[str]) -> str:
            local = self._service_target(match["host"], int(match["port"]), namespace)
            if local is None:
                return match[0]
            return f"{match['scheme'] or ''}{LOCAL_HOST}:{local}"

        return _ADDRESS.sub(replace, value)

    def _field(self, workload: Workload, path: str) -> str:
        simple = {
            "metadata.name": workload.pod_name,
            "metadata.namespace": workload.namespace,
            "metadata.uid": f"local-{workload.deployment}",
            "spec.nodeName": self.node_name,
            "spec.serviceAccountName": workload.service_account,
            "status.podIP": LOCAL_HOST,
            "status.podIPs": LOCAL_HOST,
            "status.hostIP": LOCAL_HOST,
            "status.hostIPs": LOCAL_HOST,
        }
        if path in simple:
            return simple[path]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if match:
            source = workload.labels if match[1] == "labels" else workload.annotations
            return source.get(match[2], "")
        raise ResolutionError(f"{workload.deployment}: no local value for fieldRef {path}")

    def _config_map(self, namespace: str, name: str, key: str | None, optional: bool) -> dict[str, str]:
        data = self._config_maps.get((namespace, name))
        if data is None or (key is not None and key not in data):
            if optional:
                return {}
            raise ResolutionError(f"ConfigMap {name} (key {key}) is not part of the render")
        return {key: str(data[key])} if key is not None else {k: str(v) for k, v in data.items()}

    def _value_from(self, workload: Workload, name: str, source: Manifest) -> str | None:
        if "fieldRef" in source:
            return self._field(workload, source["fieldRef"]["fieldPath"])
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            if name == DATABASE_URL:
                return self.database_url(workload)
            if ref.get("optional"):
                return None
            raise ResolutionError(
                f"{workload.deployment}: no local value for secret {ref.get('name')}/{ref.get('key')}"
            )
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = self._config_map(workload.namespace, ref["name"], ref["key"], bool(ref.get("optional")))
            return data.get(ref["key"])
        raise ResolutionError(f"{workload.deployment}: unsupported valueFrom {sorted(source)} of {name}")

    def database_url(self, workload: Workload) -> str:
        if workload.service not in self.database_urls:
            raise ResolutionError(f"no local database for {workload.service}")
        return self.database_urls[workload.service]

    def environment(self, workload: Workload, container: Container | None = None) -> dict[str, str]:
        """The container's environment as the kubelet builds it, with cluster addresses made local."""
        container = container or workload.container
        env: dict[str, str] = {}
        for source in container.env_from:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                ref = source["configMapRef"]
                data = self._config_map(workload.namespace, ref["name"], None, bool(ref.get("optional")))
                env.update({prefix + k: v for k, v in data.items()})
            else:
                raise ResolutionError(f"{workload.deployment}: unsupported envFrom {sorted(source)}")
        for entry in container.env:
            name = entry["name"]
            if "valueFrom" in entry:
                value = self._value_from(workload, name, entry["valueFrom"])
                if value is None:
                    continue
            else:
                value = expand(str(entry.get("value", "")), env)
            env[name] = self._localise(workload, container, name, value)
        unresolved = {k: v for k, v in env.items() if cluster_host(v)}
        if unresolved:
            raise ResolutionError(f"{workload.deployment}: cluster addresses without a local stand-in: {unresolved}")
        return env

    def _localise(self, workload: Workload, container: Container, name: str, value: str) -> str:
        if name == DATABASE_URL:
            return self.database_url(workload)
        if name == NATS_URL:
            return self.nats_url
        if name == OTLP_ENDPOINT:
            return self.otlp_endpoint if value else ""
        if name.endswith("_PORT") and value.isdigit() and int(value) in container.ports.values():
            return str(self.local_port(workload, int(value)))
        return self._rewrite_addresses(value, workload.namespace)

    def command_line(self, container: Container, env: Mapping[str, str], namespace: str, owner: str) -> list[str]:
        """command + args with $(VAR) expanded against `env` (as the kubelet does) and the addresses
        of the render's Services made local, as in environment values."""
        argv = [self._rewrite_addresses(expand(part, env), namespace) for part in (*container.command, *container.args)]
        unresolved = [part for part in argv if cluster_host(part)]
        if unresolved:
            raise ResolutionError(f"{owner}: cluster addresses without a local stand-in in the arguments: {unresolved}")
        return argv

    def argv(
        self, workload: Workload, container: Container | None = None, env: Mapping[str, str] | None = None
    ) -> list[str]:
        """The container's command line; `env` is its resolved environment (resolved here when None)."""
        container = container or workload.container
        env = self.environment(workload, container) if env is None else env
        return self.command_line(container, env, workload.namespace, workload.deployment)

    def mounts(self, container: Container, owner: str = "") -> dict[str, Path]:
        """Mount path -> local folder of each secret volume the run has a stand-in for."""
        found = {}
        for mount in container.secret_mounts:
            local = self.secret_dirs.get(mount.secret)
            if local is None:
                continue
            if any(key != path for key, path in mount.items):
                raise ResolutionError(f"{owner or container.name}: items of secret {mount.secret} rename its keys")
            found[mount.path] = local
        return found

    def local_file(self, container: Container, path: str) -> Path | None:
        """Where a file the container reads from a mounted secret is on this machine."""
        for mount_path, local in self.mounts(container).items():
            inside = PurePosixPath(path)
            if inside.is_relative_to(mount_path):
                return local / inside.relative_to(mount_path)
        return None

    def test_argv(self, pod: HelmTestPod) -> list[str]:
        """A `helm test` Pod's command line, the Service it checks made local."""
        if pod.container.env or pod.container.env_from:
            # Nothing resolves a test pod's environment yet: the chart's test pods set none.
            raise ResolutionError(f"{pod.name}: a test pod's environment has no local resolution")
        return self.command_line(pod.container, {}, pod.namespace, pod.name)


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names expand, unknown ones stay as written, $$ escapes."""

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1], match[0])

    return _VAR_REF.sub(replace, value)


def cluster_host(value: str) -> bool:
    """Whether a value still names a host of cluster DNS (`*.svc`, `*.svc.cluster.local`)."""
    for match in _ADDRESS.finditer(value):
        host = match["host"]
        if host.endswith((".svc", f".svc.{CLUSTER_DOMAIN}")):
            return True
    return False


def analysis_selectors(manifests: Iterable[Manifest]) -> dict[str, list[Any]]:
    """AnalysisTemplate name -> the series selectors of its Prometheus queries."""
    from shop_deploycheck.promql import fill_placeholders, selectors

    found: dict[str, list[Any]] = {}
    for m in manifests:
        if m.get("kind") not in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
            continue
        chosen = found.setdefault(m["metadata"]["name"], [])
        for metric in m["spec"].get("metrics", []):
            query = ((metric.get("provider") or {}).get("prometheus") or {}).get("query")
            if query:
                chosen.extend(selectors(fill_placeholders(query)))
    return found
