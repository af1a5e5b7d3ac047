"""One cluster identity for several servers: join tokens (the k3s idea).

Every server of a cluster must share the CA and the admin token, so that one kubeconfig
works against any of them. Copying the first server's ``<data-dir>/pki`` works; a join
token is easier: ``kubelite token`` prints ``kl1:<sha256 of the CA certificate>:<admin
token>``, and ``kubelite server --join https://first:6443 --join-token TOKEN`` on a new
data directory

1. fetches the CA certificate from the public ``/kubelite.io/v1/ca`` and checks its hash
   against the token (so a man in the middle cannot pose as the cluster),
2. with TLS now verified against that CA, fetches the CA key and the admin token from
   ``/kubelite.io/v1/cluster-pki``, which only the admin token may read,
3. writes them to ``<data-dir>/pki``; ``pki.ensure_pki`` then issues this server's own
   serving certificate from the shared CA.

The router sends ``/kubelite.io/v1/…`` to ``handle``.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from kubelite.api import errors
from kubelite.apiserver import pki

PREFIX = "/kubelite.io/v1/"
PUBLIC = "/kubelite.io/v1/ca"
TOKEN_PREFIX = "kl1"


def ca_hash(ca_pem: bytes) -> str:
    return hashlib.sha256(ca_pem.strip()).hexdigest()


def join_token(p: pki.Pki) -> str:
    return f"{TOKEN_PREFIX}:{ca_hash(p.ca_pem())}:{p.token}"


def make_handler(p: pki.Pki):  # type: ignore[no-untyped-def]
    async def handle(request: web.Request) -> web.Response:
        if request.method != "GET":
            raise errors.MethodNotAllowed("only GET is served here")
        if request.path == PUBLIC:
            return web.Response(body=p.ca_pem(), content_type="application/x-pem-file")
        if request.path == PREFIX + "cluster-pki":
            user = request.get("user")
            if user is None or "system:masters" not in user.groups:
                raise errors.Forbidden("only a cluster admin may read the cluster PKI")
            body = {"caCert": p.ca_pem().decode(), "caKey": p.ca_key.read_text(), "token": p.token}
            return web.Response(body=orjson.dumps(body), content_type="application/json")
        raise errors.NotFound("the server could not find the requested resource")

    return handle


class JoinError(Exception):
    pass


async def fetch_cluster_pki(*, url: str, token: str, data_dir: Path) -> None:
    """Steps 1–3 above; does nothing when ``data_dir`` already holds a CA."""
    target = pki.Pki.at(data_dir)
    if target.ca_cert.exists():
        return
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise JoinError("the join token must look like kl1:<ca-sha256>:<secret> (from `kubelite token`)")
    _, want_hash, secret = parts
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # only for the public CA, which is checked by its hash
    async with aiohttp.ClientSession() as session:
        async with session.get(url.rstrip("/") + PUBLIC, ssl=insecure) as resp:
            ca_pem = await resp.read()
        if resp.status != 200 or ca_hash(ca_pem) != want_hash:
            raise JoinError(f"the CA served by {url} does not match the join token")
        verified = ssl.create_default_context(cadata=ca_pem.decode())
        async with session.get(url.rstrip("/") + PREFIX + "cluster-pki", ssl=verified,
                               headers={"Authorization": f"Bearer {secret}"}) as resp:
            if resp.status != 200:
                raise JoinError(f"{url} refused the join token ({resp.status})")
            body = orjson.loads(await resp.read())
    target.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(target.ca_key, body["caKey"].encode(), 0o600)
    _write(target.token_file, (body["token"] + "\n").encode(), 0o600)
    _write(target.ca_cert, body["caCert"].encode(), 0o644)  # last: its presence means "joined"


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(path)
