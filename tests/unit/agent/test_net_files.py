"""The /etc/hosts and /etc/resolv.conf the agent writes for pods the engine gives no sandbox."""

from __future__ import annotations

from pathlib import Path

from kubelite.agent.runtime import plumbing

HOST = """# generated
search corp.example
nameserver 127.0.0.53
nameserver 10.0.0.2
nameserver ::1
options ndots:2
"""


def test_resolv_conf_drops_loopback_nameservers_and_keeps_search_and_options() -> None:
    assert plumbing.resolv_conf(HOST, nameservers=[]) == \
        "nameserver 10.0.0.2\nsearch corp.example\noptions ndots:2\n"


def test_pod_nameservers_replace_the_hosts() -> None:
    assert plumbing.resolv_conf(HOST, nameservers=["10.96.0.10"]) == \
        "nameserver 10.96.0.10\nsearch corp.example\noptions ndots:2\n"


def test_net_files_write_hosts_with_the_pod_address_and_are_stable(tmp_path: Path) -> None:
    binds = plumbing.net_files(tmp_path / "uid", hostname="web-0", ip="10.88.0.7", nameservers=["10.96.0.10"])
    assert binds == [f"{tmp_path}/uid/hosts:/etc/hosts", f"{tmp_path}/uid/resolv.conf:/etc/resolv.conf"]
    hosts = (tmp_path / "uid" / "hosts").read_text().splitlines()
    assert "127.0.0.1\tlocalhost" in hosts and hosts[-1] == "10.88.0.7\tweb-0"
    assert (tmp_path / "uid" / "resolv.conf").read_text().startswith("nameserver 10.96.0.10\n")
    assert (tmp_path / "uid" / "hosts").stat().st_mode & 0o777 == 0o644
    inode = (tmp_path / "uid" / "hosts").stat().st_ino
    plumbing.net_files(tmp_path / "uid", hostname="web-0", ip="10.88.0.7", nameservers=["10.96.0.10"])
    assert (tmp_path / "uid" / "hosts").stat().st_ino == inode  # a mounted file is not replaced
