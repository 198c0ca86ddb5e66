"""The case log's hash chain: the exact bytes each entry's hash covers, and the check of a
whole chain. Pure functions over entries, so a verifier outside Heshi can do the same."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .clock import wire_time

GENESIS = "0" * 64


class ChainEntry(Protocol):
    @property
    def case_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


def entry_time(at: datetime) -> str:
    """An entry's time as hashed and as served: UTC, always with microseconds, e.g.
    `2026-12-05T09:15:05.000000+00:00` (the protocol's one timestamp form)."""
    return wire_time(at)


def canonical(
    case_id: str,
    seq: int,
    at: datetime,
    kind: str,
    actor: str,
    session_id: str | None,
    data: dict[str, Any],
    prev_hash: str,
) -> bytes:
    """The exact bytes an entry's hash covers. Changing this breaks every stored chain."""
    doc = {
        "case_id": case_id,
        "seq": seq,
        "at": entry_time(at),
        "kind": kind,
        "actor": actor,
        "session_id": session_id,
        "data": data,
        "prev_hash": prev_hash,
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(
    case_id: str,
    seq: int,
    at: datetime,
    kind: str,
    actor: str,
    session_id: str | None,
    data: dict[str, Any],
    prev_hash: str,
) -> str:
    return hashlib.sha256(canonical(case_id, seq, at, kind, actor, session_id, data, prev_hash)).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    count: int
    first_bad_seq: int | None = None
    reason: str | None = None


def check_chain(rows: Sequence[ChainEntry]) -> ChainCheck:
    """Check a case's whole log, given in `seq` order; name the first entry that does not match."""
    prev = GENESIS
    for i, ev in enumerate(rows, start=1):
        if ev.seq != i:
            return ChainCheck(False, len(rows), i, f"entry {i} is missing")
        if ev.prev_hash != prev:
            return ChainCheck(False, len(rows), ev.seq, "previous-hash link does not match")
        if entry_hash(ev.case_id, ev.seq, ev.at, ev.kind, ev.actor, ev.session_id, ev.data, ev.prev_hash) != ev.hash:
            return ChainCheck(False, len(rows), ev.seq, "content does not match its hash")
        prev = ev.hash
    return ChainCheck(True, len(rows))
