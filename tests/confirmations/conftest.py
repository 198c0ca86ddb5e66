"""What the judicial-confirmation tests share: a signed (locked) agreement, a court endpoint on
the demo's district, and a real court receiver on loopback that checks the HMAC the way
docs/api.md tells a court to, and drops a repeated delivery by its id."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import socket
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pypdf
import pytest
from aiohttp import web

from server.app import DELIVERIES, create_app
from server.services.confirmations import Deliveries
from server.services.core import Core
from server.storage import accounts as stored_accounts
from server.storage import agreements as stored_agreements
from server.storage import caselog
from server.storage import cases as stored_cases
from server.storage import confirmations as stored
from server.storage import signatures as stored_signatures
from server.storage.confirmations import ConfirmationRecord

COURT_SECRET = "court-shared-secret-对接密钥"
TIMEOUT = 0.5  # seconds an attempt may take in these tests


def png(width: int = 2, height: int = 1) -> bytes:
    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


AGREEMENT_HTML = (
    "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>人民调解协议书</title></head><body>"
    "<h1>人民调解协议书</h1><p>申请人李秀英与被申请人清水镇卫生院医疗纠纷一案，经调解，双方自愿达成如下协议：</p>"
    "<p>一、清水镇卫生院于2026年12月31日前一次性支付李秀英医疗费、护理费共计人民币12000元。</p></body></html>"
)


@dataclass(frozen=True)
class Signed:
    agreement_id: str
    version_id: str
    version_sha256: str
    session_id: str | None


async def locked_agreement(
    core: Core, case_id: str, *, session_id: str | None = None, html: str = AGREEMENT_HTML, lock: bool = True
) -> Signed:
    """An agreement whose version 1 every party and the mediator signed, written through the
    agreements' and signatures' storage as their service does."""
    now = core.clock.now()
    sha = hashlib.sha256(html.encode("utf-8")).hexdigest()
    async with core.db.write() as tx:
        case = await stored_cases.load_case(tx, case_id)
        actor = f"account:{case.mediator_id}"
        agreement = await stored_agreements.insert_agreement(
            tx, case_id=case_id, session_id=session_id, template="general", created_by=actor, now=now
        )
        version = await stored_agreements.insert_version(
            tx,
            agreement_id=agreement.id,
            case_id=case_id,
            number=1,
            content={
                "facts": "申请人之母住院期间摔伤。",
                "matters": "护理是否存在过错，赔偿数额。",
                "terms": [
                    {
                        "obligation": "支付医疗费、护理费",
                        "obligor": "清水镇卫生院",
                        "amount": "12000",
                        "deadline": "2026-12-31",
                        "manner": "银行转账",
                    }
                ],
            },
            html=html,
            sha256=sha,
            actor=actor,
            now=now,
        )
        signers = [(f"party:{p.id}", p.side, p.name) for p in case.parties]
        signers.append((f"account:{case.mediator_id}", "mediator", case.mediator.display_name if case.mediator else ""))
        for n, (signer, role, name) in enumerate(signers, start=1):
            image = png(n, 1)
            await stored_signatures.insert(
                tx,
                case_id=case_id,
                document="agreement",
                document_id=agreement.id,
                version_id=version.id,
                version_sha256=sha,
                signer=signer,
                signer_role=role,
                name=name,
                image_png=image,
                image_sha256=hashlib.sha256(image).hexdigest(),
                ip="192.0.2.7",
                user_agent="Mozilla/5.0 (Linux; Android 14) Mobile",
                actor=actor,
                at=now,
            )
        if lock:
            await stored_agreements.lock_version(tx, version.id, now)
    return Signed(agreement.id, version.id, sha, session_id)


async def set_court(
    core: Core, code: str, endpoint: str | None, secret: str | None = COURT_SECRET, name: str | None = None
) -> None:
    async with core.db.write() as tx:
        org = await stored_accounts.org_by_code(tx, code)
        assert org is not None
        await stored_accounts.set_court(tx, org.id, endpoint, secret, name)


async def request_row(core: Core, request_id: str) -> ConfirmationRecord:
    async with core.db.read() as tx:
        return await stored.load_request(tx, request_id)


async def log_of(core: Core, case_id: str, prefix: str = "confirmation.") -> list[tuple[str, str, dict[str, Any]]]:
    async with core.db.read() as tx:
        return [(e.kind, e.actor, e.data) for e in await caselog.entries(tx, case_id) if e.kind.startswith(prefix)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hit:
    delivery: str
    attempt: str
    mode: str
    verified: bool


@dataclass
class Receiver:
    """A court's receiving end, written from docs/api.md alone (no server code): it checks the
    signature and the timestamp, answers as `mode` says, and stores each delivery id once."""

    secret: str
    now: Callable[[], datetime]
    port: int = field(default_factory=free_port)
    mode: str = "ok"  # ok | slow | error (500) | refuse (400)
    hits: list[Hit] = field(default_factory=list)
    accepted: dict[str, bytes] = field(default_factory=dict)  # delivery id -> body, stored once
    repeats: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/confirmations"

    def verify(self, request: web.Request, body: bytes) -> bool:
        timestamp = request.headers.get("X-Heshi-Timestamp", "")
        given = request.headers.get("X-Heshi-Signature", "")
        if not timestamp.isdigit() or abs(self.now().timestamp() - int(timestamp)) > 300:
            return False
        mac = hmac.new(self.secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
        return hmac.compare_digest("sha256=" + mac.hexdigest(), given)

    def store(self, delivery: str, body: bytes) -> None:
        if delivery in self.accepted:
            self.repeats += 1  # the same delivery again: already stored, acknowledge it once more
        else:
            self.accepted[delivery] = body

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        delivery = request.headers.get("X-Heshi-Delivery", "")
        mode = self.mode
        verified = self.verify(request, body) and bool(delivery)
        self.hits.append(Hit(delivery, request.headers.get("X-Heshi-Attempt", ""), mode, verified))
        if not verified:
            return web.json_response({"error": "bad signature"}, status=401)
        if mode == "slow":
            # Answers long after the sender gave up, and then does store it: the next attempt
            # is a repeat, dropped by its delivery id.
            try:
                await asyncio.wait_for(self.release.wait(), 10)
            except TimeoutError:
                pass
            self.store(delivery, body)
            return web.json_response({"ok": True})
        if mode == "error":
            return web.json_response({"error": "internal"}, status=500)
        if mode == "refuse":
            return web.json_response({"error": "申请材料不全"}, status=400)
        self.store(delivery, body)
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/confirmations", self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def receiver(core: Core) -> AsyncIterator[Receiver]:
    """A receiver that is not listening yet (its port is closed): tests start it."""
    r = Receiver(COURT_SECRET, core.clock.now)
    yield r
    await r.stop()


@pytest.fixture
async def deliveries(core: Core) -> AsyncIterator[Deliveries]:
    d = Deliveries(core, interval=0.05, timeout=TIMEOUT)
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def fast_client(aiohttp_client: Any, core: Core) -> Any:
    """The app, with a delivery loop that polls often and gives up an attempt quickly."""
    app = create_app(core.settings, core=core)
    app[DELIVERIES] = Deliveries(core, interval=0.05, timeout=TIMEOUT)
    return await aiohttp_client(app)


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def pdf_text(data: bytes) -> str:
    """The PDF's text without the line breaks layout put in it."""
    return "".join("".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages).split())
