"""Evidence exports and the server's public key (issue 12): a case's files, its whole log, the
checkpoints that cover it and a manifest signed with the server's Ed25519 key, which
`heshi verify` checks offline. docs/evidence.md describes the format."""

from __future__ import annotations

from .table import Route

ROUTES: list[Route] = []
