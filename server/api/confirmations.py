"""Judicial confirmation (司法确认): packages and their delivery to the court."""

from __future__ import annotations

from .table import Route

ROUTES: list[Route] = []
