"""The certificates of a local stack: `shop-dev run` issues one per process and one for tooling in
<data>/pki (a local CA, see shopkit.pki); the launcher's probes, seeding, `shop-dev status`, the
benchmarks and the system tests call the services with the tooling certificate.

The payment sandbox serves HTTPS with its certificate: its public face (tokenising a card) takes any
client that trusts the CA (`http_context(data_dir)`), its server face (authorisations, payment
methods, /metrics) a certificate (`http_context(data_dir, TOOLING)`)."""

from __future__ import annotations

import functools
import hashlib
import ssl
from pathlib import Path
from typing import Any

import grpc

from shop_devstack.layout import Layout
from shopkit import httptls, pki
from shopkit.access import IDENTITIES, TOOLING
from shopkit.tls import Tls
from shopkit.usertoken import Signer


def pki_dir(data_dir: Path) -> Path:
    return Layout(data_dir).pki_dir


def issue(data_dir: Path) -> dict[str, pki.Issued]:
    """A certificate for every identity (kept while valid: a restarted stack keeps its CA)."""
    # One CA per data folder (named after it: a Common Name holds 64 characters at most).
    folder = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return pki.issue(pki_dir(data_dir), IDENTITIES, authority=f"shop local CA {folder}")


def ca_file(data_dir: Path) -> Path:
    """The stack's CA (PEM): what a client of the sandbox checks its certificate against."""
    return pki_dir(data_dir) / f"{pki.CA_NAME}.pem"


def files(data_dir: Path, name: str = TOOLING) -> tuple[Path, Path]:
    """(certificate, key) files of `name`, e.g. for `requests`' `cert=` or curl's --cert/--key."""
    folder = pki_dir(data_dir)
    return folder / f"{name}.pem", folder / f"{name}-key.pem"


def http_context(data_dir: Path, name: str | None = None) -> ssl.SSLContext:
    """An HTTPS client context that trusts the stack's CA alone; with `name`, it presents that
    identity's certificate (the sandbox's server face), without it none (its public face)."""
    if name is None:
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file(data_dir)))
    return httptls.context_for(*files(data_dir, name), ca_file(data_dir))


def load(data_dir: Path, name: str = TOOLING) -> Tls:
    folder = pki_dir(data_dir)
    return Tls.load(folder / f"{name}.pem", folder / f"{name}-key.pem", folder / f"{pki.CA_NAME}.pem")


def tooling(data_dir: Path) -> Tls | None:
    """The tooling certificate of a stack that has run once in `data_dir`, else None."""
    return load(data_dir) if (pki_dir(data_dir) / f"{TOOLING}.pem").exists() else None


@functools.cache
def signer(data_dir: Path) -> Signer:
    """Tokens of end users as the gateway signs them: tests on a local stack act as any user."""
    folder = pki_dir(data_dir)
    return Signer((folder / "gateway-key.pem").read_bytes(), (folder / "gateway.pem").read_bytes())


def channel(target: str, tls: Tls | None, options: list[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    """A bare channel to a service: with `tls`'s certificate, or plain text (a stack without TLS)."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, tls.channel_credentials(), options=options)
