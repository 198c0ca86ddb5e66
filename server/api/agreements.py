"""Agreements (调解协议书): templates, versions, previews, PDFs and signatures."""

from __future__ import annotations

from .table import Route

ROUTES: list[Route] = []
