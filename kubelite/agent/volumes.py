"""Pod volumes on the node: directories the agent prepares and bind-mounts into containers.

Called by the pod workers before a pod's first container starts (``prepare``), when they
build a container's mounts (``mounts_for``) and after the pod is gone (``cleanup``).

Every pod gets ``<agent data dir>/pods/<uid>/volumes/<kind>/<name>``. ConfigMap, Secret,
downwardAPI and projected volumes are written there as files (refreshed by the worker now
and then, so an edited ConfigMap reaches a running pod like upstream's ~1 min sync); a
projected ``serviceAccountToken`` is a TokenRequest for the pod's ServiceAccount, bound to
the pod and renewed after 80 % of its lifetime, as kubelet's;
emptyDir is an empty directory (tmpfs when ``medium: Memory`` and the agent may mount);
hostPath is the host path itself; a PersistentVolumeClaim resolves through its bound
PersistentVolume to a ``hostPath`` or ``local`` path.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from kubelite.agent import envs
from kubelite.agent.runtime import interface as rt
from kubelite.api import claims
from kubelite.client import errors, resources, rest

log = logging.getLogger("kubelite.agent.volumes")

Obj = dict[str, Any]


class VolumeError(Exception):
    """A volume cannot be set up yet (missing ConfigMap, unbound claim); retried later."""


def _write_files(target: Path, files: dict[str, tuple[bytes, int | None]], default_mode: int | None) -> None:
    """Make ``target`` hold exactly ``files`` (relative path → (content, mode))."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for rel, (content, mode) in files.items():
        path = target / rel
        if ".." in Path(rel).parts:
            continue
        wanted.add(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(content)
        os.chmod(tmp, mode if mode is not None else (default_mode if default_mode is not None else 0o644))
        os.replace(tmp, path)  # in place, so a bind-mounted directory sees the new content
    for existing in list(target.rglob("*")):
        if existing.is_file() and existing not in wanted:
            existing.unlink()


def _items(data: dict[str, bytes], items: list[Obj] | None, *, what: str, optional: bool) -> dict[str, tuple[bytes, int | None]]:
    if not items:
        return {k: (v, None) for k, v in data.items()}
    out: dict[str, tuple[bytes, int | None]] = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"configmap references non-existent config key: {key}" if what == "configmap"
                              else f"secret references non-existent secret key: {key}")
        out[item.get("path") or key] = (data[key], item.get("mode"))
    return out


TOKEN_DEFAULT_SECONDS = 3600  # a serviceAccountToken source's expirationSeconds when it gives none
TOKEN_REFRESH_AT = 0.8  # kubelet's token manager: a new token once 80 % of the TTL has passed…
TOKEN_REFRESH_MAX = 24 * 3600.0  # …or 24 h, whichever comes first


