"""The /etc/hosts and /etc/resolv.conf a pod gets (``etcfiles``), from its dnsPolicy,
dnsConfig and hostAliases, as kubelet writes them with no cluster DNS."""

from __future__ import annotations

from pathlib import Path

from kubelite.agent import containerconfig
from kubelite.agent.runtime import etcfiles
from kubelite.agent.runtime import interface as rt

HOST = """# generated
search corp.example
nameserver 127.0.0.53
nameserver 10.0.0.2
nameserver ::1
options ndots:2 edns0
"""


def test_default_policy_is_the_hosts_minus_loopback_nameservers() -> None:
    assert etcfiles.resolv_conf(HOST, containerconfig.pod_dns({})) == \
        "nameserver 10.0.0.2\nsearch corp.example\noptions ndots:2 edns0\n"


def test_dns_config_merges_into_the_hosts() -> None:
    spec = {"dnsPolicy": "ClusterFirst", "dnsConfig": {
        "nameservers": ["10.96.0.10", "10.0.0.2"], "searches": ["ns1.svc.example", "corp.example"],
        "options": [{"name": "ndots", "value": "5"}, {"name": "single-request"}]}}
    assert etcfiles.resolv_conf(HOST, containerconfig.pod_dns(spec)) == (
        "nameserver 10.0.0.2\nnameserver 10.96.0.10\nsearch corp.example ns1.svc.example\n"
        "options ndots:5 edns0 single-request\n")


def test_policy_none_uses_only_the_pods_config() -> None:
    spec = {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["a.example"]}}
    assert etcfiles.resolv_conf(HOST, containerconfig.pod_dns(spec)) == "nameserver 1.2.3.4\nsearch a.example\n"


def test_hosts_has_the_pod_and_its_aliases() -> None:
    text = etcfiles.hosts(hostname="web-0", ip="10.88.0.7", aliases=[("10.1.2.3", ["foo.local", "bar.local"])])
    lines = text.splitlines()
    assert "127.0.0.1\tlocalhost" in lines and "10.88.0.7\tweb-0" in lines
    assert lines[-2:] == ["# Entries added by HostAliases.", "10.1.2.3\tfoo.local\tbar.local"]
    assert etcfiles.extra_hosts([("10.1.2.3", ["foo.local", "bar.local"])]) == \
        ["foo.local:10.1.2.3", "bar.local:10.1.2.3"]


def test_written_files_are_readable_and_stable(tmp_path: Path) -> None:
    binds = etcfiles.write(tmp_path / "uid", hostname="web-0", ip="10.88.0.7", dns=rt.DNSConfig(), aliases=[])
    assert binds == [f"{tmp_path}/uid/hosts:/etc/hosts", f"{tmp_path}/uid/resolv.conf:/etc/resolv.conf"]
    assert (tmp_path / "uid" / "hosts").stat().st_mode & 0o777 == 0o644
    inode = (tmp_path / "uid" / "hosts").stat().st_ino
    etcfiles.write(tmp_path / "uid", hostname="web-0", ip="10.88.0.7", dns=rt.DNSConfig(), aliases=[])
    assert (tmp_path / "uid" / "hosts").stat().st_ino == inode  # a mounted file is not replaced
