"""A kopf operator runs against kubelite unchanged.

The operator below is written as a user would write it: it reacts to the creation,
update and deletion of a custom resource, patches its status and posts events. It runs
as ``python -m kopf run --standalone -A`` with only the server's kubeconfig; the test
checks, through the API, that the status and the events appear and that deletion
completes (kopf's finalizer is released).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

GROUP = "kopftest.example.com"

OPERATOR = '''
import logging

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 30
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()


@kopf.on.create("kopftest.example.com", "v1", "gadgets")
def created(body, spec, name, **_):
    kopf.info(body, reason="Greeted", message=f"hello {spec.get('greeting', '')} from {name}")
    return {"message": f"created {spec.get('greeting', '')}"}


@kopf.on.update("kopftest.example.com", "v1", "gadgets")
def updated(body, spec, patch, **_):
    patch.status["greeting"] = spec.get("greeting")
    kopf.info(body, reason="Regreeted", message=f"now {spec.get('greeting')}")


@kopf.on.delete("kopftest.example.com", "v1", "gadgets")
def deleted(body, name, **_):
    kopf.info(body, reason="Farewell", message=f"goodbye {name}")
'''

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gadgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "properties": {"greeting": {"type": "string"}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }},
        }],
    },
}


def wait_for(check: Callable[[], Any], *, what: str, timeout: float = 20.0,
             proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the operator exited ({proc.returncode}):\n{log.read_text() if log else ''}")
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log else ""
            raise AssertionError(f"timed out waiting for {what}\n--- operator log ---\n{tail}")
        time.sleep(0.1)


@pytest.fixture
def gadgets_crd(k8s) -> Iterator[None]:  # type: ignore[no-untyped-def]
    api = client.ApiextensionsV1Api(k8s)
    try:
        api.create_custom_resource_definition(CRD)
    except ApiException as exc:
        if exc.status != 409:
            raise
    wait_for(lambda: any(c.type == "Established" and c.status == "True" for c in
                         api.read_custom_resource_definition(f"gadgets.{GROUP}").status.conditions or []),
             what="the CRD to be established")
    yield


@pytest.fixture
def operator(kubeconfig: Path, tmp_path: Path, gadgets_crd: None) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    script = tmp_path / "operator.py"
    script.write_text(OPERATOR)
    log = tmp_path / "operator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "-A", "--verbose", str(script)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_path,
            env={**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"})
    try:
        yield proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _events(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    items = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    return {e.reason: e.message for e in items}


def test_kopf_operator_handles_create_update_delete(k8s, namespace: str,  # type: ignore[no-untyped-def]
                                                    operator: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, log = operator
    custom = client.CustomObjectsApi(k8s)
    core = client.CoreV1Api(k8s)
    name = f"g-{uuid.uuid4().hex[:6]}"
    custom.create_namespaced_custom_object(GROUP, "v1", namespace, "gadgets", {
        "apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": name},
        "spec": {"greeting": "hi"}})

    def get() -> dict[str, Any]:
        return custom.get_namespaced_custom_object(GROUP, "v1", namespace, "gadgets", name)

    # create: the handler's result lands in status, an event is posted, kopf's finalizer is set
    status = wait_for(lambda: (get().get("status") or {}).get("created"), what="status.created",
                      proc=proc, log=log)
    assert status == {"message": "created hi"}
    assert wait_for(lambda: _events(core, namespace, name).get("Greeted"), what="the Greeted event",
                    proc=proc, log=log) == f"hello hi from {name}"
    assert get()["metadata"].get("finalizers")

    # update: the handler patches status through the patch object
    custom.patch_namespaced_custom_object(GROUP, "v1", namespace, "gadgets", name, {"spec": {"greeting": "hey"}})
    wait_for(lambda: (get().get("status") or {}).get("greeting") == "hey", what="status.greeting",
             proc=proc, log=log)
    assert wait_for(lambda: _events(core, namespace, name).get("Regreeted"), what="the Regreeted event",
                    proc=proc, log=log) == "now hey"

    # delete: the handler runs, kopf releases its finalizer and the object goes
    custom.delete_namespaced_custom_object(GROUP, "v1", namespace, "gadgets", name)

    def gone() -> bool:
        try:
            get()
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, what="the gadget to be deleted", proc=proc, log=log)
    assert _events(core, namespace, name).get("Farewell") == f"goodbye {name}"
