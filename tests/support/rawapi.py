"""A raw HTTPS client built from a kubeconfig (its CA and token), to send what typed
clients refuse to send: bodies of the wrong shape, odd content types, no credentials.
Used by the bad-input tests (``tests/api/test_bad_input.py``) and the write-path fuzzer
(``tests/support/fuzz.py``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import requests as http
import yaml


class Api:
    """A raw HTTPS client from the kubeconfig, to send what typed clients refuse to send."""

    def __init__(self, kubeconfig: Path) -> None:
        cfg = yaml.safe_load(kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.url = cluster["server"]
        self.ca = kubeconfig.parent / "ca-for-tests.crt"
        self.ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        self.session = http.Session()
        self.session.headers["Authorization"] = f"Bearer {cfg['users'][0]['user']['token']}"
        self.session.verify = str(self.ca)

    def send(self, method: str, path: str, *, body: Any = None, content_type: str = "application/json",
             params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
             auth: bool = True) -> http.Response:
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        hdrs = {"Content-Type": content_type, **(headers or {})}
        if not auth:
            return http.request(method, self.url + path, data=data, headers=hdrs, params=params, verify=str(self.ca))
        # verify per request: requests prefers REQUESTS_CA_BUNDLE from the environment over session.verify
        return self.session.request(method, self.url + path, data=data, headers=hdrs, params=params,
                                    verify=str(self.ca))
