"""The local stand-ins of the components' certificates: which Secret holds whose identity, the files
laid out where the pods mount them (as a process's paths or as podman bind mounts), and a local
check that calls a server over mutual TLS, falls back to plain text for a public edge and scrapes
/metrics over HTTPS."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import http.server
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from shop_deploycheck.containers import SERVICES, PodmanLauncher
from shop_deploycheck.localrun import ProcessLauncher, mounted, scrape, touch_read_only_methods
from shop_deploycheck.localtls import TOOLING, LocalIdentities, TlsLayoutError, issue_local_identities, tls_secrets
from shop_deploycheck.manifests import render_set
from shop_deploycheck.workloads import LocalEnvironment, PortMap, ResolutionError, helm_test_pods
from shopkit import pki
from shopkit.server import GrpcService
from shopkit.settings import ServiceSettings
from shopkit.testing import free_port

COMPONENTS = SERVICES  # every component of the chart: the images' roster


def common_name(path: Path) -> str:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> LocalIdentities:
    return issue_local_identities(render_set("defaults").manifests, tmp_path_factory.mktemp("tls"))


def environment(identities: LocalIdentities) -> LocalEnvironment:
    ports = iter(range(41000, 42000))
    return LocalEnvironment(
        render_set("defaults").manifests,
        {c: f"postgresql://{c}@/{c}?host=/run/postgresql" for c in COMPONENTS},
        "nats://127.0.0.1:4222",
        "",
        PortMap(allocate=lambda: next(ports)),
        secret_dirs=identities.secret_dirs,
        client=identities.client,
    )


def test_each_components_secret_holds_its_identity() -> None:
    assert tls_secrets(render_set("defaults").manifests) == {f"shop-{c}-tls": c for c in COMPONENTS}
    # Another naming of the Secrets: the identity still comes from the Certificate / the component.
    production = tls_secrets(render_set("production").manifests)
    assert production == {f"shop-{c}-tls": c for c in COMPONENTS if c != "sandbox"}


def test_tls_files_must_come_from_one_mounted_secret() -> None:
    manifests = copy.deepcopy([m for m in render_set("defaults").manifests if m["kind"] == "Deployment"][:1])
    deployment = manifests[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != "tls"]
    with pytest.raises(TlsLayoutError, match="no secret volume is mounted"):
        tls_secrets(manifests)


def test_the_secrets_are_laid_out_as_cert_manager_writes_them(identities: LocalIdentities) -> None:
    for secret, identity in identities.identities.items():
        folder = identities.secret_dirs[secret]
        assert sorted(p.name for p in folder.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
        assert common_name(folder / "tls.crt") == identity
        ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
        leaf = x509.load_pem_x509_certificate((folder / "tls.crt").read_bytes())
        leaf.verify_directly_issued_by(ca)
        # A container's user (another UID) reads them through a bind mount.
        assert all(p.stat().st_mode & 0o004 for p in folder.iterdir())
    assert common_name(identities.client.cert_file) == TOOLING


def test_processes_find_the_files_where_the_pod_mounts_them(identities: LocalIdentities, tmp_path: Path) -> None:
    local = environment(identities)
    workload = next(w for w in local.workloads if w.service == "catalog")
    env = local.environment(workload)
    mounts = local.mounts(workload.container)
    assert mounts == {"/etc/shop/tls": identities.secret_dirs["shop-catalog-tls"]}
    _, process_env = ProcessLauncher(tmp_path).command(workload, workload.container, ["shop-catalog"], env, "x", mounts)
    assert process_env["TLS_CERT_FILE"] == str(identities.secret_dirs["shop-catalog-tls"] / "tls.crt")
    assert Path(process_env["TLS_KEY_FILE"]).is_file() and Path(process_env["TLS_CA_FILE"]).is_file()
    # HEALTH_PORT is one of the pod's ports: it gets its local number like GRPC_PORT.
    assert env["HEALTH_PORT"] == str(local.local_port(workload, 50050))
    assert local.local_file(workload.container, "/etc/shop/tls/ca.crt") == mounts["/etc/shop/tls"] / "ca.crt"
    assert mounted("/etc/shop/tlsx", mounts) == "/etc/shop/tlsx"


def test_podman_bind_mounts_them_read_only(identities: LocalIdentities) -> None:
    local = environment(identities)
    workload = next(w for w in local.workloads if w.service == "sandbox")
    mounts = local.mounts(workload.container)
    argv, _ = PodmanLauncher().command(workload, workload.container, ["shop-sandbox", "serve"], {}, "x", mounts)
    assert f"{identities.secret_dirs['shop-sandbox-tls']}:/etc/shop/tls:ro" in argv
    assert argv[argv.index("--entrypoint") + 1] == '["shop-sandbox"]'


def test_helm_test_pods_get_the_service_certificate(identities: LocalIdentities, tmp_path: Path) -> None:
    local = environment(identities)
    for pod in helm_test_pods(local.manifests):
        argv = local.test_argv(pod)
        command, _ = ProcessLauncher(tmp_path).command(
            local.workloads[0], pod.container, argv, {}, pod.name, local.mounts(pod.container)
        )
        if pod.service == "gateway":
            assert not local.mounts(pod.container)
            continue
        assert command[-1] == str(identities.secret_dirs[f"shop-{pod.service}-tls"]), command


def test_items_that_rename_keys_have_no_local_stand_in(identities: LocalIdentities) -> None:
    local = environment(identities)
    workload = next(w for w in local.workloads if w.service == "catalog")
    [mount] = workload.container.secret_mounts
    renamed = dataclasses.replace(mount, items=(("tls.crt", "cert.pem"),))
    container = dataclasses.replace(workload.container, secret_mounts=(renamed,))
    with pytest.raises(ResolutionError, match="rename its keys"):
        local.mounts(container)


def test_workload_ports_for_the_check(identities: LocalIdentities) -> None:
    local = environment(identities)
    by_service = {w.service: w for w in local.workloads}
    assert by_service["catalog"].grpc_port == 50051
    assert by_service["catalog"].metrics_port == 9101
    assert by_service["catalog"].container.health is not None
    assert by_service["catalog"].container.health.port == 50050
    # The sandbox serves /metrics on its HTTP port (TLS), its probes on the health port.
    assert by_service["sandbox"].metrics_port == 8090
    assert by_service["sandbox"].grpc_port is None


# --- against real servers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pki.Issued]:
    return pki.issue(tmp_path_factory.mktemp("pki"), ["catalog", TOOLING, "sandbox"])


def credentials(issued: pki.Issued) -> grpc.ChannelCredentials:
    return issued.load().channel_credentials()


async def serve(settings: dict[str, Any], *, edge: bool = False) -> GrpcService:
    fields: dict[str, Any] = {"grpc_host": "127.0.0.1", "grpc_port": 0, "metrics_port": 0, "shutdown_grace_seconds": 1}
    service = GrpcService(ServiceSettings(**{**fields, **settings}), edge=edge)
    await service.start()
    return service


@pytest.fixture
async def tls_server(pki_files: dict[str, pki.Issued]) -> AsyncIterator[GrpcService]:
    service = await serve({k.lower(): v for k, v in pki_files["catalog"].environment().items()})
    yield service
    await service.stop()


async def test_the_check_calls_a_tls_server_with_the_tooling_certificate(
    tls_server: GrpcService, pki_files: dict[str, pki.Issued]
) -> None:
    target = f"127.0.0.1:{tls_server.port}"
    # Reflection lists no API of this bare server: nothing to touch, but the call went through.
    assert await asyncio.to_thread(touch_read_only_methods, target, 5.0, credentials(pki_files[TOOLING])) == []
    with pytest.raises(grpc.RpcError):
        await asyncio.to_thread(touch_read_only_methods, target, 2.0)  # plain text: refused


async def test_a_plain_text_edge_is_asked_in_plain_text(pki_files: dict[str, pki.Issued]) -> None:
    edge = await serve({}, edge=True)
    try:
        target = f"127.0.0.1:{edge.port}"
        assert await asyncio.to_thread(touch_read_only_methods, target, 5.0, credentials(pki_files[TOOLING])) == []
    finally:
        await edge.stop()


@pytest.fixture
def https_metrics(pki_files: dict[str, pki.Issued]) -> Iterator[int]:
    """An HTTPS /metrics endpoint that asks for a client certificate of the CA."""
    server_files = pki_files["sandbox"]

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"# TYPE shop_up gauge\nshop_up 1\n"
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Metrics)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_files.cert_file, server_files.key_file)
    context.load_verify_locations(server_files.ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port
    server.shutdown()
    server.server_close()


def test_metrics_behind_tls_are_scraped_with_a_certificate(
    https_metrics: int, pki_files: dict[str, pki.Issued]
) -> None:
    assert scrape(https_metrics, 5.0, pki_files["sandbox"]) == {"shop_up": [{}]}
    with pytest.raises(OSError):
        scrape(https_metrics, 2.0)  # plain HTTP to a TLS port
