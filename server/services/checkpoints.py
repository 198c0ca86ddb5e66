"""Signed checkpoints of the heads of every case log (DESIGN.md, "Evidence integrity").

A hash chain alone does not stop someone with database access from rewriting a whole chain.
A checkpoint states every case log's head (its last `seq` and `hash`) at one moment, in a
tree whose root it signs with the server's Ed25519 key (`server.domain.evidence`); each one
carries the hash of the one before, so the checkpoint log is itself a chain, and where
`HESHI_TSA_URL` is set a timestamp authority's RFC 3161 token vouches for when it existed
(`timestamps.stamp`). A log rewritten afterwards no longer matches a checkpoint issued before.

They are made by `Checkpoints`, one loop per node, at `HESHI_CHECKPOINT_INTERVAL_MINUTES`
(only when a log has changed since the last one, and only by one node per interval), and by
every evidence export, which carries the ones that cover its case.

Making one takes the writer's lock (PostgreSQL advisory lock; SQLite's single writer), reads
every head, signs and inserts, and commits; the timestamp is asked for afterwards, outside the
lock, and stored in the row (`tsa_token`, or `tsa_error` when the TSA is down or answered
something that does not verify: the checkpoint still counts, it only lacks that token).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from server.domain.evidence import GENESIS, CheckpointReason, checkpoint_body
from server.storage import checkpoints as stored
from server.storage.checkpoints import CheckpointRecord

from . import jobs, timestamps
from .core import Core
from .evidence_keys import load_or_create, server_key

log = logging.getLogger("heshi.evidence")

DEFAULT_POLL = 30.0  # seconds between looks at whether a checkpoint is due


async def make(
    core: Core, reason: CheckpointReason, *, if_changed_since: timedelta | None = None
) -> CheckpointRecord | None:
    """Sign and append a checkpoint of every case log's head, then timestamp it where a TSA is
    configured. With `if_changed_since` (the interval job), only when the last checkpoint is at
    least that old and some log changed since it: None otherwise."""
    now = core.clock.now()
    if if_changed_since is not None:  # most polls: not due, and no write lock taken to say so
        async with core.db.read() as tx:
            last = await stored.last(tx)
        if last is not None and now - last.at < if_changed_since:
            return None
    key = await server_key(core)
    async with core.db.write() as tx:
        await stored.lock(tx)
        last = await stored.last(tx)
        if if_changed_since is not None and last is not None and now - last.at < if_changed_since:
            return None
        heads = await stored.heads(tx)
        if if_changed_since is not None and heads == (last.heads if last is not None else {}):
            return None
        body = checkpoint_body(
            seq=last.seq + 1 if last is not None else 1,
            at=now,
            reason=reason,
            heads=heads,
            prev_hash=last.hash if last is not None else GENESIS,
            key_fingerprint=key.fingerprint,
        )
        record = await stored.insert(
            tx,
            seq=body.seq,
            at=now,
            reason=body.reason,
            heads=heads,
            prev_hash=body.prev_hash,
            hash=body.hash,
            key_fingerprint=key.fingerprint,
            signature=key.sign(bytes.fromhex(body.hash)).hex(),
            tsa_url=core.settings.tsa_url or None,
        )
    log.info("evidence: checkpoint %d (%s) of %d case logs, %s", record.seq, reason, len(heads), record.hash)
    return await timestamp(core, record)


async def timestamp(core: Core, record: CheckpointRecord) -> CheckpointRecord:
    """Ask the configured TSA for a token over the checkpoint's hash and store it, or the error."""
    url, ca_file = core.settings.tsa_url, core.settings.tsa_ca_file
    if not url or ca_file is None:
        return record
    token: bytes | None = None
    error: str | None = None
    try:
        token = await timestamps.stamp(url, ca_file, record.hash)
    except timestamps.TimestampError as exc:
        error = str(exc)
        log.warning("evidence: checkpoint %d has no timestamp: %s", record.seq, error)
    async with core.db.write() as tx:
        await stored.set_timestamp(tx, record.seq, token=token, error=error)
        return await stored.load_checkpoint(tx, record.seq)


class Checkpoints:
    """One node's checkpoint loop: every `poll` seconds it makes an interval checkpoint when
    the last one (by any node, or an export) is `interval` old and some log has changed.
    Several nodes may run one each on the same database: the writer's lock and the age of the
    last checkpoint keep it to one per interval."""

    def __init__(self, core: Core, *, interval: timedelta, poll: float = DEFAULT_POLL) -> None:
        self.core = core
        self.interval = interval
        self.poll = poll
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Load the server's key (generating it on the first start), then start the loop."""
        if self._task is not None:
            return
        await asyncio.to_thread(load_or_create, self.core.settings.data_dir)
        self._task = asyncio.create_task(self._forever(), name="heshi-evidence-checkpoints")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await jobs.cancel(task)

    async def _forever(self) -> None:
        delay = self.poll
        while True:
            await asyncio.sleep(delay)
            try:
                await self.run_once()
                delay = self.poll
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("evidence checkpoints: a round failed")
                delay = min(max(delay, self.poll) * 2, 600.0)

    async def run_once(self) -> CheckpointRecord | None:
        """Make the interval checkpoint if it is due; the checkpoint made, or None."""
        return await make(self.core, CheckpointReason.interval, if_changed_since=self.interval)
