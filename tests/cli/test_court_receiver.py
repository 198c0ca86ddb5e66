"""`heshi court-receiver`, the stand-in court: on a free loopback port, it stores each delivery
once, answers a repeat 2xx without storing it again, refuses a bad signature (401) and a
package that does not match its manifest (400). Packages are real: built with the server's
manifest, or made by `heshi demo`'s concluded case and sent by the server's `Deliveries`."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import socket
import subprocess
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from server.cli import court_receiver as cr
from server.domain.clock import FrozenClock
from server.domain.confirmation import (
    MANIFEST_NAME,
    FileKind,
    PackageFile,
    RequestStatus,
    delivery_headers,
    manifest,
)
from server.services import confirmations
from server.services.core import Core
from server.services.demo import DEFAULT_COURT_URL, create_concluded_case, create_demo
from server.storage import confirmations as stored_confirmations
from tests.support.services import free_port
from tests.support.waiting import wait_for

from .test_cli import HESHI, heshi, heshi_env, one_line_error

SECRET = "court-secret-for-the-stand-in-法院"
DELIVERY = "7d1f6a52-0c1e-4d7e-9a55-2f0b3f1c9e01"


def package(*, tamper: bool = False, extra: bool = False) -> bytes:
    """A package as the server makes one (its manifest lists every file with its SHA-256)."""
    files = [
        PackageFile("application.pdf", FileKind.application, b"%PDF-1.7 application"),
        PackageFile("agreement.pdf", FileKind.agreement, b"%PDF-1.7 agreement"),
        PackageFile("signatures.json", FileKind.signatures, b'{"signatures": []}\n'),
    ]
    head = manifest(
        files,
        request_id=DELIVERY,
        created_at=datetime(2026, 12, 6, 3, 0, tzinfo=UTC),
        case={"id": "c", "number": "DEMO-QS-TH-2026-0001", "org": "清水镇桃花村人民调解委员会"},
        agreement={"id": "a", "version": 1, "version_sha256": "0" * 64, "took_effect": "2026-12-04T02:48:00+00:00"},
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(MANIFEST_NAME, head)
        for f in files:
            z.writestr(f.name, f.data + (b" changed" if tamper and f.name == "agreement.pdf" else b""))
        if extra:
            z.writestr("smuggled.txt", b"not in the manifest")
    return buf.getvalue()


@dataclass
class Running:
    receiver: cr.CourtReceiver
    url: str
    lines: list[str] = field(default_factory=list)

    async def post(
        self,
        body: bytes,
        *,
        delivery: str = DELIVERY,
        secret: str = SECRET,
        attempt: int = 1,
        at: datetime | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = delivery_headers(secret, delivery, attempt, body, at or self.receiver.now())
        async with aiohttp.ClientSession() as http, http.post(self.url, data=body, headers=headers) as resp:
            return resp.status, await resp.json()

    def stored(self) -> list[str]:
        d = self.receiver.directory
        return sorted(p.name for p in d.iterdir()) if d.exists() else []


async def serve(receiver: cr.CourtReceiver, path: str = cr.DEFAULT_PATH) -> AsyncIterator[Running]:
    runner = web.AppRunner(cr.create_app(receiver, path), shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Running(receiver, f"http://127.0.0.1:{port}{path}")
    finally:
        await runner.cleanup()


@pytest.fixture
async def court(tmp_path: Path) -> AsyncIterator[Running]:
    lines: list[str] = []
    clock = FrozenClock(datetime(2026, 12, 6, 3, 0, tzinfo=UTC))
    receiver = cr.CourtReceiver(secret=SECRET, directory=tmp_path / "inbox", now=clock.now, say=lines.append)
    async for running in serve(receiver):
        running.lines = lines
        yield running


# ---- the receiver, in process -------------------------------------------------------------


async def test_a_delivery_is_stored_once_exactly_as_sent(court: Running) -> None:
    body = package()
    status, answer = await court.post(body)
    assert status == 200 and answer["ok"] is True
    assert court.stored() == [f"{DELIVERY}.zip"]
    assert (court.receiver.directory / f"{DELIVERY}.zip").read_bytes() == body
    assert len(court.lines) == 1 and " 200 stored delivery " in court.lines[0]
    assert "case DEMO-QS-TH-2026-0001, agreement version 1" in court.lines[0]


async def test_a_repeat_is_answered_2xx_and_not_stored_again(court: Running) -> None:
    first = package()
    assert (await court.post(first))[0] == 200
    status, answer = await court.post(package(extra=False), attempt=2)
    assert status == 200 and answer == {"ok": True, "duplicate": True}
    # Even a different body under the same delivery id does not replace what was accepted.
    status, _ = await court.post(package(extra=True), attempt=3)
    assert status == 200
    assert court.stored() == [f"{DELIVERY}.zip"]
    assert (court.receiver.directory / f"{DELIVERY}.zip").read_bytes() == first
    assert [" 200 stored " in x for x in court.lines] == [True, False, False]
    assert all(" 200 repeat of delivery " in x for x in court.lines[1:])


@pytest.mark.parametrize(
    ("how", "kwargs"),
    [
        ("wrong secret", {"secret": "another-secret-of-someone-else"}),
        ("timestamp 10 minutes old", {"at": datetime(2026, 12, 6, 2, 50, tzinfo=UTC)}),
    ],
)
async def test_a_bad_signature_is_401_and_nothing_is_stored(court: Running, how: str, kwargs: dict[str, Any]) -> None:
    status, answer = await court.post(package(), **kwargs)
    assert status == 401, how
    assert answer == {"ok": False, "error": "bad_signature"}
    assert court.stored() == []
    assert " 401 refused delivery " in court.lines[0]


async def test_a_body_changed_after_signing_is_401(court: Running) -> None:
    body = package()
    headers = delivery_headers(SECRET, DELIVERY, 1, body, court.receiver.now())
    async with aiohttp.ClientSession() as http, http.post(court.url, data=body + b"x", headers=headers) as resp:
        assert resp.status == 401
    assert court.stored() == []


async def test_a_tampered_package_is_400_naming_the_file(court: Running) -> None:
    status, answer = await court.post(package(tamper=True))
    assert status == 400 and answer["error"] == "bad_package"
    assert answer["problems"] == ["agreement.pdf: does not match the manifest"]
    status, answer = await court.post(package(extra=True), delivery=DELIVERY.replace("7", "8"))
    assert status == 400 and answer["problems"] == ["smuggled.txt: not in the manifest"]
    assert court.stored() == []
    assert all(" 400 refused delivery " in x for x in court.lines)


async def test_a_body_that_is_no_zip_is_400(court: Running) -> None:
    status, answer = await court.post(b"PK\x03\x04 not really a zip")
    assert status == 400 and answer["problems"][0].startswith("the body is not a readable ZIP")
    assert court.stored() == []


@pytest.mark.parametrize("delivery", ["", "../../etc/passwd", ".hidden", "a" * 101])
async def test_a_delivery_id_that_cannot_be_a_file_name_is_400(court: Running, delivery: str) -> None:
    status, answer = await court.post(package(), delivery=delivery)
    assert status == 400 and answer["error"] == "bad_delivery_id"
    assert court.stored() == []


async def test_only_post_on_its_path_is_served(court: Running) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(court.url) as resp:
            assert resp.status == 405
        async with http.post(court.url + "/more", data=b"") as resp:
            assert resp.status == 404
    assert court.lines == []


def test_only_loopback_hosts_count_as_loopback() -> None:
    assert all(cr.is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(cr.is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.20", "court.example.cn", ""))


def test_the_demo_points_where_the_receiver_listens_by_default() -> None:
    assert DEFAULT_COURT_URL == f"http://{cr.DEFAULT_HOST}:{cr.DEFAULT_PORT}{cr.DEFAULT_PATH}"


# ---- the demo's package, sent by the server's delivery loop ---------------------------------


async def test_the_demos_request_reaches_a_running_receiver_through_deliveries(core: Core, tmp_path: Path) -> None:
    lines: list[str] = []
    await create_demo(core)
    port = free_port()
    made = await create_concluded_case(core, court_url=f"http://127.0.0.1:{port}/court/confirmations")
    receiver = cr.CourtReceiver(
        secret=made.court_secret, directory=tmp_path / "inbox", now=core.clock.now, say=lines.append
    )
    runner = web.AppRunner(cr.create_app(receiver), shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    deliveries = confirmations.Deliveries(core, interval=0.05, timeout=5)
    await deliveries.start()
    try:

        async def delivered() -> Any:
            async with core.db.read() as tx:
                row = await stored_confirmations.load_request(tx, made.confirmation_request_id)
            return row if row.status != RequestStatus.pending else None

        row = await wait_for(delivered, timeout=30, what="the demo's package to be delivered")
    finally:
        await deliveries.stop()
        await runner.cleanup()
    assert (row.status, row.attempts, row.last_error) == (RequestStatus.delivered, 1, None)
    stored = tmp_path / "inbox" / f"{made.confirmation_request_id}.zip"
    assert stored.read_bytes() == (core.settings.data_dir / row.package_path).read_bytes()
    with zipfile.ZipFile(stored) as z:
        names = set(z.namelist())
        head = json.loads(z.read(MANIFEST_NAME))
    assert {"application.pdf", "agreement.pdf", "minutes.pdf", "signatures.json"} <= names
    assert head["case"]["number"] == made.case_number and head["minutes"] is not None
    assert len(lines) == 1 and f"case {made.case_number}" in lines[0]


# ---- the command, as an operator runs it ------------------------------------------------------


def start_receiver(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(HESHI), "court-receiver", *args],
        env=heshi_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed just before it listens
    assert first.startswith("Court receiver listening on "), (first, proc.stderr and proc.stderr.read())
    where = urlsplit(first.split()[4].rstrip(";"))
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection((where.hostname, where.port), timeout=1).close()
            return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the receiver did not listen within 20 s"
            time.sleep(0.05)


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


async def post_until_up(url: str, body: bytes, headers_for: Any) -> int:
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.post(url, data=body, headers=headers_for()) as resp:
                    return resp.status
            except aiohttp.ClientConnectionError:
                assert time.monotonic() < deadline, "the receiver did not listen within 20 s"
                await asyncio.sleep(0.1)


def test_the_command_stores_a_signed_delivery_under_the_data_dir_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    # The secret from a file, out of the process list.
    secret_file = tmp_path / "court-secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    proc = start_receiver(data_dir, "--port", str(port), "--secret-file", str(secret_file))
    url = f"http://127.0.0.1:{port}{cr.DEFAULT_PATH}"
    body = package()

    def signed(secret: str = SECRET) -> dict[str, str]:
        return delivery_headers(secret, DELIVERY, 1, body, datetime.now(UTC))

    try:
        assert asyncio.run(post_until_up(url, body, signed)) == 200
        assert asyncio.run(post_until_up(url, body, signed)) == 200  # a repeat
        assert asyncio.run(post_until_up(url, body, lambda: signed("not-the-secret-at-all"))) == 401
    finally:
        out, err = stop(proc)
    assert proc.returncode == 0, err
    inbox = data_dir / "court-inbox"
    assert sorted(p.name for p in inbox.iterdir()) == [f"{DELIVERY}.zip"]
    assert (inbox / f"{DELIVERY}.zip").read_bytes() == body
    lines = out.splitlines()
    assert [line.split()[2] for line in lines] == ["200", "200", "401"], out
    assert "stored delivery" in lines[0] and "repeat of delivery" in lines[1] and "refused delivery" in lines[2]


def test_the_command_takes_its_host_port_path_and_dir(tmp_path: Path) -> None:
    port = free_port()
    inbox = tmp_path / "elsewhere"
    proc = start_receiver(
        tmp_path / "data",
        "--host",
        "::1",
        "--port",
        str(port),
        "--path",
        "/in",
        "--secret",
        SECRET,
        "--dir",
        str(inbox),
    )
    body = package()
    try:
        status = asyncio.run(
            post_until_up(
                f"http://[::1]:{port}/in", body, lambda: delivery_headers(SECRET, DELIVERY, 1, body, datetime.now(UTC))
            )
        )
    finally:
        stop(proc)
    assert status == 200 and (inbox / f"{DELIVERY}.zip").is_file()


def test_the_command_refuses_an_address_that_is_not_loopback(tmp_path: Path) -> None:
    result = heshi(tmp_path, "court-receiver", "--host", "0.0.0.0", "--secret", SECRET)
    assert "not a loopback address" in one_line_error(result, 2) and "--allow-remote" in result.stderr


def test_the_command_needs_a_secret_and_a_path_from_the_root(tmp_path: Path) -> None:
    assert "--secret-file" in one_line_error(heshi(tmp_path, "court-receiver"), 2)
    missing = heshi(tmp_path, "court-receiver", "--secret-file", str(tmp_path / "nowhere"))
    assert "cannot read" in one_line_error(missing, 2)
    assert "--secret" in one_line_error(heshi(tmp_path, "court-receiver", "--secret", ""), 2)
    assert "--path" in one_line_error(heshi(tmp_path, "court-receiver", "--secret", SECRET, "--path", "in"), 2)


def test_the_command_says_in_one_line_when_the_port_is_taken(tmp_path: Path) -> None:
    port = free_port()
    first = start_receiver(tmp_path / "a", "--port", str(port), "--secret", SECRET)
    try:
        body = package()
        asyncio.run(
            post_until_up(
                f"http://127.0.0.1:{port}{cr.DEFAULT_PATH}",
                body,
                lambda: delivery_headers(SECRET, DELIVERY, 1, body, datetime.now(UTC)),
            )
        )  # the first one listens now
        second = heshi(tmp_path / "b", "court-receiver", "--port", str(port), "--secret", SECRET)
        assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(second, 2)
    finally:
        stop(first)
