"""The cluster's PKI: a CA, the API server's serving certificate, the admin token, kubeconfigs.

Called by the server start-up (``kubelite server`` / ``kubelite up``) before it listens:
``ensure_pki`` creates everything under ``<data_dir>/pki/`` on first start, as k3s does, and
reuses it afterwards, so kubeconfigs handed out earlier keep working across restarts. The
serving certificate alone is re-issued (by the same CA) when it misses a host name or IP the
server was asked to serve, or is close to expiry. ``ssl_context`` gives aiohttp its TLS
context, which also asks for (but does not require) a client certificate signed by the CA,
so both bearer-token and client-certificate users can connect; the authenticator reads the
verified certificate through ``client_identity``. ``write_kubeconfig`` writes a file that
kubectl and the Python clients use unmodified.

Files (keys and the token are 0600, the directory 0700)::

    pki/ca.crt  ca.key  server.crt  server.key  admin.token
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import fcntl
import ipaddress
import os
import secrets
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = datetime.timedelta(days=3650)
LEAF_VALIDITY = datetime.timedelta(days=365)
# Re-issue the serving certificate on start when less than this is left, as k3s does
# (90 days), so a server restarted now and then never serves an expired certificate.
RENEW_BEFORE = datetime.timedelta(days=90)
# Certificates start a little in the past: a client whose clock runs behind would
# otherwise reject a certificate issued "in the future".
CLOCK_SKEW = datetime.timedelta(hours=1)

# The names under which pods and users reach the API server (the `kubernetes` Service).
DEFAULT_HOSTNAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
DEFAULT_IPS = ("127.0.0.1", "::1", "10.43.0.1")  # the last: the `kubernetes` Service, for in-cluster clients


class PkiError(Exception):
    """The PKI directory holds something kubelite cannot use (e.g. a CA cert without its key)."""


@dataclasses.dataclass(frozen=True)
class Pki:
    """Where the cluster's PKI lives, and the admin token (read once, kept in memory)."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    token_file: Path
    token: str

    @classmethod
    def at(cls, data_dir: Path, *, token: str = "") -> Pki:
        d = Path(data_dir) / "pki"
        return cls(
            dir=d,
            ca_cert=d / "ca.crt",
            ca_key=d / "ca.key",
            server_cert=d / "server.crt",
            server_key=d / "server.key",
            token_file=d / "admin.token",
            token=token,
        )

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()


# --- public API ---------------------------------------------------------------------


def ensure_pki(data_dir: Path, *, hostnames: list[str], ips: list[str]) -> Pki:
    """Create the PKI under ``<data_dir>/pki`` on first start, reuse it afterwards.

    ``hostnames`` and ``ips`` are served in addition to the defaults (localhost, this
    host's name, 127.0.0.1, ::1 and the ``kubernetes.default.svc…`` names); pass the
    ``kubernetes`` Service's cluster IP and any public address here. A string in
    ``hostnames`` that parses as an IP counts as an IP. Safe to call from several
    processes sharing a data directory: creation happens under a file lock.
    """
    pki = Pki.at(data_dir)
    pki.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    want_dns, want_ips = _wanted_sans(hostnames=hostnames, ips=ips)
    with _locked(pki.dir / ".lock"):
        ca_cert, ca_key = _ensure_ca(pki)
        _ensure_server_cert(
            pki, ca_cert=ca_cert, ca_key=ca_key, dns=want_dns, ips=want_ips
        )
        token = _ensure_token(pki.token_file)
    return dataclasses.replace(pki, token=token)


def load_pki(data_dir: Path) -> Pki:
    """The PKI a server created earlier, without creating anything (for tools and tests)."""
    pki = Pki.at(data_dir)
    for path in (pki.ca_cert, pki.server_cert, pki.server_key, pki.token_file):
        if not path.exists():
            raise PkiError(
                f"{path} is missing: has the server started with this data directory?"
            )
    return dataclasses.replace(pki, token=pki.token_file.read_text().strip())


