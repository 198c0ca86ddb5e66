"""Reviewing a recorded session (issue 12): what the review page plays and shows beside the
media, and the media itself through short-lived URLs bound to the viewer's sign-in.
docs/review.md describes the routes."""

from __future__ import annotations

from .table import Route

ROUTES: list[Route] = []
