"""Service identity (mutual TLS) in every render: each component's pods get its certificate where
TLS_CERT_FILE/TLS_KEY_FILE/TLS_CA_FILE say, the certificate names the component (its identity) and
every name clients dial it by, one CA signs them all, the health port stays the kubelet's, and the
`helm test` pods check the services over TLS."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import helm_python
import pytest

from shop_deploycheck.containers import SERVICES
from shop_deploycheck.manifests import Manifest, Render, env_of
from shop_deploycheck.render import render

IDENTITIES = SERVICES  # every component gets a certificate named after it
TLS_FILES = {"TLS_CERT_FILE": "tls.crt", "TLS_KEY_FILE": "tls.key", "TLS_CA_FILE": "ca.crt"}
CLUSTER_DOMAIN = "cluster.local"


def name_of(manifest: Manifest) -> str:
    return str(manifest["metadata"]["labels"]["app.kubernetes.io/name"])


def pod_of(manifest: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"] if manifest["kind"] == "Pod" else manifest["spec"]["template"]["spec"]
    return spec


def mounted_secret(pod: dict[str, Any], container: dict[str, Any], path: str) -> tuple[str, str]:
    """(Secret name, key) of the file at `path` in the container: a read-only secret volume mount."""
    for mount in container.get("volumeMounts", []):
        directory = PurePosixPath(mount["mountPath"])
        if PurePosixPath(path).parent != directory:
            continue
        assert mount.get("readOnly") is True, mount
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        secret = volume["secret"]
        filename = PurePosixPath(path).name
        items = {item["path"]: item["key"] for item in secret.get("items", [])}
        return secret["secretName"], items.get(filename, filename) if items else filename
    raise AssertionError(f"{container['name']}: nothing mounted at {path}")


def tls_secret(deployment: Manifest) -> str:
    pod = pod_of(deployment)
    container = pod["containers"][0]
    env = env_of(container)
    found = {mounted_secret(pod, container, env[variable]["value"]) for variable in TLS_FILES}
    secrets = {secret for secret, _ in found}
    assert len(secrets) == 1, f"{deployment['metadata']['name']}: the TLS files come from {secrets}"
    # cert-manager's layout (and that of a kubernetes.io/tls Secret with the CA beside it).
    assert {key for _, key in found} == set(TLS_FILES.values())
    return secrets.pop()


def certificates(rendered: Render) -> dict[str, Manifest]:
    """Certificate by the Secret it writes."""
    return {c["spec"]["secretName"]: c for c in rendered.of_kind("Certificate")}


def qualified(host: str, namespace: str) -> set[str]:
    return {host, f"{host}.{namespace}", f"{host}.{namespace}.svc", f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"}


def dialled_names(rendered: Render) -> dict[str, set[str]]:
    """Component -> every host name a client of the render addresses it by: peers' *_ADDR, the
    payment provider URL, `helm test` pods' targets; each in all its namespace-qualified forms."""
    services = {s["metadata"]["name"]: name_of(s) for s in rendered.of_kind("Service")}
    found: dict[str, set[str]] = {}

    def add(value: str) -> None:
        url = urlsplit(value.replace("dns:///", "grpc://") if "://" in value else f"grpc://{value}")
        host = str(url.hostname)
        short = host.split(".")[0]
        if short in services and host.endswith((".svc", f".svc.{CLUSTER_DOMAIN}", f".{rendered.namespace}")):
            found.setdefault(services[short], set()).update(qualified(short, rendered.namespace))

    for deployment in rendered.service_deployments():
        for variable, entry in env_of(pod_of(deployment)["containers"][0]).items():
            if variable.endswith("_ADDR") or variable == "PAYMENT_PROVIDER_URL":
                add(entry.get("value", ""))
    for pod in rendered.of_kind("Pod"):
        for part in [*pod["spec"]["containers"][0].get("command", []), *pod["spec"]["containers"][0].get("args", [])]:
            if ".svc." in part and "\n" not in part:
                add(part)
    return found


