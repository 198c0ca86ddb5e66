"""The minutes (调解笔录) of a session: read, save by revision, revisions, PDF."""

from __future__ import annotations

from .table import Route

ROUTES: list[Route] = []
