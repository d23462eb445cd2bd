"""Local stand-ins for the certificates a render mounts: one local CA, a certificate per component.

In a cluster each component's pods mount a Secret (cert-manager's layout: tls.crt, tls.key, ca.crt)
and point TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE at it. A local run needs the same files: the
render says which Secret a Deployment mounts for its TLS files and whose identity it holds (the
Common Name of the Certificate that writes it, else the component's `app.kubernetes.io/name`);
`shopkit.pki` issues a certificate per identity (valid for localhost and 127.0.0.1, where the local
run's peers dial) and one for the operators' tooling, which the check presents when it calls a
server's API. Each Secret becomes a folder that `LocalEnvironment.mounts` puts where pods mount it.

The folders are a throwaway test PKI: files are readable by every user of the machine, as a
container's user (another UID) must read them through a bind mount.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from shop_deploycheck.workloads import Manifest, parse_container

TLS_ENV = ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE")
TOOLING = "tooling"  # shopkit.access.TOOLING: shop-dev seed, shopctl, the checks


class TlsLayoutError(ValueError):
    """A Deployment's TLS files do not come from one mounted Secret."""


@dataclass(frozen=True)
class LocalIdentities:
    secret_dirs: dict[str, Path]  # Secret name -> folder with tls.crt, tls.key, ca.crt
    identities: dict[str, str]  # Secret name -> the Common Name of its certificate
    client: Any  # shopkit.pki.Issued of the tooling identity


def tls_secrets(manifests: Iterable[Manifest]) -> dict[str, str]:
    """Secret name -> identity, for every Deployment whose container sets the TLS files."""
    manifests = list(manifests)
    common_names = {
        m["spec"]["secretName"]: m["spec"].get("commonName", "")
        for m in manifests
        if m.get("kind") == "Certificate" and not m["spec"].get("isCA")
    }
    found: dict[str, str] = {}
    for deployment in (m for m in manifests if m.get("kind") == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        container = parse_container(pod["containers"][0], pod)
        env = {e["name"]: str(e.get("value", "")) for e in container.env if "value" in e}
        files = [env[name] for name in TLS_ENV if env.get(name)]
        if not files:
            continue
        owner = deployment["metadata"]["name"]
        if len(files) != len(TLS_ENV):
            raise TlsLayoutError(f"{owner}: sets {len(files)} of {', '.join(TLS_ENV)}")
        secrets = set()
        for path in files:
            mounts = [m for m in container.secret_mounts if PurePosixPath(path).parent == PurePosixPath(m.path)]
            if not mounts:
                raise TlsLayoutError(f"{owner}: no secret volume is mounted where {path} is")
            secrets.add(mounts[0].secret)
        if len(secrets) != 1:
            raise TlsLayoutError(f"{owner}: its TLS files come from several Secrets {sorted(secrets)}")
        secret = secrets.pop()
        labels = deployment["spec"]["template"].get("metadata", {}).get("labels") or {}
        found[secret] = common_names.get(secret) or labels.get("app.kubernetes.io/name", owner)
    return found


def issue_local_identities(manifests: Iterable[Manifest], directory: Path) -> LocalIdentities:
    """A local CA in `directory`, a certificate per TLS Secret of the render (by its identity) and
    one for the tooling; each Secret laid out as cert-manager writes it."""
    from shopkit import pki

    secrets = tls_secrets(manifests)
    issued = pki.issue(directory / "pki", sorted({*secrets.values(), TOOLING}))
    directory.chmod(0o755)
    dirs: dict[str, Path] = {}
    for secret, identity in sorted(secrets.items()):
        files = issued[identity]
        folder = directory / "secrets" / secret
        folder.mkdir(parents=True, exist_ok=True)
        folder.parent.chmod(0o755)
        folder.chmod(0o755)
        layout: Mapping[str, Path] = {"tls.crt": files.cert_file, "tls.key": files.key_file, "ca.crt": files.ca_file}
        for key, source in layout.items():
            target = folder / key
            shutil.copyfile(source, target)
            target.chmod(0o644)
        dirs[secret] = folder
    return LocalIdentities(dirs, secrets, issued[TOOLING])
