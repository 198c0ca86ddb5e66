"""A local RFC 3161 timestamp authority for the tests: a throwaway CA and TSA certificate made
with the openssl command line in a temporary directory, and a tiny aiohttp app on loopback
that answers each `application/timestamp-query` with `openssl ts -reply`. It runs on its own
event loop in a thread, so tests on any loop (and the session-wide package build) can use it.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from pathlib import Path

from aiohttp import web

from tests.confirmations.conftest import free_port

TSA_CONFIG = """\
[tsa]
default_tsa = tsa_config
[tsa_config]
serial = {serial}
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

TSA_EXTENSIONS = """\
[tsa_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
"""


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"


def make_authority(folder: Path, name: str = "Heshi Test TSA") -> Path:
    """A CA and a TSA certificate it issued, under `folder`; returns the CA's certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", f"/CN={name} Root",
        cwd=folder,
    )  # fmt: skip
    (folder / "ext.cnf").write_text(TSA_EXTENSIONS)
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", f"/CN={name}",
        cwd=folder,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "tsa.pem", "-days", "3650", "-extfile", "ext.cnf", "-extensions", "tsa_ext",
        cwd=folder,
    )  # fmt: skip
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(TSA_CONFIG.format(serial=folder / "serial"))
    return folder / "ca.pem"


class LocalTsa:
    """`url` answers timestamp queries; `ca_file` is the certificate its answers chain to.
    `mode`: "ok", "garbage" (200 with bytes that are no reply), "error" (HTTP 503) or "slow"
    (answers only after 20 s)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_file = make_authority(folder)
        self.port = free_port()
        self.mode = "ok"
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-tsa", daemon=True)
        self._runner: web.AppRunner | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        assert self._lock is not None
        self.requests += 1
        if request.content_type != "application/timestamp-query":
            return web.Response(status=415)
        query = await request.read()
        if self.mode == "slow":
            await asyncio.sleep(20)
        if self.mode == "error":
            return web.Response(status=503, text="down for maintenance")
        if self.mode == "garbage":
            return web.Response(body=b"\x30\x03\x02\x01\x00 not a reply", content_type="application/timestamp-reply")
        async with self._lock:  # openssl keeps the serial number in a file
            (self.folder / "query.tsq").write_bytes(query)
            proc = await asyncio.create_subprocess_exec(
                "openssl", "ts", "-reply", "-queryfile", "query.tsq", "-config", "tsa.cnf",
                "-inkey", "tsa.key", "-signer", "tsa.pem", "-out", "reply.tsr",
                cwd=self.folder, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await proc.communicate()
            if proc.returncode != 0:
                return web.Response(status=500, text=err.decode())
            reply = (self.folder / "reply.tsr").read_bytes()
        return web.Response(body=reply, content_type="application/timestamp-reply")

    async def _start(self) -> None:
        self._lock = asyncio.Lock()
        app = web.Application()
        app.router.add_post("/tsa", self._answer)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # A slow answer may still be waiting: end it too, so nothing is left pending.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
