"""Retention of recordings and legal hold (issue 12): an org's retention period, a case put on
or taken off legal hold. The deletion job itself is server/services/retention.py."""

from __future__ import annotations

from .table import Route

ROUTES: list[Route] = []