class VolumeManager:
    def __init__(self, client: rest.Client, *, root: Path) -> None:
        self.client = client
        self.root = root
        # (pod uid, audience, expirationSeconds) → (token, when to ask for a new one)
        self._tokens: dict[tuple[str, str, int], tuple[bytes, float]] = {}

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    async def _source(self, res: resources.Resource, namespace: str, name: str, *, optional: bool) -> dict[str, bytes] | None:
        try:
            obj = await self.client.get(res, name, namespace=namespace)
        except errors.NotFound:
            if optional:
                return None
            raise VolumeError(f'{"configmap" if res is resources.CONFIGMAPS else "secret"} "{name}" not found') from None
        if res is resources.SECRETS:
            data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            data.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
            return data
        data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    async def _files_of(self, pod: Obj, source: Obj) -> dict[str, tuple[bytes, int | None]]:
        """Files of a configMap/secret/downwardAPI (volume or projected source)."""
        namespace = pod["metadata"].get("namespace", "default")
        if "configMap" in source:
            src = source["configMap"] or {}
            optional = bool(src.get("optional"))
            data = await self._source(resources.CONFIGMAPS, namespace, src.get("name", ""), optional=optional)
            return _items(data or {}, src.get("items"), what="configmap", optional=optional)
        if "secret" in source:
            src = source["secret"] or {}
            optional = bool(src.get("optional"))
            data = await self._source(resources.SECRETS, namespace, src.get("secretName") or src.get("name", ""),
                                      optional=optional)
            return _items(data or {}, src.get("items"), what="secret", optional=optional)
        if "downwardAPI" in source:
            out: dict[str, tuple[bytes, int | None]] = {}
            for item in (source["downwardAPI"] or {}).get("items") or []:
                if "fieldRef" in item:
                    value = envs.field_value(pod, (item["fieldRef"] or {}).get("fieldPath", ""), file_format=True)
                elif "resourceFieldRef" in item:
                    value = envs.resource_value(pod, item["resourceFieldRef"] or {})
                else:
                    continue
                out[item.get("path", "")] = (value.encode(), item.get("mode"))
            return out
        if "serviceAccountToken" in source:
            src = source["serviceAccountToken"] or {}
            return {src.get("path", "token"): (await self._service_account_token(pod, src), src.get("mode"))}
        return {}

    async def _service_account_token(self, pod: Obj, src: Obj) -> bytes:
        """A token of the pod's ServiceAccount bound to the pod (TokenRequest), kept and
        renewed as kubelet's token manager does: a bound token dies with its pod."""
        meta = pod["metadata"]
        audience = str(src.get("audience") or "")
        seconds = int(src.get("expirationSeconds") or TOKEN_DEFAULT_SECONDS)
        key = (meta["uid"], audience, seconds)
        cached = self._tokens.get(key)
        now = time.time()
        if cached is not None and now < cached[1]:
            return cached[0]
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        spec: Obj = {"expirationSeconds": seconds,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}
        if audience:
            spec["audiences"] = [audience]
        path = resources.SERVICEACCOUNTS.path(namespace=meta.get("namespace", "default"), name=account,
                                             subresource="token")
        try:
            answer = await self.client.request("POST", path, json={
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
        except errors.ApiError as exc:
            raise VolumeError(f'failed to fetch token: {exc}') from None
        token = str((answer.get("status") or {}).get("token") or "").encode()
        if not token:
            raise VolumeError("failed to fetch token: the answer had none")
        try:
            expires = datetime.datetime.fromisoformat(
                str(answer["status"]["expirationTimestamp"]).replace("Z", "+00:00")).timestamp()
        except (KeyError, ValueError):
            expires = now + seconds
        self._tokens[key] = (token, now + min(TOKEN_REFRESH_AT * max(expires - now, 0.0), TOKEN_REFRESH_MAX))
        return token

    async def prepare(self, pod: Obj) -> dict[str, str]:
        """Set up every volume of ``pod``; returns volume name → host path. Idempotent."""
        uid = pod["metadata"]["uid"]
        base = self.pod_dir(uid) / "volumes"
        paths: dict[str, str] = {}
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            name = vol.get("name", "")
            if "emptyDir" in vol:
                path = base / "empty-dir" / name
                fresh = not path.exists()
                path.mkdir(parents=True, exist_ok=True)
                if fresh and (vol["emptyDir"] or {}).get("medium") == "Memory":
                    self._mount_tmpfs(path, (vol["emptyDir"] or {}).get("sizeLimit"))
                os.chmod(path, 0o777)  # upstream emptyDir is world-writable: any runAsUser may use it
            elif "hostPath" in vol:
                src = vol["hostPath"] or {}
                path = Path(src.get("path", "/"))
                kind = src.get("type") or ""
                if kind == "DirectoryOrCreate":
                    path.mkdir(parents=True, exist_ok=True)
                elif kind == "FileOrCreate" and not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
                elif kind in ("Directory", "File", "Socket") and not path.exists():
                    raise VolumeError(f"hostPath type check failed: {path} does not exist")
            elif any(k in vol for k in ("configMap", "secret", "downwardAPI")):
                kind = next(k for k in ("configMap", "secret", "downwardAPI") if k in vol)
                path = base / kind.lower() / name
                mode = (vol[kind] or {}).get("defaultMode")
                _write_files(path, await self._files_of(pod, vol), mode)
            elif "projected" in vol:
                path = base / "projected" / name
                files: dict[str, tuple[bytes, int | None]] = {}
                for source in (vol["projected"] or {}).get("sources") or []:
                    files.update(await self._files_of(pod, source))
                _write_files(path, files, (vol["projected"] or {}).get("defaultMode"))
            elif "persistentVolumeClaim" in vol or "ephemeral" in vol:
                path = Path(await self._claim_path(pod, claims.claim_name_of(pod, vol) or "",
                                                   ephemeral="ephemeral" in vol))
                if not path.exists():
                    path.mkdir(parents=True, exist_ok=True)
                    # World-writable, as local-path-provisioner creates its volume folders:
                    # any runAsUser in the pod may write there.
                    os.chmod(path, 0o777)
            else:
                raise VolumeError(f"volume {name}: unsupported volume type")
            paths[name] = str(path)
        return paths

    async def _claim_path(self, pod: Obj, claim: str, *, ephemeral: bool = False) -> str:
        namespace = pod["metadata"].get("namespace", "default")
        try:
            pvc = await self.client.get(resources.PERSISTENTVOLUMECLAIMS, claim, namespace=namespace)
        except errors.NotFound:
            raise VolumeError(f'persistentvolumeclaim "{claim}" not found') from None
        if ephemeral and not claims.is_for_pod(pvc, pod):
            raise VolumeError(claims.not_for_pod_message(pod, claim))
        volume = (pvc.get("spec") or {}).get("volumeName")
        if not volume:
            raise VolumeError(f'persistentvolumeclaim "{claim}" is not bound')
        pv = await self.client.get(resources.PERSISTENTVOLUMES, volume)
        spec = pv.get("spec") or {}
        path = (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
        if not path:
            raise VolumeError(f"persistentvolume {volume}: only hostPath and local volumes are supported")
        return str(path)

    @staticmethod
    def _mount_tmpfs(path: Path, size: str | None) -> None:
        opts = f"size={size}" if size else "size=64m"
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True,
                           capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as exc:
            # Not root, or no mount(8): a plain directory still works, only not in memory.
            log.warning("emptyDir medium=Memory falls back to disk path=%s error=%s", path, exc)

    def mounts_for(self, container: Obj, paths: dict[str, str]) -> list[rt.Mount]:
        out = []
        for vm in container.get("volumeMounts") or []:
            host = paths.get(vm.get("name", ""))
            if host is None:
                raise VolumeError(f'volumeMount "{vm.get("name")}" refers to no volume')
            if vm.get("subPath"):
                host = os.path.join(host, vm["subPath"])
                Path(host).mkdir(parents=True, exist_ok=True) if not os.path.exists(host) else None
            out.append(rt.Mount(host_path=host, container_path=vm.get("mountPath", ""),
                                read_only=bool(vm.get("readOnly"))))
        return out

    def cleanup(self, uid: str) -> None:
        for key in [k for k in self._tokens if k[0] == uid]:
            del self._tokens[key]
        pod_dir = self.pod_dir(uid)
        if not pod_dir.exists():
            return
        for tmpfs in (pod_dir / "volumes" / "empty-dir").glob("*") if (pod_dir / "volumes" / "empty-dir").exists() else []:
            if os.path.ismount(tmpfs):
                subprocess.run(["umount", str(tmpfs)], capture_output=True, timeout=10)
        shutil.rmtree(pod_dir, ignore_errors=True)
