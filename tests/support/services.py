"""Find the real PostgreSQL and Redis this machine runs, or start throwaway ones on a free port.

Tests never skip because a service is missing: `make test` installs the Debian packages, and
these helpers start private instances when nothing listens on the usual ports.
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

PG_URL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL_DEFAULT = "redis://127.0.0.1:6379/0"


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open("127.0.0.1", port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port} within {timeout}s")


def postgres_admin_url() -> str:
    """A URL of a PostgreSQL server where we may CREATE DATABASE (database `postgres` or `test`)."""
    if os.environ.get("TEST_POSTGRES_URL"):
        return os.environ["TEST_POSTGRES_URL"]
    if _port_open("127.0.0.1", 5432):
        return PG_URL_DEFAULT
    return _start_postgres()


def _start_postgres() -> str:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        raise RuntimeError("PostgreSQL is not running and not installed; `make test` installs the postgresql package")
    bindir = os.path.dirname(bins[-1])
    root = tempfile.mkdtemp(prefix="heshi-pg-")
    port = free_port()
    # initdb refuses to run as root: use the postgres system user when we are root.
    run_as: list[str] = []
    if os.geteuid() == 0:
        pwd.getpwnam("postgres")
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, f"{bindir}/initdb", "-D", f"{root}/data", "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    proc = subprocess.Popen(
        [
            *run_as,
            f"{bindir}/postgres",
            "-D",
            f"{root}/data",
            "-p",
            str(port),
            "-k",
            root,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(lambda: (proc.terminate(), proc.wait(10), shutil.rmtree(root, ignore_errors=True)))
    _wait_port(port, "PostgreSQL")
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


@functools.cache
def redis_url() -> str:
    """A Redis server: the machine's own on 6379, else a throwaway redis-server on a free port.

    Cached: one throwaway server serves the whole test process, whoever asks first. Tests keep
    apart by key prefix (`tests.support.stores`), never by flushing a Redis others may share.
    """
    if os.environ.get("TEST_REDIS_URL"):
        return os.environ["TEST_REDIS_URL"]
    if _port_open("127.0.0.1", 6379):
        return REDIS_URL_DEFAULT
    url, proc = start_redis()
    atexit.register(lambda: (proc.terminate(), proc.wait(10)))
    return url


def start_redis() -> tuple[str, subprocess.Popen[bytes]]:
    """A throwaway redis-server on a free loopback port, without persistence: its URL and its
    process, for a test that stops it (Redis going down) or for the shared one above."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("Redis is not running and redis-server is not installed; `make test` installs it")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    _wait_port(port, "redis-server")
    return f"redis://127.0.0.1:{port}/0", proc


def postgres_execute(admin_url: str, sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the admin connection, outside any event loop."""
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())
