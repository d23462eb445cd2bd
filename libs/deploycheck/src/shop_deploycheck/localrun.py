"""Run a render's workloads on this machine the way their pods would run, and see them answer.

For every Deployment: its migration Job's command first (when it has one), then the container's
command with its resolved environment (see `workloads.LocalEnvironment`) and its secret volumes
(the components' certificates, see `localtls`), all at once so that peers reach each other; then
its startup probe until SERVING (gRPC health, or HTTP 200: on the plain-text health port where
the pod has one, as the kubelet asks), one read-only call of each gRPC API it serves on its gRPC
port (so its RED metrics have series; over mutual TLS with the tooling's certificate when the
server asks for one), a scrape of its metrics port (HTTPS with its own certificate when /metrics
is on its TLS port, as the ServiceMonitor does), then the render's `helm test` Pods of the served
services (given to `run`): each must exit 0 and print SERVING (gRPC health) or 200 (HTTP);
finally SIGTERM, after which every server must exit 0.

How a command starts is the launcher's business: a local process from the virtualenv
(`ProcessLauncher`, the chart's conformance test) or a podman container with the pod's security
settings (`shop_deploycheck.containers.PodmanLauncher`, `make images-check`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from prometheus_client.parser import text_string_to_metric_families

from shop_deploycheck.workloads import LOCAL_HOST, Container, HelmTestPod, LocalEnvironment, ResolutionError, Workload
from shop_devstack.health import SERVING, check_once, http_get
from shop_devstack.processes import ChildProcess, run_to_completion, tail
from shopkit.pki import Issued

# Prometheus adds these to every scraped series (Prometheus operator: ServiceMonitor/PodMonitor).
STANDARD_TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "service", "container", "endpoint"})


class Launcher(Protocol):
    def command(
        self,
        workload: Workload,
        container: Container,
        argv: Sequence[str],
        env: Mapping[str, str],
        name: str,
        mounts: Mapping[str, Path] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        """The argv and environment of the local process that runs `argv` as `container` would;
        `mounts` (mount path -> local folder) are its secret volumes, read-only."""

    async def cleanup(self, names: Collection[str]) -> None:
        """Remove whatever is left of the runs with these names."""


@dataclass
class ProcessLauncher:
    """The container's command as a plain process: the entrypoint from this virtualenv's bin/,
    the container's environment and nothing of this process's own (beyond PATH and a HOME).
    Unlike the image, the virtualenv may keep the bytecode it compiles: later starts are faster.
    A path under a mount (an environment value or an argument) becomes the local folder's;
    `executables` stand in for programs the image has at a path of its own (its Python)."""

    home: Path
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)
    executables: Mapping[str, str] = field(default_factory=dict)

    def command(
        self,
        workload: Workload,
        container: Container,
        argv: Sequence[str],
        env: Mapping[str, str],
        name: str,
        mounts: Mapping[str, Path] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        mounts = mounts or {}
        if not argv:
            raise ValueError(f"{workload.deployment}: the container sets no command; a local run needs one")
        executable = self.executables.get(argv[0]) or (argv[0] if "/" in argv[0] else str(self.bin_dir / argv[0]))
        base = {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "TMPDIR": str(self.home),
            "PYTHONUNBUFFERED": "1",
        }
        args = [mounted(part, mounts) for part in argv[1:]]
        return [executable, *args], {**base, **{key: mounted(value, mounts) for key, value in env.items()}}

    async def cleanup(self, names: Collection[str]) -> None:
        """Processes are stopped by their ChildProcess; nothing else is left behind."""


def mounted(value: str, mounts: Mapping[str, Path]) -> str:
    """`value` with a leading mount path (the whole value, or a path below it) made local."""
    for mount_path, local in mounts.items():
        prefix = mount_path.rstrip("/")
        if value == prefix or value.startswith(f"{prefix}/"):
            return f"{local}{value[len(prefix) :]}"
    return value


@dataclass
class HelmTestResult:
    """What one `helm test` Pod did."""

    pod: HelmTestPod
    exit_status: int | None = None  # None: not run
    seconds: float | None = None
    output: str = ""
    problem: str = ""


@dataclass
class Outcome:
    """What one workload did."""

    workload: Workload
    migrate_status: int | None = None  # None: no migration Job
    health: str = "not started"
    samples: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # metric sample name -> label sets
    touched: list[str] = field(default_factory=list)  # gRPC methods called once, as /service/method
    tests: list[HelmTestResult] = field(default_factory=list)  # its `helm test` Pods
    exit_status: int | None = None
    seconds_to_serving: float | None = None  # from the start of every serve command
    seconds_to_stop: float | None = None  # from SIGTERM
    log: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not any(t.problem for t in self.tests)


NO_SIDE_EFFECTS = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS


def touch_read_only_methods(
    target: str, timeout: float = 5.0, credentials: grpc.ChannelCredentials | None = None
) -> list[str]:
    """Call one read-only (NO_SIDE_EFFECTS) unary method of every API the server lists through
    reflection, with an empty request. Whatever the answer, the call is counted in the server's
    RED metrics under its own grpc_service label. With `credentials` the channel is mutual TLS;
    a server that answers only plain text (a public edge) is asked in plain text. Blocking."""
    if credentials is not None:
        try:
            return _touch(grpc.secure_channel(target, credentials), timeout)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
                raise
    return _touch(grpc.insecure_channel(target), timeout)


def _touch(channel: grpc.Channel, timeout: float) -> list[str]:
    touched = []
    with channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(database)
        for service_name in database.get_services():
            if service_name.startswith("grpc."):
                continue
            service = pool.FindServiceByName(service_name)
            for method in service.methods:
                streaming = method.client_streaming or method.server_streaming
                if streaming or method.GetOptions().idempotency_level != NO_SIDE_EFFECTS:
                    continue
                path = f"/{service_name}/{method.name}"
                call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
                with contextlib.suppress(grpc.RpcError):
                    call(b"", timeout=timeout)
                touched.append(path)
                break
    return touched


def scrape(port: int, timeout: float = 5.0, identity: Issued | None = None) -> dict[str, list[dict[str, str]]]:
    """GET /metrics: sample name -> the label sets of its samples; over HTTPS presenting
    `identity` when given. Blocking."""
    context = None
    if identity is not None:
        context = ssl.create_default_context(cafile=str(identity.ca_file))
        context.load_cert_chain(str(identity.cert_file), str(identity.key_file))
    url = f"{'http' if context is None else 'https'}://{LOCAL_HOST}:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
        text = response.read().decode()
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples


def expected_test_answer(argv: Sequence[str]) -> str:
    """What the chart's test script prints when the service is up: the HTTP status 200 when it
    is given a URL, else the gRPC health status SERVING."""
    return "200" if any(re.match(r"https?://", part) for part in argv) else SERVING


async def probe(kind: str, port: int, path: str) -> str:
    if kind == "grpc":
        return await check_once(f"{LOCAL_HOST}:{port}")
    answer = await http_get(LOCAL_HOST, port, path or "/")
    if answer is None:
        return "unreachable"
    return SERVING if 200 <= answer[0] < 400 else f"HTTP {answer[0]}"


@dataclass
class LocalRun:
    """Runs the workloads of one render with one launcher; logs go to `logs_dir/<name>.log`."""

    local: LocalEnvironment
    launcher: Launcher
    logs_dir: Path
    name_prefix: str = "shop"
    start_timeout: float = 90.0
    migrate_timeout: float = 120.0
    stop_timeout: float = 40.0
    test_timeout: float = 30.0

    def _name(self, workload: Workload, suffix: str = "") -> str:
        return f"{self.name_prefix}-{workload.service}{suffix}"

    def _child(self, workload: Workload, container: Container, suffix: str) -> ChildProcess:
        env = self.local.environment(workload, container)
        argv = self.local.argv(workload, container, env)
        name = self._name(workload, suffix)
        mounts = self.local.mounts(container, workload.deployment)
        command, process_env = self.launcher.command(workload, container, argv, env, name, mounts)
        return ChildProcess(name, command, process_env, self.logs_dir / f"{name}.log")

    def _identity(self, workload: Workload) -> Issued | None:
        """The local files of the certificate the workload's container serves with, if any."""
        env = {e["name"]: str(e.get("value", "")) for e in workload.container.env if "value" in e}
        paths = [env.get(name, "") for name in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE")]
        if not all(paths):
            return None
        local = [self.local.local_file(workload.container, path) for path in paths]
        if any(path is None for path in local):
            return None
        cert, key, ca = (path for path in local if path is not None)
        return Issued(cert, key, ca)

    async def _migrate(self, workload: Workload, outcome: Outcome) -> None:
        if workload.migrate is None:
            return
        child = self._child(workload, workload.migrate, "-migrate")
        outcome.migrate_status = await run_to_completion(child.argv, child.env, child.log_path, self.migrate_timeout)
        if outcome.migrate_status != 0:
            outcome.problems.append(f"migration exited with {outcome.migrate_status}:\n{tail(child.log_path)}")

    async def _wait_serving(self, workload: Workload, child: ChildProcess, outcome: Outcome, started: float) -> None:
        health = workload.container.health
        if health is None:
            outcome.problems.append("the container has no startup or readiness probe")
            return
        port = self.local.local_port(workload, health.port)
        deadline = started + self.start_timeout
        while True:
            outcome.health = await probe(health.kind, port, health.path)
            if outcome.health == SERVING:
                outcome.seconds_to_serving = round(time.monotonic() - started, 1)
                return
            if not child.running():
                outcome.problems.append(f"exited with {child.returncode()} before answering its probe")
                return
            if time.monotonic() > deadline:
                outcome.problems.append(
                    f"probe {health.kind}:{health.port} said {outcome.health} after {self.start_timeout:g} s"
                )
                return
            await asyncio.sleep(0.25)

    async def _exercise(self, workload: Workload, outcome: Outcome) -> None:
        identity = self._identity(workload)
        port = workload.grpc_port
        if port is not None:
            target = f"{LOCAL_HOST}:{self.local.local_port(workload, port)}"
            credentials = None
            if identity is not None and self.local.client is not None:
                credentials = self.local.client.load().channel_credentials()
            try:
                outcome.touched += await asyncio.to_thread(touch_read_only_methods, target, 5.0, credentials)
            except grpc.RpcError as error:
                outcome.problems.append(f"gRPC port {port}: {error}")
        metrics = workload.metrics_port
        if metrics is None:
            return
        # A dedicated metrics port is plain text; /metrics on the HTTP server's port is behind its TLS.
        tls = identity if identity is not None and metrics != workload.container.ports.get("metrics") else None
        try:
            outcome.samples = await asyncio.to_thread(scrape, self.local.local_port(workload, metrics), 5.0, tls)
        except OSError as error:
            outcome.problems.append(f"metrics port {metrics}: {error}")

    def _test_name(self, pod: HelmTestPod) -> str:
        return f"{self.name_prefix}-{pod.name}"

    async def _helm_test(self, workload: Workload, result: HelmTestResult) -> None:
        """Run a test Pod's container to completion, as `helm test` does, against the local servers."""
        pod = result.pod
        try:
            argv = self.local.test_argv(pod)
        except ResolutionError as error:
            result.problem = str(error)
            return
        try:
            mounts = self.local.mounts(pod.container, pod.name)
        except ResolutionError as error:
            result.problem = str(error)
            return
        command, env = self.launcher.command(workload, pod.container, argv, {}, self._test_name(pod), mounts)
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.test_timeout)
        except TimeoutError:
            process.kill()
            output, _ = await process.communicate()
            result.problem = f"no answer after {self.test_timeout:g} s"
        result.seconds = round(time.monotonic() - started, 1)
        result.exit_status = process.returncode
        result.output = output.decode(errors="replace").strip()
        expected = expected_test_answer(argv)
        answered = any(line.split()[-1:] == [expected] for line in result.output.splitlines())
        if not result.problem and (result.exit_status != 0 or not answered):
            result.problem = f"exited {result.exit_status}; expected a line ending in {expected}"

    async def _stop(self, child: ChildProcess) -> tuple[int | None, float]:
        status = await child.stop(self.stop_timeout)
        return status, time.monotonic()

    async def run(self, selected: Iterable[Workload] | None = None, tests: Iterable[HelmTestPod] = ()) -> list[Outcome]:
        """Run the workloads, and the test Pods of those that serve (a test Pod belongs to the
        workload of its service; test Pods of other services are not run)."""
        chosen = list(selected if selected is not None else self.local.workloads)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        outcomes = {w.deployment: Outcome(w) for w in chosen}
        by_service = {w.service: outcomes[w.deployment] for w in chosen}
        for pod in tests:
            if pod.service in by_service:
                by_service[pod.service].tests.append(HelmTestResult(pod))
        names = [self._name(w, s) for w in chosen for s in ("", "-migrate")]
        names += [self._test_name(t.pod) for o in outcomes.values() for t in o.tests]
        children: dict[str, ChildProcess] = {}
        try:
            await asyncio.gather(*(self._migrate(w, outcomes[w.deployment]) for w in chosen))
            started = time.monotonic()
            for w in chosen:
                if outcomes[w.deployment].ok:
                    children[w.deployment] = self._child(w, w.container, "")
                    children[w.deployment].start()
            await asyncio.gather(
                *(
                    self._wait_serving(w, children[w.deployment], outcomes[w.deployment], started)
                    for w in chosen
                    if w.deployment in children
                )
            )
            for w in chosen:
                if outcomes[w.deployment].health == SERVING:
                    await self._exercise(w, outcomes[w.deployment])
            await asyncio.gather(
                *(
                    self._helm_test(w, result)
                    for w in chosen
                    if outcomes[w.deployment].health == SERVING
                    for result in outcomes[w.deployment].tests
                )
            )
        finally:
            stopping = time.monotonic()
            stops = {d: asyncio.create_task(self._stop(c)) for d, c in children.items()}
            for deployment, task in stops.items():
                outcome = outcomes[deployment]
                outcome.exit_status, outcome.seconds_to_stop = await task
                outcome.seconds_to_stop = round(outcome.seconds_to_stop - stopping, 1)
                outcome.log = tail(children[deployment].log_path, 40)
                if outcome.exit_status != 0:
                    outcome.problems.append(f"exit status {outcome.exit_status} after SIGTERM")
            await self.launcher.cleanup(names)
        return list(outcomes.values())


