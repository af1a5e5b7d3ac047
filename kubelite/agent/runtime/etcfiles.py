"""A pod's /etc/hosts and /etc/resolv.conf, as kubelet makes them.

Used by the Docker driver (``kubelite.agent.runtime.docker``): for pods the agent plumbs
itself the engine makes no network sandbox and writes neither file, so ``write`` puts both
in the pod's directory for bind mounts; for pods the engine attaches, ``resolved`` turns
the pod's DNS settings into the engine's ``Dns``/``DnsSearch``/``DnsOptions`` and
``extra_hosts`` its hostAliases into ``ExtraHosts``.

DNS follows kubelet with no cluster DNS configured (kubelite runs none): ``ClusterFirst``
falls back to ``Default``, the node's resolv.conf (minus loopback nameservers, which the
pod's netns cannot reach, as the engine does), then the pod's ``dnsConfig`` is merged in
(nameservers and searches appended, de-duplicated, capped as upstream; options by name,
the pod's value winning). ``None`` uses the pod's ``dnsConfig`` alone.
"""

from __future__ import annotations

import ipaddress
from contextlib import suppress
from pathlib import Path

from kubelite.agent.runtime import interface as rt

HOST_RESOLV = Path("/etc/resolv.conf")
MAX_NAMESERVERS = 3  # the resolver reads no more (upstream validation's limit too)
MAX_SEARCHES = 32
_HOSTS = """# Kubernetes-managed hosts file (kubelite).
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
"""


def host_resolv() -> str:
    try:
        return HOST_RESOLV.read_text()
    except OSError:
        return ""


def _parse(text: str) -> tuple[list[str], list[str], list[str]]:
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            with suppress(ValueError):
                if ipaddress.ip_address(words[1].split("%")[0]).is_loopback:
                    continue
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            searches = words[1:]  # the last search/domain line wins, as in the resolver
        elif words[0] == "options":
            options += words[1:]
    return servers, searches, options


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _merge_options(base: list[str], pod: list[str]) -> list[str]:
    by_name: dict[str, str] = {}
    for opt in base + pod:
        by_name[opt.split(":", 1)[0]] = opt
    return list(by_name.values())


def resolved(host_text: str, dns: rt.DNSConfig) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, searches, options) the pod's resolv.conf lists."""
    if dns.use_host:
        servers, searches, options = _parse(host_text)
    else:
        servers, searches, options = [], [], []
    servers = _unique(servers + dns.nameservers)[:MAX_NAMESERVERS]
    searches = _unique(searches + dns.searches)[:MAX_SEARCHES]
    return servers, searches, _merge_options(options, dns.options)


def resolv_conf(host_text: str, dns: rt.DNSConfig) -> str:
    servers, searches, options = resolved(host_text, dns)
    lines = [f"nameserver {s}" for s in servers]
    if searches:
        lines.append("search " + " ".join(searches))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def hosts(*, hostname: str, ip: str, aliases: list[tuple[str, list[str]]]) -> str:
    text = _HOSTS + f"{ip}\t{hostname}\n"
    if aliases:
        text += "\n# Entries added by HostAliases.\n"
        text += "".join(f"{alias_ip}\t{chr(9).join(names)}\n" for alias_ip, names in aliases if names)
    return text


def extra_hosts(aliases: list[tuple[str, list[str]]]) -> list[str]:
    """hostAliases as the engine's ``ExtraHosts`` entries ("name:ip")."""
    return [f"{name}:{ip}" for ip, names in aliases for name in names]


def write(directory: Path, *, hostname: str, ip: str, dns: rt.DNSConfig,
          aliases: list[tuple[str, list[str]]]) -> list[str]:
    """Write the pod's hosts and resolv.conf under ``directory``; their ``HostConfig.Binds``
    entries. Files already right are left alone: a running attempt of the pod may have
    them mounted."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {"hosts": hosts(hostname=hostname, ip=ip, aliases=aliases),
              "resolv.conf": resolv_conf(host_resolv(), dns)}
    for name, text in wanted.items():
        path = directory / name
        with suppress(OSError):
            if path.read_text() == text:
                continue
        tmp = directory / f".{name}.tmp"
        tmp.write_text(text)
        tmp.chmod(0o644)  # pods running as any user read them
        tmp.replace(path)
    return [f"{directory / 'hosts'}:/etc/hosts", f"{directory / 'resolv.conf'}:/etc/resolv.conf"]
