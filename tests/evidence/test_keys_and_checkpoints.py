"""The server's evidence key (owner-only, made once, published) and the checkpoint log: chained,
signed, append-only with one writer at a time, made at intervals only when a log changed, and
timestamped by a real (local) RFC 3161 authority — or, when it is down, still counted."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import stat
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.exc import IntegrityError

from server.app import CHECKPOINTS
from server.domain.actors import Actor, SystemReason
from server.domain.evidence import GENESIS, CheckpointReason, checkpoint_body, key_fingerprint, signature_ok
from server.services import checkpoints, eventlog, timestamps
from server.services.core import Core
from server.services.evidence_keys import EvidenceKeyError, key_path, load_or_create
from server.storage import checkpoints as stored
from server.storage.checkpoints import CheckpointRecord
from tests.confirmations.conftest import free_port
from tests.conftest import World
from tests.evidence.tsa import LocalTsa

# ---- the key --------------------------------------------------------------------------------------


def test_the_key_is_made_once_owner_only_and_reused(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    path = key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create(tmp_path).fingerprint == first.fingerprint
    assert first.fingerprint == hashlib.sha256(first.public_raw).hexdigest() == key_fingerprint(first.public_raw)
    assert b"PRIVATE KEY" in path.read_bytes() and b"ENCRYPTED" not in path.read_bytes()


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: load_or_create(tmp_path).fingerprint, range(16)))
    assert len(set(keys)) == 1
    assert [p.name for p in key_path(tmp_path).parent.iterdir()] == ["signing-key.pem"], "no temporary file left"


def test_a_key_file_others_could_read_is_made_owner_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    load_or_create(tmp_path)
    key_path(tmp_path).chmod(0o644)
    key_path(tmp_path).parent.chmod(0o755)
    load_or_create(tmp_path)
    assert stat.S_IMODE(key_path(tmp_path).stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path(tmp_path).parent.stat().st_mode) == 0o700
    assert "owner-only" in caplog.text


def test_a_key_file_that_is_not_an_ed25519_key_is_refused_by_name(tmp_path: Path) -> None:
    key_path(tmp_path).parent.mkdir(parents=True)
    key_path(tmp_path).write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    os.chmod(key_path(tmp_path), 0o600)
    with pytest.raises(EvidenceKeyError, match="signing-key.pem"):
        load_or_create(tmp_path)


async def test_the_public_key_is_published_to_anyone_and_made_at_first_start(client, core: Core) -> None:
    """The app's start made the key (the checkpoint job loads it); anyone may fetch its public half."""
    assert key_path(core.settings.data_dir).is_file()
    resp = await client.get("/api/v1/evidence/public-key")
    assert resp.status == 200
    body = await resp.json()
    assert body["algorithm"] == "Ed25519"
    raw = bytes.fromhex(body["public_key_hex"])
    pem_key = serialization.load_pem_public_key(body["public_key_pem"].encode())
    assert isinstance(pem_key, Ed25519PublicKey)
    assert pem_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw
    assert body["fingerprint_sha256"] == hashlib.sha256(raw).hexdigest()
    assert body["fingerprint_sha256"] == load_or_create(core.settings.data_dir).fingerprint


# ---- the checkpoint log ------------------------------------------------------------------------------


def no_tsa(core: Core) -> Core:
    return replace(core, settings=replace(core.settings, tsa_url="", tsa_ca_file=None))


def assert_chained_and_signed(rows: list[CheckpointRecord], public_raw: bytes) -> None:
    prev = GENESIS
    for n, cp in enumerate(rows, start=1):
        body = checkpoint_body(
            seq=cp.seq, at=cp.at, reason=cp.reason, heads=cp.heads, prev_hash=cp.prev_hash,
            key_fingerprint=cp.key_fingerprint,
        )  # fmt: skip
        assert (cp.seq, cp.prev_hash, cp.hash) == (n, prev, body.hash)
        assert signature_ok(public_raw, bytes.fromhex(cp.signature), bytes.fromhex(cp.hash))
        prev = cp.hash


async def all_checkpoints(core: Core) -> list[CheckpointRecord]:
    async with core.db.read() as tx:
        last = await stored.last(tx)
        return await stored.of_seqs(tx, list(range(1, (last.seq if last else 0) + 1)))


async def test_checkpoints_sign_every_case_logs_head_and_chain(core: Core, world: World) -> None:
    plain = no_tsa(core)
    first = await checkpoints.make(plain, CheckpointReason.interval)
    assert first is not None
    async with core.db.read() as tx:
        heads = await stored.heads(tx)
        demo_log = await eventlog.entries(tx, world.demo.case_id)
    assert first.heads == heads and world.demo.case_id in heads and world.other_case_id in heads
    assert heads[world.demo.case_id] == {"seq": demo_log[-1].seq, "hash": demo_log[-1].hash}
    async with core.db.write() as tx:
        await eventlog.append(
            tx, case_id=world.demo.case_id, kind="case.created", actor=Actor.system(SystemReason.cli),
            at=core.clock.now(), data={"note": "another entry"},
        )  # fmt: skip
    await checkpoints.make(plain, CheckpointReason.export)
    await checkpoints.make(plain, CheckpointReason.interval)
    rows = await all_checkpoints(core)
    assert [r.reason for r in rows] == ["interval", "export", "interval"]
    assert rows[1].heads[world.demo.case_id]["seq"] == demo_log[-1].seq + 1
    assert all(r.tsa_url is None and r.tsa_token is None for r in rows)
    assert_chained_and_signed(rows, load_or_create(core.settings.data_dir).public_raw)