def selector_problems(
    selectors: Iterable[Any], samples: Mapping[str, list[dict[str, str]]], target_labels: Collection[str]
) -> list[str]:
    """What a process's metrics lack for these PromQL selectors (`promql.Selector`s): a metric name
    with no samples, a label matcher on a label neither the process nor Prometheus' target
    labels provide, or an `=` matcher whose value no sample has."""
    problems = []
    for selector in selectors:
        series = samples.get(selector.metric)
        if not series:
            problems.append(f"no samples of {selector.metric}")
            continue
        exported = {label for labels in series for label in labels}
        for matcher in selector.matchers:
            if matcher.label in target_labels:
                continue
            if matcher.label not in exported:
                problems.append(f"{selector.metric} has no label {matcher.label} (it has {sorted(exported)})")
            elif matcher.op == "=" and not any(matcher.matches(labels.get(matcher.label, "")) for labels in series):
                values = sorted({labels.get(matcher.label, "") for labels in series})
                problems.append(f"{selector.metric}: no series with {matcher.label}={matcher.value!r} (seen {values})")
    return problems


def target_labels(manifests: Iterable[Mapping[str, Any]]) -> set[str]:
    """Labels Prometheus adds to the series of the render's scrape targets: the standard ones plus
    ServiceMonitor/PodMonitor `podTargetLabels`/`targetLabels` (sanitised as Prometheus does)."""
    found = set(STANDARD_TARGET_LABELS)
    for m in manifests:
        if m.get("kind") in ("ServiceMonitor", "PodMonitor"):
            spec = m.get("spec") or {}
            for label in (*spec.get("podTargetLabels", []), *spec.get("targetLabels", [])):
                found.add("".join(c if c.isalnum() or c == "_" else "_" for c in label))
    return found
