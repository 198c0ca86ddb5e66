"""`heshi court-receiver`: a stand-in court that receives judicial-confirmation packages.

For operators testing their integration, and for the demo: it does what docs/api.md
("Receiving packages") asks of a court, and nothing more. Each POST to its path is checked
in this order:

1. the HMAC signature and the timestamp (`server.domain.confirmation.verify_signature`): a
   mismatch, or a timestamp more than 5 minutes from this machine's clock, is `401`;
2. the delivery id (`X-Heshi-Delivery`): missing, or not usable as a file name, is `400`;
   one already stored is answered `200` again and nothing is stored twice;
3. the body as a ZIP, its files against its `manifest.json` (`check_package`): a body that is
   no ZIP, or a package that does not match its manifest, is `400` with the problems;
4. the ZIP is written, exactly as received, to `<dir>/<delivery id>.zip` (to a temporary file,
   then renamed, so a crash leaves the whole package or none) and answered `200`.

It prints one line for every POST it answers. It is plain HTTP with no TLS: it listens on a
loopback address unless the operator passes `--allow-remote`, since the packages carry the
parties' unmasked identity numbers.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import os
import re
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from server.domain.confirmation import (
    ATTEMPT_HEADER,
    DELIVERY_HEADER,
    MANIFEST_NAME,
    check_package,
    verify_signature,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090
DEFAULT_PATH = "/court/confirmations"
MAX_PACKAGE_BYTES = 200 * 1024 * 1024  # a package is a few PDFs and small PNGs: far below this
MAX_UNPACKED_BYTES = 500 * 1024 * 1024  # what the ZIP may claim to hold, before it is read
# Delivery ids are the request's UUID; anything else must not become a path.
_DELIVERY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: `localhost` or a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CourtReceiver:
    """The receiving end: the shared secret, where packages go, and how each answer is reported."""

    secret: str
    directory: Path
    now: Callable[[], datetime] = _now
    say: Callable[[str], None] = lambda line: print(line, flush=True)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def stored_path(self, delivery: str) -> Path:
        return self.directory / f"{delivery}.zip"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        delivery = request.headers.get(DELIVERY_HEADER, "")
        attempt = request.headers.get(ATTEMPT_HEADER, "?")
        shown = delivery if _DELIVERY_RE.match(delivery) else repr(delivery[:40])
        where = f"delivery {shown} (attempt {attempt[:10]}, {len(body)} bytes)"
        if not verify_signature(self.secret, request.headers, body, self.now()):
            return self._answer(401, f"refused {where}: bad signature or timestamp", error="bad_signature")
        if not _DELIVERY_RE.match(delivery):
            return self._answer(400, f"refused {where}: no usable {DELIVERY_HEADER}", error="bad_delivery_id")
        async with self._lock:  # two attempts of one delivery at once: one stores, the other sees it
            path = self.stored_path(delivery)
            if path.exists():
                return self._answer(200, f"repeat of {where}: already stored as {path}", duplicate=True)
            problems, manifest = _check(body)
            if problems:
                return self._answer(
                    400, f"refused {where}: {'; '.join(problems)}", error="bad_package", problems=problems
                )
            await asyncio.to_thread(_write_atomically, path, body)
        case = manifest.get("case") or {}
        agreement = manifest.get("agreement") or {}
        what = f"case {case.get('number', '?')}, agreement version {agreement.get('version', '?')}"
        return self._answer(200, f"stored {where}: {what} → {path}", stored=str(path))

    def _answer(self, status: int, line: str, **body: Any) -> web.Response:
        self.say(f"{self.now().astimezone().strftime('%Y-%m-%d %H:%M:%S')} {status} {line}")
        return web.json_response({"ok": status < 300, **body}, status=status)


def _check(body: bytes) -> tuple[list[str], dict[str, Any]]:
    """The problems with a package, and its manifest when it has one that reads."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            infos = z.infolist()
            if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
                return [f"the ZIP would unpack to more than {MAX_UNPACKED_BYTES} bytes"], {}
            files = {i.filename: z.read(i) for i in infos if not i.is_dir()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        return [f"the body is not a readable ZIP ({type(exc).__name__})"], {}
    problems = check_package(files)
    try:
        manifest = json.loads(files[MANIFEST_NAME])
    except (KeyError, ValueError):
        manifest = {}
    return problems, manifest if isinstance(manifest, dict) else {}


def _write_atomically(path: Path, data: bytes) -> None:
    """As the server writes its packages: a reader, or a crash, sees the whole file or none.
    (A copy, not an import: the stand-in uses nothing of the server but the documented rules.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def create_app(receiver: CourtReceiver, path: str = DEFAULT_PATH) -> web.Application:
    """The receiver's app: POST `path` only."""
    app = web.Application(client_max_size=MAX_PACKAGE_BYTES)
    app.router.add_post(path, receiver.handle)
    return app