async def test_writers_take_turns_and_a_duplicate_seq_is_refused(core: Core, world: World) -> None:
    plain = no_tsa(core)
    others = [Core.build(core.settings, clock=core.clock) for _ in range(2)] if not core.settings.is_sqlite else []
    try:
        # On PostgreSQL, three nodes (three engines) at once; on SQLite, one process's writers.
        nodes = [plain, *(no_tsa(o) for o in others)]
        await asyncio.gather(*(checkpoints.make(nodes[i % len(nodes)], CheckpointReason.export) for i in range(6)))
    finally:
        for o in others:
            await o.close()
    rows = await all_checkpoints(core)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert_chained_and_signed(rows, load_or_create(core.settings.data_dir).public_raw)
    with pytest.raises(IntegrityError):
        async with core.db.write() as tx:
            await stored.insert(
                tx, seq=6, at=core.clock.now(), reason="interval", heads={}, prev_hash=rows[4].hash,
                hash="f" * 64, key_fingerprint=rows[5].key_fingerprint, signature="0" * 128, tsa_url=None,
            )  # fmt: skip
    assert len(await all_checkpoints(core)) == 6


async def test_the_interval_job_makes_one_per_interval_and_only_after_a_change(core: Core, world: World) -> None:
    job = checkpoints.Checkpoints(no_tsa(core), interval=timedelta(minutes=60), poll=0.05)
    first = await job.run_once()
    assert first is not None and first.reason == "interval"
    assert await job.run_once() is None, "not due yet"
    core.clock.advance(minutes=61)
    assert await job.run_once() is None, "due, but no case log changed"
    async with core.db.write() as tx:
        await eventlog.append(
            tx, case_id=world.other_case_id, kind="case.created", actor=Actor.system(SystemReason.cli),
            at=core.clock.now(), data={},
        )  # fmt: skip
    second = await job.run_once()
    assert second is not None and second.seq == 2 and second.prev_hash == first.hash
    # The loop itself, started as the app starts it, does the same on its own.
    core.clock.advance(minutes=61)
    async with core.db.write() as tx:
        await eventlog.append(
            tx, case_id=world.other_case_id, kind="case.created", actor=Actor.system(SystemReason.cli),
            at=core.clock.now(), data={},
        )  # fmt: skip
    await job.start()
    try:
        for _ in range(200):
            if len(await all_checkpoints(core)) == 3:
                break
            await asyncio.sleep(0.05)
    finally:
        await job.stop()
    assert len(await all_checkpoints(core)) == 3


async def test_the_app_runs_the_checkpoint_job_at_the_configured_interval(client) -> None:
    job = client.server.app[CHECKPOINTS]
    assert job.interval == timedelta(minutes=60) and job.running


# ---- timestamps -----------------------------------------------------------------------------------


async def test_a_checkpoint_gets_a_verified_rfc_3161_token_from_the_tsa(
    core: Core, world: World, tsa: LocalTsa
) -> None:
    before = tsa.requests
    cp = await checkpoints.make(core, CheckpointReason.interval)
    assert cp is not None and tsa.requests == before + 1
    assert cp.tsa_url == tsa.url and cp.tsa_error is None and cp.tsa_token
    check = timestamps.check_token(cp.tsa_token, cp.hash, tsa.ca_file.read_bytes())
    assert check.ok and check.time, check
    other = timestamps.check_token(cp.tsa_token, hashlib.sha256(b"another").hexdigest(), tsa.ca_file.read_bytes())
    assert not other.ok and "imprint" in other.message


@pytest.mark.parametrize("mode", ["down", "error", "garbage", "untrusted"])
async def test_a_tsa_that_fails_leaves_an_error_and_the_checkpoint_still_counts(
    core: Core, world: World, tsa: LocalTsa, tmp_path: Path, mode: str
) -> None:
    expected = {
        "down": "cannot be reached",
        "error": "HTTP 503",
        "garbage": "does not verify",
        "untrusted": "does not verify",
    }[mode]
    stranger: LocalTsa | None = None
    settings = core.settings
    if mode == "down":
        settings = replace(settings, tsa_url=f"http://127.0.0.1:{free_port()}/tsa")
    elif mode == "untrusted":  # a TSA whose certificate does not chain to the configured CA
        stranger = LocalTsa(tmp_path / "stranger")
        stranger.start()
        settings = replace(settings, tsa_url=stranger.url)
    else:
        tsa.mode = mode
    try:
        cp = await checkpoints.make(replace(core, settings=settings), CheckpointReason.interval)
    finally:
        tsa.mode = "ok"
        if stranger is not None:
            stranger.stop()
    assert cp is not None and cp.tsa_token is None and cp.tsa_error and expected in cp.tsa_error, cp.tsa_error
    after = await checkpoints.make(core, CheckpointReason.export)
    assert after is not None and after.prev_hash == cp.hash and after.tsa_token, "the chain goes on, stamped again"
