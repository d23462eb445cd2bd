"""The certificates of a local stack: `shop-dev run` issues one per process and one for tooling in
<data>/pki (a local CA, see shopkit.pki); the launcher's probes, seeding, `shop-dev status`, the
benchmarks and the system tests call the services with the tooling certificate."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import grpc

from shop_devstack.layout import Layout
from shopkit import pki
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
