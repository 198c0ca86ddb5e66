"""Documents as PDF: HTML laid out by WeasyPrint, in the CJK fonts of Debian's fonts-noto-cjk.

The text stays text: a PDF made here carries real, selectable Chinese (tests read it back
with pypdf). A document may embed images only as `data:` URLs (the org's seal, a drawn
signature): WeasyPrint is never allowed to fetch anything, so a value someone typed can
neither reach the network nor read a file of the server.
"""

from __future__ import annotations

import asyncio
import logging

import weasyprint
from weasyprint.urls import URLFetcher

log = logging.getLogger("heshi.pdf")

# The page and the fonts every document prints with; a document's own <style> comes after.
BASE_CSS = """
@page { size: A4; margin: 25mm 22mm 25mm 22mm;
        @bottom-center { content: counter(page) " / " counter(pages); font-size: 9pt; color: #555; } }
html { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", serif; font-size: 12pt; line-height: 1.6; }
"""


class PdfError(Exception):
    """The document could not be laid out."""


def render_sync(html: str) -> bytes:
    """The PDF of one HTML document (blocking; 0.1–1 s of CPU for a few pages)."""
    try:
        # `data:` only: images are embedded by the server; nothing is fetched from anywhere.
        fetcher = URLFetcher(allowed_protocols={"data"})
        document = weasyprint.HTML(string=html, url_fetcher=fetcher, base_url="data:,")
        return bytes(document.write_pdf(stylesheets=[weasyprint.CSS(string=BASE_CSS)]))
    except Exception as exc:  # WeasyPrint raises many kinds; the caller needs one
        log.exception("PDF layout failed")
        raise PdfError(f"the PDF could not be made: {exc}") from exc


async def render(html: str) -> bytes:
    """The PDF of one HTML document, laid out in a worker thread so the event loop (and the
    live rooms on it) never waits for it."""
    return await asyncio.to_thread(render_sync, html)