def issue_client_cert(
    pki: Pki,
    *,
    cn: str,
    groups: list[str],
    validity: datetime.timedelta = LEAF_VALIDITY,
) -> tuple[bytes, bytes]:
    """A client certificate for user ``cn`` in ``groups`` (one O each, as Kubernetes reads them).

    Returns ``(cert_pem, key_pem)``, ready for a kubeconfig's client-certificate-data.
    """
    ca_cert, ca_key = _load_ca(pki)
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    cert = _leaf(
        ca_cert=ca_cert,
        ca_key=ca_key,
        key=key,
        subject=x509.Name(attrs),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        sans=None,
        validity=validity,
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def client_identity(peercert: dict[str, Any] | None) -> tuple[str, list[str]] | None:
    """``(user, groups)`` from a verified client certificate, or None if there was none.

    ``peercert`` is ``ssl_object.getpeercert()``; with ``ssl_context``'s CERT_OPTIONAL it
    is only non-empty when the certificate verified against the cluster CA.
    """
    if not peercert:
        return None
    user = ""
    groups: list[str] = []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.append(value)
    return (user, groups) if user else None


def ssl_context(pki: Pki) -> ssl.SSLContext:
    """The server's TLS context: serving cert, TLS ≥ 1.2, optional client certs from the CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=pki.server_cert, keyfile=pki.server_key)
    ctx.load_verify_locations(cafile=pki.ca_cert)
    # OPTIONAL, as Kubernetes' VerifyClientCertIfGiven: token users send no certificate;
    # a certificate that is sent must verify, or the handshake fails.
    ctx.verify_mode = ssl.CERT_OPTIONAL
    # aiohttp speaks HTTP/1.1 only; saying so keeps Go clients (kubectl) from trying h2.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def write_kubeconfig(
    path: Path,
    *,
    server_url: str,
    ca_pem: bytes,
    token: str | None = None,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    cluster_name: str = "kubelite",
    namespace: str = "default",
    user_name: str | None = None,
) -> Path:
    """Write a kubeconfig (mode 0600) with the CA inline and a token and/or client cert.

    kubectl, the official client, kr8s, lightkube and kopf all read it as is.
    """
    if token is None and client_cert_pem is None:
        raise ValueError("a kubeconfig needs a token or a client certificate")
    if (client_cert_pem is None) != (client_key_pem is None):
        raise ValueError("client_cert_pem and client_key_pem go together")
    user_name = user_name or f"{cluster_name}-admin"
    user: dict[str, str] = {}
    if token is not None:
        user["token"] = token
    if client_cert_pem is not None and client_key_pem is not None:
        user["client-certificate-data"] = _b64(client_cert_pem)
        user["client-key-data"] = _b64(client_key_pem)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": _b64(ca_pem),
                },
            }
        ],
        "users": [{"name": user_name, "user": user}],
        "contexts": [
            {
                "name": cluster_name,
                "context": {
                    "cluster": cluster_name,
                    "user": user_name,
                    "namespace": namespace,
                },
            }
        ],
        "current-context": cluster_name,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, yaml.safe_dump(config, sort_keys=False).encode(), mode=0o600)
    return path


# --- CA, serving certificate, token ---------------------------------------------------


def _ensure_ca(pki: Pki) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    have_cert, have_key = pki.ca_cert.exists(), pki.ca_key.exists()
    if have_cert and have_key:
        return _load_ca(pki)
    if have_cert != have_key:
        # Never silently replace half a CA: every kubeconfig out there trusts the old one.
        missing = pki.ca_key if have_cert else pki.ca_cert
        raise PkiError(
            f"{missing} is missing; restore it or remove the whole {pki.dir}"
        )
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"kubelite-ca@{int(now.timestamp())}")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    # Key first: a crash between the two writes leaves a key without a cert, which the
    # next start reports instead of trusting a cert whose key is gone.
    _write_atomic(pki.ca_key, _key_pem(key), mode=0o600)
    _write_atomic(
        pki.ca_cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644
    )
    # A new CA invalidates any serving certificate left from an earlier one.
    pki.server_cert.unlink(missing_ok=True)
    return cert, key


def _load_ca(pki: Pki) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise PkiError(f"{pki.ca_key}: unsupported key type {type(key).__name__}")
    return cert, key


def _ensure_server_cert(
    pki: Pki,
    *,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    dns: list[str],
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> None:
    if pki.server_cert.exists() and pki.server_key.exists():
        current = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
        if _still_good(current, ca_cert=ca_cert, dns=dns, ips=ips):
            return
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ip) for ip in ips]
    cert = _leaf(
        ca_cert=ca_cert,
        ca_key=ca_key,
        key=key,
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=sans,
        validity=LEAF_VALIDITY,
    )
    _write_atomic(pki.server_key, _key_pem(key), mode=0o600)
    _write_atomic(
        pki.server_cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644
    )


def _still_good(
    cert: x509.Certificate,
    *,
    ca_cert: x509.Certificate,
    dns: list[str],
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (
        InvalidSignature,
        ValueError,
        TypeError,
    ):  # signed by another CA, or another key type
        return False
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return set(dns) <= have_dns and set(ips) <= have_ips


def _ensure_token(path: Path) -> str:
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):  # 1 in 64: "--token -x…" would read as an option on a command line
        token = secrets.token_urlsafe(32)
    _write_atomic(path, (token + "\n").encode(), mode=0o600)
    return token


# --- helpers --------------------------------------------------------------------------


def _wanted_sans(
    *, hostnames: list[str], ips: list[str]
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    dns: list[str] = []
    addrs: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for raw in [*DEFAULT_HOSTNAMES, socket.gethostname(), *hostnames]:
        name = raw.strip().lower().rstrip(".")
        if not name:
            continue
        try:
            addrs.append(ipaddress.ip_address(name))
        except ValueError:
            dns.append(name)
    for raw in [*DEFAULT_IPS, *ips]:
        addrs.append(
            ipaddress.ip_address(raw.strip())
        )  # ValueError names the bad address
    # dict.fromkeys: de-duplicate, keep the order (the first names read best in `openssl x509`)
    return list(dict.fromkeys(dns)), list(dict.fromkeys(addrs))


def _leaf(
    *,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None,
    validity: datetime.timedelta,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        # never outlive the CA: verifiers would reject the chain from that day on
        .not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(sans), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def _key_usage(
    *,
    digital_signature: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Write via a temp file and rename: readers never see half a key or a 0644 key."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # left by a crash of an earlier process with this pid
    # O_EXCL and the mode at creation: the secret is never readable by others, not even
    # for the instant between open and chmod.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed the creation mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock across processes that start on the same data directory at once."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
