"""RFC 3161 timestamps of checkpoint hashes, made and checked with the `openssl ts` command line.

`stamp` asks the timestamp authority at `HESHI_TSA_URL` for a token over a checkpoint's hash:
`openssl ts -query` builds the request (SHA-256 imprint, a nonce, the TSA's certificate
asked for), it is POSTed as `application/timestamp-query`, and the reply is accepted only when
`openssl ts -verify` finds it answers that very request and is signed by a certificate that
chains to `HESHI_TSA_CA_FILE` (which may hold the TSA's own certificate too, for a TSA that
does not send it); the token (DER) is what is kept. `check_token` is what
`heshi verify` runs on a packaged token, at the time the token states (`-attime`), so that a
TSA certificate that expired since still verifies what it signed while it was valid.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from server.domain.evidence_verify import TimestampCheck

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
TIMEOUT = 15.0  # seconds for the whole exchange with the TSA
MAX_REPLY_BYTES = 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class TimestampError(Exception):
    """No usable token: the TSA is down, refused, or answered something that does not verify."""


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        raise TimestampError("the openssl command is not installed")
    return found


def _last_error(stderr: bytes) -> str:
    lines = [
        line.strip()
        for line in stderr.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("Using configuration")
    ]
    return (lines[-1] if lines else "no message")[:300]


async def _run(*args: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out, err


async def stamp(url: str, ca_file: Path, digest_hex: str, *, timeout: float = TIMEOUT) -> bytes:
    """A verified RFC 3161 token (DER) for the SHA-256 digest `digest_hex`; TimestampError otherwise."""
    if not _HEX64.match(digest_hex):
        raise ValueError("a SHA-256 digest in lower-case hex")
    openssl = _openssl()
    with tempfile.TemporaryDirectory(prefix="heshi-tsa-") as tmp:
        request, reply, token = Path(tmp, "request.tsq"), Path(tmp, "reply.tsr"), Path(tmp, "token.tst")
        rc, _, err = await _run(
            openssl, "ts", "-query", "-digest", digest_hex, "-sha256", "-cert", "-out", str(request)
        )
        if rc != 0:
            raise TimestampError(f"openssl could not build the request: {_last_error(err)}")
        query = await asyncio.to_thread(request.read_bytes)
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
                http.post(url, data=query, headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE}) as resp,
            ):
                body = await resp.content.read(MAX_REPLY_BYTES + 1)
                if resp.status != 200:
                    raise TimestampError(f"the TSA answered HTTP {resp.status}")
                if len(body) > MAX_REPLY_BYTES:
                    raise TimestampError("the TSA's reply is too large to be a timestamp")
        except TimeoutError:
            raise TimestampError(f"no answer from the TSA within {timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise TimestampError(f"the TSA cannot be reached: {type(exc).__name__}: {exc}"[:300]) from None
        await asyncio.to_thread(reply.write_bytes, body)
        rc, out, err = await _run(
            openssl, "ts", "-verify", "-queryfile", str(request), "-in", str(reply),
            "-CAfile", str(ca_file), "-untrusted", str(ca_file),
        )  # fmt: skip
        if rc != 0 or b"Verification: OK" not in out:
            raise TimestampError(f"the TSA's reply does not verify: {_last_error(err)}")
        rc, _, err = await _run(openssl, "ts", "-reply", "-in", str(reply), "-token_out", "-out", str(token))
        if rc != 0:
            raise TimestampError(f"no token in the TSA's reply: {_last_error(err)}")
        return await asyncio.to_thread(token.read_bytes)


def token_time(text: str) -> datetime | None:
    """The `Time stamp:` line of `openssl ts -reply -text`, e.g. `Dec  6 03:55:53 2026 GMT`."""
    m = re.search(r"^Time stamp: (.+)$", text, re.MULTILINE)
    if m is None:
        return None
    words = re.sub(r"\.\d+", "", m.group(1)).split()  # fractions of a second, when the TSA gives them
    try:
        return datetime.strptime(" ".join(words), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
    except ValueError:
        return None


def check_token(token: bytes, digest_hex: str, ca_pem: bytes) -> TimestampCheck:
    """Whether `token` timestamps `digest_hex` and is signed by a certificate chaining to `ca_pem`
    (checked at the time it states). For `heshi verify`: blocking, no network."""
    try:
        openssl = _openssl()
    except TimestampError as exc:
        return TimestampCheck(False, None, str(exc))
    with tempfile.TemporaryDirectory(prefix="heshi-verify-") as tmp:
        token_file, ca_file = Path(tmp, "token.tst"), Path(tmp, "ca.pem")
        token_file.write_bytes(token)
        ca_file.write_bytes(ca_pem)
        shown = subprocess.run(
            [openssl, "ts", "-reply", "-in", str(token_file), "-token_in", "-text"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if shown.returncode != 0:
            return TimestampCheck(False, None, f"not a timestamp token: {_last_error(shown.stderr)}")
        at = token_time(shown.stdout.decode("utf-8", "replace"))
        command = [openssl, "ts", "-verify", "-digest", digest_hex, "-token_in", "-in", str(token_file)]
        # -untrusted too: a TSA that does not put its certificate in the token is found in the file
        command += ["-CAfile", str(ca_file), "-untrusted", str(ca_file)]
        if at is not None:
            command += ["-attime", str(int(at.timestamp()))]
        done = subprocess.run(command, capture_output=True, timeout=60, check=False)
        if done.returncode != 0 or b"Verification: OK" not in done.stdout:
            return TimestampCheck(False, None, _last_error(done.stderr))
        return TimestampCheck(True, at.isoformat() if at else None, "Verification: OK")
