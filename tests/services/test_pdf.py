"""PDFs keep their Chinese as text, and laying one out never fetches anything."""

from __future__ import annotations

import base64
import io
import zlib
from pathlib import Path

import pypdf
import pytest
from aiohttp import web

from server.services import pdf


def text_of(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def png_1x1() -> bytes:
    raw = b"\x00\xff\x00\x00"  # one red pixel, filter byte first
    ihdr = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


async def test_chinese_text_comes_back_out_of_the_pdf_as_text() -> None:
    out = await pdf.render("<h1>人民调解协议书</h1><p>甲方：张三，乙方：李四。双方自愿达成如下协议。</p>")
    assert out.startswith(b"%PDF-")
    text = text_of(out)
    assert "人民调解协议书" in text
    assert "甲方：张三，乙方：李四。双方自愿达成如下协议。" in text


async def test_escaped_markup_prints_as_the_characters_typed() -> None:
    out = await pdf.render("<p>备注：&lt;script&gt;alert(1)&lt;/script&gt;</p>")
    assert "<script>alert(1)</script>" in text_of(out)


async def test_a_data_url_image_is_embedded(tmp_path: Path) -> None:
    src = "data:image/png;base64," + base64.b64encode(png_1x1()).decode()
    with_image = await pdf.render(f'<p>盖章</p><img src="{src}" style="width:30mm">')
    without = await pdf.render("<p>盖章</p>")
    assert b"/Subtype /Image" in with_image and b"/Subtype /Image" not in without


async def test_nothing_is_fetched_from_the_network_or_the_disk(aiohttp_server, tmp_path: Path) -> None:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=png_1x1(), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", handler)
    server = await aiohttp_server(app)
    secret = tmp_path / "secret.css"
    secret.write_text("body::after { content: 'SECRET-FROM-DISK' }")
    html = (
        f'<link rel="stylesheet" href="file://{secret}">'
        f'<link rel="stylesheet" href="{server.make_url("/style.css")}">'
        f'<img src="{server.make_url("/seal.png")}"><img src="file:///etc/hostname"><p>正文</p>'
    )
    out = await pdf.render(html)
    assert hits == []
    assert "SECRET-FROM-DISK" not in text_of(out) and "正文" in text_of(out)
    assert b"/Subtype /Image" not in out


async def test_a_document_that_cannot_be_laid_out_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(pdf.weasyprint.HTML, "write_pdf", broken)
    with pytest.raises(pdf.PdfError, match="the PDF could not be made: no fonts"):
        await pdf.render("<p>正文</p>")
