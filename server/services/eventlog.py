"""The case's hash-chained event log. Every case-related fact is appended here, inside the
caller's write transaction, with the `Actor` who caused it.

Storage keeps the chain (`server.storage.caselog`); the hashing is the domain's
(`server.domain.chain`). Services and edges use these names.
"""

from __future__ import annotations

from server.domain.chain import GENESIS, ChainCheck, check_chain, entry_hash, entry_time
from server.storage.caselog import LogEntry, append, entries, lock, verify

__all__ = [
    "GENESIS",
    "ChainCheck",
    "LogEntry",
    "append",
    "check_chain",
    "entries",
    "entry_hash",
    "entry_time",
    "lock",
    "verify",
]
