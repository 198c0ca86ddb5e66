"""Two network namespaces joined by one cable, for tests that must cut the network between browsers.

All browsers on one machine share loopback, so nothing between them can fail. Here each browser
runs in its own network namespace: each namespace reaches the Heshi server in the root namespace
over its own veth pair (its "uplink"), and the two namespaces are joined by ONE more veth pair
(the "media" link) — the only path between them: neither namespace has a route to the other's
uplink, nor any default route.
`cut_media()` silently drops every packet on that link, both ways (a `blackhole` qdisc on both
ends: the kernel here has no netem, and the link stays up, so the browsers see no network
change, only silence); signaling keeps working over the uplinks.

Only private addresses on links that exist inside this machine: the namespaces have no default
route, so nothing they send can leave it. Needs root and iproute2 (`ip`, `tc`).

Names carry the pid of the test process; namespaces and links left over by a run that crashed
(their pid is gone), or by an earlier fixture of this process, are removed before new ones are made.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PREFIX = "heshi-net-"  # namespaces: heshi-net-<pid>-a, heshi-net-<pid>-b
UPLINK = "uplink"  # inside each namespace: the veth to the root namespace
MEDIA = "media"  # inside each namespace: the veth to the other namespace
NET = "10.213"  # blocks of three /30 subnets: 10.213.(4k+1|4k+2|4k+3).0/30


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise RuntimeError(f"`{name}` not found: the network namespace tests need the iproute2 package")
    return path


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ip or tc; a failure raises with what the command printed."""
    cmd = [_tool(args[0]), *args[1:]]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(cmd)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return done


def _root_link(pid: int, side: str) -> str:
    return f"hsn{side}{pid}"  # at most 3 + 1 + 7 characters: interface names stop at 15


@dataclass(frozen=True)
class Namespace:
    name: str
    side: str  # "a" or "b"
    address: str  # this namespace's end of its uplink
    server_address: str  # the root namespace's end of the uplink: where the Heshi server listens
    media_address: str  # this namespace's end of the media link

    def exec(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.name, *args, check=check)

    def launcher(self, directory: Path, program: str) -> Path:
        """A script that runs `program` inside this namespace (for Playwright's executable_path)."""
        path = directory / f"in-{self.name}"
        path.write_text(
            f"#!/bin/sh\nexec {shlex.quote(_tool('ip'))} netns exec {shlex.quote(self.name)} "
            f'{shlex.quote(program)} "$@"\n'
        )
        path.chmod(0o755)
        return path

    def block_media(self, on: bool) -> None:
        """Drop (or stop dropping) everything this namespace sends on the media link."""
        tc = _tool("tc")
        if on:
            self.exec(tc, "qdisc", "replace", "dev", MEDIA, "root", "blackhole")
        else:
            self.exec(tc, "qdisc", "del", "dev", MEDIA, "root")


@dataclass(frozen=True)
class NamespacePair:
    a: Namespace
    b: Namespace

    def __iter__(self) -> Iterator[Namespace]:
        return iter((self.a, self.b))

    def cut_media(self) -> None:
        """Drop every packet on the link between the namespaces, both ways."""
        for ns in self:
            ns.block_media(True)

    def restore_media(self) -> None:
        for ns in self:
            ns.block_media(False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(pid: int) -> None:
    """Remove the namespaces and links of the run with this pid, whatever is left of them."""
    for side in ("a", "b"):
        # Deleting a namespace frees its links only later (asynchronously): delete the root ends now.
        if run("ip", "link", "show", "dev", _root_link(pid, side), check=False).returncode == 0:
            run("ip", "link", "del", "dev", _root_link(pid, side), check=False)
        if Path(f"/run/netns/{PREFIX}{pid}-{side}").exists():
            run("ip", "netns", "del", f"{PREFIX}{pid}-{side}", check=False)


def remove_stale() -> None:
    """Namespaces and root links of runs whose process is gone, and earlier ones of this process."""
    pids: set[int] = set()
    for name in run("ip", "netns", "list").stdout.split("\n"):
        m = re.match(rf"{re.escape(PREFIX)}(\d+)-[ab]\b", name.strip())
        if m:
            pids.add(int(m.group(1)))
    for m in re.finditer(r"^\d+: hsn[ab](\d+)[@:]", run("ip", "-o", "link", "show").stdout, re.M):
        pids.add(int(m.group(1)))
    for pid in pids:
        if pid == os.getpid() or not _alive(pid):
            _remove(pid)


def _free_block() -> int:
    """A block of subnets whose root-side addresses no other (live) run uses."""
    used = run("ip", "-4", "-o", "addr", "show").stdout
    for k in range(63):
        if f" {NET}.{4 * k + 1}.1/" not in used and f" {NET}.{4 * k + 2}.1/" not in used:
            return k
    raise RuntimeError(f"no free {NET}.x.0/30 subnets left on this machine")


def _disable_ipv6(ns: str | None, *devices: str) -> None:
    """IPv4 only: no link-local IPv6 addresses (no router solicitations, no extra ICE candidates)."""
    for dev in devices:
        path = f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"
        if ns is None:
            if Path(path).exists():
                Path(path).write_text("1\n")
        else:
            run("ip", "netns", "exec", ns, "sh", "-c", f"[ ! -e {path} ] || echo 1 > {path}")


def create_pair() -> NamespacePair:
    """Two namespaces, each with an uplink to the root namespace, joined by one media link."""
    if os.geteuid() != 0:
        raise RuntimeError("network namespace tests must run as root (ip netns add)")
    remove_stale()
    pid = os.getpid()
    k = _free_block()
    media = f"{NET}.{4 * k + 3}"
    names = {side: f"{PREFIX}{pid}-{side}" for side in ("a", "b")}
    spaces = {}
    try:
        for n, side in enumerate(("a", "b"), start=1):
            ns, net, root = names[side], f"{NET}.{4 * k + n}", _root_link(pid, side)
            run("ip", "netns", "add", ns)
            _disable_ipv6(ns, "all", "default", "lo")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "link", "add", root, "type", "veth", "peer", "name", UPLINK, "netns", ns)
            _disable_ipv6(None, root)
            run("ip", "addr", "add", f"{net}.1/30", "dev", root)
            run("ip", "link", "set", root, "up")
            run("ip", "-n", ns, "addr", "add", f"{net}.2/30", "dev", UPLINK)
            run("ip", "-n", ns, "link", "set", UPLINK, "up")
            spaces[side] = Namespace(ns, side, f"{net}.2", f"{net}.1", f"{media}.{n}")
        run("ip", "-n", names["a"], "link", "add", MEDIA, "type", "veth", "peer", "name", MEDIA, "netns", names["b"])
        for side in ("a", "b"):
            run("ip", "-n", names[side], "addr", "add", f"{spaces[side].media_address}/30", "dev", MEDIA)
            run("ip", "-n", names[side], "link", "set", MEDIA, "up")
    except BaseException:
        _remove(pid)
        raise
    return NamespacePair(spaces["a"], spaces["b"])


@pytest.fixture
def netns_pair() -> Iterator[NamespacePair]:
    """Removed afterwards however the test ends (and, after a crash, by the next run)."""
    pair = create_pair()
    try:
        yield pair
    finally:
        _remove(os.getpid())
