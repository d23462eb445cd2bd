"""Mutual TLS between processes: every server asks for a client certificate signed by the shop's CA,
every channel presents the process's own; the certificate's Common Name is the caller's identity.

A process gets its files from TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE (all three, or none).
Without them it speaks plain text, which a server only accepts on a loopback address: tests in one
process and nothing else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from shopkit.settings import ServiceSettings

SECURITY_TYPE = "transport_security_type"
COMMON_NAME = "x509_common_name"
LOOPBACK_NAMES = ("localhost",)


class TlsSettingsError(ValueError):
    """The TLS files are set in part, unreadable, or missing where plain text is not allowed."""


@dataclass(frozen=True)
class Tls:
    """A process's certificate chain, its private key and the CA that signs every peer (PEM)."""

    certificate: bytes
    private_key: bytes
    authority: bytes

    @classmethod
    def load(cls, cert_file: str | Path, key_file: str | Path, ca_file: str | Path) -> Tls:
        try:
            return cls(Path(cert_file).read_bytes(), Path(key_file).read_bytes(), Path(ca_file).read_bytes())
        except OSError as error:
            raise TlsSettingsError(f"cannot read a TLS file: {error}") from error

    @property
    def identity(self) -> str:
        """This process's name: the Common Name of its certificate."""
        names = x509.load_pem_x509_certificate(self.certificate).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else ""

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate)], root_certificates=self.authority, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.authority, self.private_key, self.certificate)


def from_settings(settings: ServiceSettings) -> Tls | None:
    """The process's TLS material, or None for plain text when none of the three files is set."""
    files = (settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)
    if not any(files):
        return None
    if not all(files):
        raise TlsSettingsError("set all of TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE, or none of them")
    return Tls.load(*files)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_for(host: str, tls: Tls | None, what: str) -> None:
    """Refuse to serve plain text anywhere but on a loopback address."""
    if tls is None and not is_loopback(host):
        raise TlsSettingsError(
            f"{what} binds {host} without TLS: set TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE, "
            "or bind a loopback address"
        )


def peer_identity(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The Common Name of the caller's certificate; None on a plain-text connection."""
    auth = context.auth_context()
    if auth.get(SECURITY_TYPE) != [b"ssl"]:
        return None
    names = list(auth.get(COMMON_NAME) or [b""])
    return bytes(names[0]).decode()
