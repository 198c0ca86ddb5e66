"""Shared by the agreement tests: PNG images made by hand, a valid term, a join link's CSRF."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from server.domain.access import PrincipalKind
from server.services import signin
from server.services.core import Core


def png(width: int = 40, height: int = 20, *, pad: int = 0) -> bytes:
    """A real PNG (grey, 8-bit): signature bytes, IHDR, IDAT, IEND; `pad` adds a private chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes([(x * 7) % 256 for x in range(width)]) for _ in range(height))
    extra = chunk(b"heSh", b"\x01" * pad) if pad else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + extra
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


SIGNATURE = data_url(png())


def term(**overrides: Any) -> dict[str, Any]:
    t: dict[str, Any] = {
        "obligation": "一次性支付医疗费、护理费共计人民币12000元",
        "obligor": "清水镇卫生院",
        "amount": "12000.00",
        "deadline": "2026-12-31",
        "manner": "银行转账至申请人账户",
    }
    t.update(overrides)
    return t


async def join_csrf(core: Core, cookie_value: str) -> str:
    """The CSRF token of a join link's browser session (the room page hands it to the browser),
    also after its session has ended, for the documents."""
    found = await signin.authenticate(core, cookie_value, PrincipalKind.invitation, documents=True)
    assert found is not None
    return found[1]
