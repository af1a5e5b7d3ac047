"""The node's Service proxy: keeps the host's iptables rules in step with Services and
EndpointSlices, so that ClusterIPs and NodePorts reach the Services' ready endpoints.

Run by the node agent (``kubelite.proxy.node.NodeServices``, started by
``kubelite.agent.runner``), which builds one ``Proxier`` over the node's ``ClusterView``
and registers ``proxier.changed`` with ``view.on_change``. ``kubelite.proxy.rules`` renders
the rules (its docstring draws the chains); this module only applies them:

- ``start`` applies a first ruleset (filter table first, so that the service CIDR's
  catch-all REJECT stands before anything is DNAT'ed), inserts the jumps from the built-in
  chains (``-C`` before ``-I``: idempotent, and an agent restarted under the same node name
  adopts and cleans up its predecessor's chains), sets ``net.ipv4.conf.all.route_localnet``
  for ``127.0.0.1:<nodePort>`` as kube-proxy does, and starts the sync loop;
- the loop re-renders after changes, at most once per ``min_sync_interval`` (a burst of
  changes makes one sync), skips a table whose text did not change, and re-checks
  everything (jumps included) every ``resync_interval`` and after a failure;
- each table is written by one ``iptables-restore -w --noflush`` (atomic per table;
  declaring one of our chains flushes it), stale chains deleted in that same call;
- a failed apply is logged with iptables' stderr and retried on the next change or after
  a backoff of at most 5 s; it never ends the loop;
- ``close`` removes the jumps (nat first), then deletes the chains: the host keeps only
  what it had, plus route_localnet=1 while another kubelite proxier still runs.

All chains end in the node's suffix (``rules.suffix_for``), so several agents on one host
(tests) each manage their own and never delete another's. Not done: clearing stale UDP
conntrack entries when an endpoint goes (kube-proxy runs ``conntrack -D``; UDP clients of a
removed endpoint keep it until their flow times out), IPv6, nodePort port holding.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import time
from typing import Any

from kubelite.aio import tasks
from kubelite.proxy import rules
from kubelite.proxy import view as view_mod

log = logging.getLogger("kubelite.proxy.proxier")

LOCK_WAIT = "5"  # s: iptables' own wait for the xtables lock (-w), shared with other agents
COMMAND_TIMEOUT = 30.0  # s: an iptables call taking longer is killed and counted as a failure
RETRY_INITIAL = 0.2  # s: first retry after a failed sync; doubles up to RETRY_MAX
RETRY_MAX = 5.0
DOCKER_USER = "DOCKER-USER"  # Docker re-inserts FORWARD's jump here first and resets FORWARD's policy
ROUTE_LOCALNET = "/proc/sys/net/ipv4/conf/all/route_localnet"


class IptablesError(RuntimeError):
    """An iptables command failed; the message carries its stderr."""


async def _iptables(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run an iptables tool without blocking the loop; (exit code, stdout, stderr)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise IptablesError(f"{argv[0]}: {exc}") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None),
                                          COMMAND_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise IptablesError(f"{' '.join(argv)}: no answer in {COMMAND_TIMEOUT:.0f}s") from None
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace").strip()


async def _restore(table: str, text: str) -> None:
    code, _, err = await _iptables("iptables-restore", "-w", LOCK_WAIT, "--noflush", stdin=text)
    if code != 0:
        raise IptablesError(f"iptables-restore ({table}) exit {code}: {err}")


async def _save_chains(table: str) -> set[str]:
    """Every chain of ``table`` (from ``iptables-save``)."""
    code, out, err = await _iptables("iptables-save", "-t", table)
    if code != 0:
        raise IptablesError(f"iptables-save -t {table} exit {code}: {err}")
    return {line[1:].split()[0] for line in out.splitlines() if line.startswith(":") and len(line) > 1}


async def _has_rule(table: str, chain: str, rule: tuple[str, ...]) -> bool:
    code, _, _ = await _iptables("iptables", "-w", LOCK_WAIT, "-t", table, "-C", chain, *rule)
    return code == 0  # 1: no such rule; 2 and others: no such chain (or worse), absent all the same


async def _chain_exists(table: str, chain: str) -> bool:
    code, _, _ = await _iptables("iptables", "-w", LOCK_WAIT, "-t", table, "-S", chain)
    return code == 0


class Proxier:
    """One node's Service rules. ``view``: what to serve (a ``ClusterView`` in the agent,
    a ``StaticView`` in tests); the caller subscribes ``changed`` to its changes."""

    def __init__(self, view: view_mod.ServiceView, *, node_name: str, service_cidr: str = "10.43.0.0/16",
                 dns: tuple[str, str, int] | None = None, min_sync_interval: float = 0.05,
                 resync_interval: float = 30.0) -> None:
        self.view = view
        self.node_name = node_name
        self.cfg = rules.Config(suffix=rules.suffix_for(node_name), service_cidr=service_cidr, dns=dns)
        self.min_sync_interval = min_sync_interval
        self.resync_interval = resync_interval
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one sync (or the close) at a time
        self._task: asyncio.Task[Any] | None = None
        self._closed = False
        self._failures = 0
        self._last_sync = float("-inf")  # loop time a sync last started
        # per table: the chains and text last applied; None: unknown (start, or after a
        # failure), read the chains from iptables-save and re-apply everything
        self._chains: dict[str, set[str]] | None = None
        self._applied: dict[str, str] = {}
        self._hooked = False  # our jumps were installed once (a missing one later is worth a warning)
        self._set_localnet = False  # we turned route_localnet on (close turns it off if no peer needs it)

    @staticmethod
    def available() -> bool:
        """Whether iptables can be driven here (its tools present, root, the nat table
        readable). Blocking, a few milliseconds: call once at start-up."""
        if os.geteuid() != 0 or not all(shutil.which(t) for t in ("iptables", "iptables-restore", "iptables-save")):
            return False
        try:
            done = subprocess.run(["iptables", "-w", LOCK_WAIT, "-t", "nat", "-S", "POSTROUTING"],
                                  capture_output=True, timeout=15)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, tg: tasks.TaskGroup) -> None:
        """Install the rules of what the view holds now (possibly nothing) and the jumps to
        them, then keep them in step. A failure is logged and retried, never raised."""
        await self._route_localnet()
        if not await self._sync_logged(full=True):
            self._failures = 1
        else:
            log.info("service proxy running node=%s suffix=%s service_cidr=%s dns=%s", self.node_name,
                     self.cfg.suffix, self.cfg.service_cidr, self.cfg.dns)
        self._task = tg.spawn(self._loop(), name=f"proxier-{self.node_name}")

    def changed(self) -> None:
        """The view changed: sync soon (cheap and synchronous, for ``ClusterView.on_change``)."""
        self._wake.set()

    async def sync_now(self) -> None:
        """Apply the view's current state now, jumps re-checked; raises ``IptablesError``."""
        await self._sync(full=True)

    async def close(self) -> None:
        """Stop syncing, remove this proxier's jumps and delete its chains (best effort:
        failures are logged). Another proxier's rules are left alone."""
        async with self._lock:  # an ongoing sync finishes first: no iptables call is cut short
            self._closed = True
            if self._task is not None:
                self._task.cancel()
            # nat first: stop DNAT'ing before the catch-all REJECT goes away
            for table in (rules.NAT, rules.FILTER):
                try:
                    await self._remove_hooks(table)
                    ours = {c for c in await _save_chains(table) if self.cfg.owns(c)}
                    if ours:
                        await _restore(table, rules.delete_chains(table, ours))
                except IptablesError as exc:
                    log.warning("service rules not removed node=%s table=%s error=%s", self.node_name, table, exc)
            await self._restore_localnet()
        if self._task is not None:
            await asyncio.wait([self._task])
        log.info("service proxy stopped node=%s", self.node_name)

    # --- syncing --------------------------------------------------------------------------

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._failures:
                wait = min(RETRY_MAX, RETRY_INITIAL * 2 ** (self._failures - 1))
            else:
                wait = self.resync_interval
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
                full = self._failures > 0
            except TimeoutError:
                full = True  # periodic resync, or the retry after a failure
            # changes arriving while we pause join this sync
            pause = self._last_sync + self.min_sync_interval - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            ok = await self._sync_logged(full=full)
            self._failures = 0 if ok else self._failures + 1

    async def _sync_logged(self, *, full: bool) -> bool:
        try:
            await self._sync(full=full)
        except IptablesError as exc:
            log.warning("service rules not applied node=%s failures=%d error=%s", self.node_name,
                        self._failures + 1, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - a bad object must not stop the proxy for good
            log.warning("service rules not rendered node=%s error=%r", self.node_name, exc, exc_info=exc)
            return False
        return True

    async def _sync(self, *, full: bool) -> None:
        async with self._lock:
            if self._closed:
                return
            loop = asyncio.get_running_loop()
            self._last_sync = loop.time()
            self._wake.clear()  # from here on, a change needs another sync
            started = time.monotonic()
            tables = rules.render(self.view.services(), self.view.slices, self.cfg)
            try:
                written = await self._apply(tables, full=full)
            except BaseException:
                self._chains = None  # the host's state is unknown now: re-read and rewrite next time
                self._applied.clear()
                raise
            log.debug("service rules synced node=%s services=%d endpoints=%d written=%s full=%s duration=%.3fs",
                      self.node_name, tables.services, tables.endpoints, ",".join(written) or "-", full,
                      time.monotonic() - started)

    async def _apply(self, tables: rules.Tables, *, full: bool) -> list[str]:
        if self._chains is None:
            self._chains = {t: {c for c in await _save_chains(t) if self.cfg.owns(c)} for t in rules.TABLES}
            full = True
        written = []
        for table in rules.TABLES:  # filter first: the catch-all REJECT before any DNAT
            stale = self._chains[table] - tables.chains[table]
            if full or stale or self._applied.get(table) != tables.text(table):
                await _restore(table, tables.restore_input(table, stale=stale))
                self._chains[table] = set(tables.chains[table])
                self._applied[table] = tables.text(table)
                written.append(table)
            if full:
                await self._ensure_hooks(table)
        self._hooked = self._hooked or full
        return written

    # --- jumps from the built-in chains --------------------------------------------------------

    async def _hook_chains(self, hook: rules.Hook, *, installing: bool) -> list[str]:
        if hook.chain != rules.FORWARD:
            return [hook.chain]
        if installing:
            return [DOCKER_USER if await _chain_exists(hook.table, DOCKER_USER) else rules.FORWARD]
        return [rules.FORWARD, DOCKER_USER]  # wherever an earlier start put it

    async def _ensure_hooks(self, table: str) -> None:
        for hook in rules.hooks(self.cfg):
            if hook.table != table:
                continue
            for chain in await self._hook_chains(hook, installing=True):
                if await _has_rule(table, chain, hook.rule):
                    continue
                code, _, err = await _iptables("iptables", "-w", LOCK_WAIT, "-t", table, "-I", chain, "1",
                                               *hook.rule)
                if code != 0:
                    raise IptablesError(f"iptables -t {table} -I {chain} exit {code}: {err}")
                # at start expected; later it means someone removed our jump (a firewall reload?)
                log.log(logging.WARNING if self._hooked else logging.DEBUG,
                        "service proxy jump inserted node=%s table=%s chain=%s target=%s", self.node_name, table,
                        chain, hook.rule[-1])

    async def _remove_hooks(self, table: str) -> None:
        for hook in rules.hooks(self.cfg):
            if hook.table != table:
                continue
            for chain in await self._hook_chains(hook, installing=False):
                for _ in range(10):  # bounded: duplicates are possible (e.g. a racing restart), not a loop
                    if not await _has_rule(table, chain, hook.rule):
                        break
                    code, _, err = await _iptables("iptables", "-w", LOCK_WAIT, "-t", table, "-D", chain,
                                                   *hook.rule)
                    if code != 0:
                        raise IptablesError(f"iptables -t {table} -D {chain} exit {code}: {err}")

    # --- route_localnet ---------------------------------------------------------------------------

    async def _route_localnet(self) -> None:
        """127.0.0.1:<nodePort> needs DNAT of loopback sources to be routable (kube-proxy
        sets the same; rules' KL-INPUT guards against 127/8 arriving from the wire)."""
        def enable() -> bool:
            with open(ROUTE_LOCALNET) as f:
                if f.read().strip() == "1":
                    return False
            _write_localnet("1")
            return True

        try:
            self._set_localnet = await asyncio.to_thread(enable)
        except OSError as exc:
            log.warning("cannot set route_localnet (NodePorts on 127.0.0.1 will not answer) node=%s error=%s",
                        self.node_name, exc)

    async def _restore_localnet(self) -> None:
        if not self._set_localnet:
            return
        try:
            # another kubelite proxier on this host still serves 127.0.0.1:<nodePort>
            if any(c.startswith("KL-NODEPORTS-") for c in await _save_chains(rules.NAT)):
                return
            await asyncio.to_thread(_write_localnet, "0")
            self._set_localnet = False
        except (OSError, IptablesError) as exc:
            log.warning("cannot reset route_localnet node=%s error=%s", self.node_name, exc)


def _write_localnet(value: str) -> None:
    with open(ROUTE_LOCALNET, "w") as f:
        f.write(f"{value}\n")
