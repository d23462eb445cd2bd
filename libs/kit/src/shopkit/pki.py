"""A local certificate authority: one CA and one certificate per process, for a developer's stack
and for tests. In a cluster, cert-manager (or secrets) provides the same files.

Each certificate names its process in the Common Name (the identity servers authorise) and in a
DNS name, and is valid for `localhost` and 127.0.0.1 so that it serves a local stack. Keys are
EC P-256: issuing a dozen takes milliseconds. Issuing again keeps the CA and every certificate
that is valid for another `RENEW_BEFORE`, so a restarted stack keeps trusting its peers.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shopkit.tls import Tls

CA_NAME = "ca"
VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=30)
LOCAL_HOSTS = ("localhost",)
LOCAL_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class Issued:
    """Where one process's files are: its certificate, its key and the CA every peer is checked against."""

    cert_file: Path
    key_file: Path
    ca_file: Path

    def environment(self) -> dict[str, str]:
        """The settings of a process that uses these files (TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE)."""
        return {
            "TLS_CERT_FILE": str(self.cert_file),
            "TLS_KEY_FILE": str(self.key_file),
            "TLS_CA_FILE": str(self.ca_file),
        }

    def load(self) -> Tls:
        """The files' contents, for servers and channels."""
        return Tls.load(self.cert_file, self.key_file, self.ca_file)

    def settings(self) -> dict[str, Any]:
        """The same as settings fields (tls_cert_file, ...), for a settings object built in a test."""
        return {name.lower(): value for name, value in self.environment().items()}


def issue(directory: Path, names: Iterable[str], *, authority: str = "shop local CA") -> dict[str, Issued]:
    """A CA in `directory` (created once) and a certificate for each of `names`."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca_key, ca_cert = _authority(directory, authority)
    ca_file = directory / f"{CA_NAME}.pem"
    return {name: _leaf(directory, name, ca_key, ca_cert, ca_file) for name in names}


def _authority(directory: Path, common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert_file, key_file = directory / f"{CA_NAME}.pem", directory / f"{CA_NAME}-key.pem"
    if cert_file.exists() and key_file.exists():
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if _fresh(cert) and isinstance(key, ec.EllipticCurvePrivateKey):
            return key, cert
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY * 5)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .sign(key, hashes.SHA256())
    )
    _write(key_file, cert_file, key, cert)
    return key, cert


def _leaf(
    directory: Path, name: str, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, ca_file: Path
) -> Issued:
    issued = Issued(directory / f"{name}.pem", directory / f"{name}-key.pem", ca_file)
    if issued.cert_file.exists() and issued.key_file.exists():
        cert = x509.load_pem_x509_certificate(issued.cert_file.read_bytes())
        if _fresh(cert) and _issued_by(cert, ca_cert) and _identifies_its_issuer(cert):
            return issued
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    names: list[x509.GeneralName] = [x509.DNSName(host) for host in (name, *LOCAL_HOSTS)]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in LOCAL_ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(issued.key_file, issued.cert_file, key, cert)
    return issued


def _issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _identifies_its_issuer(cert: x509.Certificate) -> bool:
    """Whether the certificate names its CA's key (what a path validator needs; older local ones did not)."""
    try:
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return False
    return True


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - RENEW_BEFORE > _now()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write(key_file: Path, cert_file: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key_file.touch(mode=0o600)
    key_file.write_bytes(pem)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