def test_every_component_mounts_its_certificate_read_only(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        secret = tls_secret(deployment)
        container = pod_of(deployment)["containers"][0]
        for variable in TLS_FILES:
            assert env_of(container)[variable]["value"].startswith("/"), variable
        volume = next(v for v in pod_of(deployment)["volumes"] if v.get("secret", {}).get("secretName") == secret)
        # Readable by the pod's group (fsGroup) only: 0440.
        assert volume["secret"].get("defaultMode") == 0o440, volume


def test_certificates_name_the_identity_and_every_dialled_name(rendered: Render) -> None:
    if not rendered.of_kind("Certificate"):
        pytest.skip("tls.certManager is off in this values set")
    issued = certificates(rendered)
    names = dialled_names(rendered)
    assert names, "no client addresses found"
    for deployment in rendered.service_deployments():
        identity = name_of(deployment)
        assert identity in IDENTITIES
        certificate = issued.get(tls_secret(deployment))
        assert certificate is not None, f"{identity}: no Certificate writes {tls_secret(deployment)}"
        spec = certificate["spec"]
        assert spec["commonName"] == identity
        missing = names.get(identity, set()) - set(spec["dnsNames"])
        assert not missing, f"{identity}'s certificate lacks {sorted(missing)}"
        # Both Services in every form, whoever dials them today.
        for host in (deployment["metadata"]["name"], f"{deployment['metadata']['name']}-headless"):
            assert qualified(host, rendered.namespace) <= set(spec["dnsNames"]), identity
        assert {"server auth", "client auth"} <= set(spec["usages"])
        assert "key encipherment" not in spec["usages"], "an ECDSA key enciphers nothing"
        assert (spec["privateKey"]["algorithm"], spec["privateKey"]["size"]) == ("ECDSA", 256)


def test_one_ca_signs_every_component(rendered: Render) -> None:
    issued = [c for c in rendered.of_kind("Certificate") if not c["spec"].get("isCA")]
    if not issued:
        pytest.skip("tls.certManager is off in this values set")
    issuers = {(c["spec"]["issuerRef"]["kind"], c["spec"]["issuerRef"]["name"]) for c in issued}
    assert len(issuers) == 1, issuers
    [(kind, name)] = issuers
    if kind == "Issuer" and rendered.find("Issuer", name) is not None:
        # The release's own CA: a CA Issuer whose key pair a CA Certificate writes, self-signed.
        issuer = rendered.find("Issuer", name)
        assert issuer is not None
        ca = certificates(rendered)[issuer["spec"]["ca"]["secretName"]]
        assert ca["spec"]["isCA"] is True
        root = rendered.find("Issuer", ca["spec"]["issuerRef"]["name"])
        assert root is not None and root["spec"] == {"selfSigned": {}}


def test_health_port_and_tls_stay_out_of_migrations(rendered: Render) -> None:
    """A migration Job serves nothing: no certificate, no health port."""
    for job in rendered.of_kind("Job"):
        container = pod_of(job)["containers"][0]
        assert not set(env_of(container)) & {*TLS_FILES, "HEALTH_PORT"}, job["metadata"]["name"]
        assert not [v for v in pod_of(job)["volumes"] if "secret" in v], job["metadata"]["name"]


def test_the_in_cluster_payment_sandbox_is_called_over_https(rendered: Render) -> None:
    for deployment in rendered.service_deployments():
        url = env_of(pod_of(deployment)["containers"][0]).get("PAYMENT_PROVIDER_URL", {}).get("value", "")
        if ".svc.cluster.local" in url:
            assert url.startswith("https://"), url


def test_helm_test_pods_check_the_services_with_their_certificate(rendered: Render) -> None:
    for pod in rendered.of_kind("Pod"):
        name = name_of(pod)
        deployment = rendered.find("Deployment", f"{rendered.release}-{name}")
        assert deployment is not None
        container = pod["spec"]["containers"][0]
        argv = [*container.get("command", []), *container.get("args", [])]
        if name == "gateway":  # its public gRPC API asks for no certificate
            assert not [v for v in pod["spec"]["volumes"] if "secret" in v]
            continue
        directory = argv[-1]
        assert directory.startswith("/"), argv
        secret, _ = mounted_secret(pod["spec"], container, f"{directory}/tls.crt")
        assert secret == tls_secret(deployment)
        if name == "sandbox":
            assert any(part.startswith("https://") for part in argv), argv


def test_prometheus_scrapes_the_sandbox_over_tls() -> None:
    rendered = Render("monitored", (), render(values={"serviceMonitor": {"enabled": True}}))
    monitor = rendered.find("ServiceMonitor", "shop-sandbox")
    deployment = rendered.find("Deployment", "shop-sandbox")
    assert monitor is not None and deployment is not None
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    tls = endpoint["tlsConfig"]
    secret = tls_secret(deployment)
    assert tls["ca"]["secret"] == {"name": secret, "key": "ca.crt"}
    assert tls["cert"]["secret"] == {"name": secret, "key": "tls.crt"}
    assert tls["keySecret"] == {"name": secret, "key": "tls.key"}
    assert tls["serverName"] == "shop-sandbox.shop.svc"
    grpc = rendered.find("ServiceMonitor", "shop-catalog")
    assert grpc is not None and "tlsConfig" not in grpc["spec"]["endpoints"][0]  # a plain metrics port


def test_an_issuer_of_your_own_replaces_the_release_ca() -> None:
    issuer = {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    rendered = Render("own", (), render(values={"tls": {"certManager": {"issuerRef": issuer}}}))
    assert not rendered.of_kind("Issuer")
    assert all(c["spec"]["issuerRef"] == issuer for c in rendered.of_kind("Certificate"))
    assert not [c for c in rendered.of_kind("Certificate") if c["spec"].get("isCA")]


def test_secrets_of_your_own() -> None:
    values = {"tls": {"certManager": {"enabled": False}, "existingSecrets": {"gateway": "edge-identity"}}}
    rendered = Render("secrets", (), render(values=values))
    assert not rendered.of_kind("Certificate", "Issuer")
    for deployment in rendered.service_deployments():
        expected = "edge-identity" if name_of(deployment) == "gateway" else f"{deployment['metadata']['name']}-tls"
        assert tls_secret(deployment) == expected
    # With cert-manager on, a component named there keeps its own Secret and gets no Certificate.
    mixed = Render("mixed", (), render(values={"tls": {"existingSecrets": {"gateway": "edge-identity"}}}))
    assert mixed.find("Certificate", "shop-gateway") is None
    assert mixed.find("Certificate", "shop-catalog") is not None


def test_reloader_restarts_pods_on_renewal_unless_turned_off() -> None:
    annotation = "secret.reloader.stakater.com/reload"
    on = Render("on", (), render())
    for deployment in on.service_deployments():
        assert deployment["metadata"]["annotations"][annotation] == tls_secret(deployment)
    off = Render("off", (), render(values={"tls": {"reloader": {"enabled": False}}}))
    assert not [d for d in off.service_deployments() if annotation in d["metadata"]["annotations"]]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # Not offered: the services refuse plain text on a pod's address.
        ({"tls": {"enabled": False}}, "additional properties"),
        ({"tls": {"existingSecrets": {"shipping": "x"}}}, "invalid propertyName 'shipping'"),
        ({"tls": {"existingSecrets": {"catalog": ""}}}, "/tls/existingSecrets/catalog"),
        ({"tls": {"certManager": {"duration": "90d"}}}, "/tls/certManager/duration"),
        ({"tls": {"certManager": {"issuerRef": {"kind": ""}}}}, "/tls/certManager/issuerRef/kind"),
    ],
)
def test_schema_rejects_bad_tls_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as failure:
        render(values=values)
    assert message in str(failure.value)
