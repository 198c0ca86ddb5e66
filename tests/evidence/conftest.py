"""What the evidence tests share: a local timestamp authority, real WebM files made by ffmpeg,
the demo's concluded case given a recording and chat through the product's own paths, and one
real export package of it, built once per run (on SQLite, with a TSA) for the tampering tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from recordings import evidence
from server.auth.passwords import Passwords
from server.config import Settings, load_settings
from server.domain.access import Principal
from server.domain.actors import Actor, SystemReason
from server.domain.clock import FrozenClock
from server.domain.evidence import CheckpointReason
from server.domain.grants import SessionRole
from server.services import accounts, checkpoints, eventlog, exports
from server.services.core import Core
from server.services.demo import create_concluded_case, create_demo
from server.storage import recordings as stored_recordings
from server.storage.models import RecordingSegment
from signaling.binding import Binding
from signaling.persistence import save_chat
from tests.api.conftest import invitation_ids
from tests.conftest import TEST_SECRET, principal_for, settings_for
from tests.evidence.tsa import LocalTsa
from tests.support.stores import RoomStoreChoice

CLOSED_COURT = "http://127.0.0.1:9/court"  # nothing listens: the demo's request is never sent
CHAT = [("mediator", "请双方分别陈述意见。"), ("applicant", "排水管对着我家院墙，墙都泡坏了。")]


@pytest.fixture(scope="session")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTsa]:
    authority = LocalTsa(tmp_path_factory.mktemp("tsa"))
    authority.start()
    yield authority
    authority.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, room_store: RoomStoreChoice, tsa: LocalTsa) -> Settings:
    """Every evidence test's server has the local TSA configured."""
    return settings_for(tmp_path, database_url, room_store, tsa_url=tsa.url, tsa_ca_file=str(tsa.ca_file))


# ---- media ----------------------------------------------------------------------------------------


def _ffmpeg(out: Path, *args: str) -> bytes:
    done = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args, "-f", "webm", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Real WebM files: one second of VP8 video, one of Opus audio, and a 'download' (VP8)."""
    folder = tmp_path_factory.mktemp("media")
    return {
        "video": _ffmpeg(folder / "v.webm", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "1",
                         "-c:v", "libvpx", "-b:v", "100k"),
        "audio": _ffmpeg(folder / "a.webm", "-f", "lavfi", "-i", "sine=frequency=400", "-t", "1", "-c:a", "libopus"),
        "composite": _ffmpeg(folder / "c.webm", "-f", "lavfi", "-i", "testsrc=size=320x120:rate=10", "-t", "1",
                             "-c:v", "libvpx", "-b:v", "100k"),
    }  # fmt: skip


# ---- a recorded, concluded case ----------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    case_id: str
    session_id: str
    mediator: Principal
    segment_ids: list[str]
    deleted_segment_id: str
    segment_paths: list[str]  # relative to the data directory, of the segments still on disk


async def record_segment(
    core: Core, recording_id: str, case_id: str, session_id: str, name: str, data: bytes, kind: str, index: int
) -> tuple[str, str]:
    """A finished segment as the recorder reports it: its file in place, then `save_segment`."""
    rel = evidence.session_folder(case_id, session_id) / name
    path = core.settings.data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    start = core.clock.now() + timedelta(seconds=index)
    seg_id = await evidence.save_segment(
        core,
        recording_id,
        Actor.recorder(recording_id),
        {
            "pid": "a:mediator",
            "kind": kind,
            "codec": "vp8" if kind == "video" else "opus",
            "track": f"{kind}-track",
            "index": index,
            "path": str(rel),
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "frames": 10,
            "duration_s": 1.0,
            "first_wallclock": start.timestamp(),
            "first_rtp_ts": 0,
            "sender_reports": [],
        },
    )
    return seg_id, str(rel)


async def recorded_case(core: Core, media: dict[str, bytes]) -> Recorded:
    """The demo's concluded case (minutes and agreement signed, by the real services), with
    chat in its session, an interval checkpoint, then a recording of three segments written by
    the recorder's evidence path, the session's download, and one segment deleted the way
    retention deletes one (file gone, `deleted_at` set, `recording.deleted` in the log)."""
    if await accounts.find_account(core, "demo-mediator") is None:  # the `world` fixture made it already
        await create_demo(core)
    concluded = await create_concluded_case(core, court_url=CLOSED_COURT)
    case_id, session_id = concluded.case_id, concluded.session_id
    mediator = await principal_for(core, "demo-mediator")
    invitations = await invitation_ids(core, session_id)
    people = {
        "mediator": Binding(f"a:{mediator.account_id}", "王建国", SessionRole.mediator, case_id, session_id, None,
                            mediator.account_id, True),
        "applicant": Binding(f"i:{invitations['applicant']}", "周桂兰", SessionRole.applicant, case_id, session_id,
                             invitations["applicant"], None, False),
    }  # fmt: skip
    for n, (who, text) in enumerate(CHAT):
        await save_chat(core, people[who], f"chat-{n}", text, None)
    await checkpoints.make(core, CheckpointReason.interval)  # the interval job, before the recording

    run = await evidence.start_run(core, case_id=case_id, session_id=session_id, actor=Actor.of(mediator), node_id=None)
    made = [
        await record_segment(core, run.id, case_id, session_id, "m-c1-video-00000.webm", media["video"], "video", 0),
        await record_segment(core, run.id, case_id, session_id, "m-c1-audio-00000.webm", media["audio"], "audio", 0),
        await record_segment(core, run.id, case_id, session_id, "m-c1-video-00001.webm", media["video"], "video", 1),
    ]
    await evidence.stop_run(core, run.id, actor=Actor.of(mediator), reason="调解结束")

    rel = evidence.session_folder(case_id, session_id) / "composite.webm"
    (core.settings.data_dir / rel).write_bytes(media["composite"])
    sha = hashlib.sha256(media["composite"]).hexdigest()
    async with core.db.write() as tx:
        await stored_recordings.save_composite(
            tx, session_id, case_id=case_id, at=core.clock.now(), initial_status="done", status="done",
            progress=1.0, path=str(rel), sha256=sha, bytes=len(media["composite"]),
        )  # fmt: skip
        await eventlog.append(
            tx, case_id=case_id, session_id=session_id, kind="recording.composite", actor=Actor.of(mediator),
            at=core.clock.now(), data={"path": str(rel), "sha256": sha, "bytes": len(media["composite"])},
        )  # fmt: skip

    gone_id, gone_path = made[2]
    (core.settings.data_dir / gone_path).unlink()
    async with core.db.write() as tx:
        await tx.execute(
            update(RecordingSegment).where(RecordingSegment.id == gone_id).values(deleted_at=core.clock.now())
        )
        await eventlog.append(
            tx, case_id=case_id, session_id=session_id, kind="recording.deleted",
            actor=Actor.system(SystemReason.cli), at=core.clock.now(),
            data={"segment_id": gone_id, "path": gone_path, "reason": "retention"},
        )  # fmt: skip
    return Recorded(case_id, session_id, mediator, [s for s, _ in made], gone_id, [p for _, p in made[:2]])


T = TypeVar("T")


def run_on_own_loop(work: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to the end on a fresh loop in a worker thread (from a sync fixture)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result(timeout=600)  # type: ignore[arg-type]


def fast_core(settings: Settings, clock: FrozenClock | None = None) -> Core:
    core = Core.build(settings, clock=clock or FrozenClock())
    core.passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    return core


# ---- one real package, for the tampering tests -------------------------------------------------------


@dataclass(frozen=True)
class Package:
    data: bytes  # the ZIP as downloaded
    key: Ed25519PrivateKey  # the server's signing key (what an attacker with the server would have)
    public_pem: bytes  # as GET /api/v1/evidence/public-key serves it
    case_id: str
    session_id: str


@pytest.fixture(scope="session")
def package(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, tsa: LocalTsa, media: dict[str, bytes]
) -> Package:
    folder = tmp_path_factory.mktemp("package")
    shutil.copy(sqlite_template, folder / "heshi.db")
    settings = load_settings(
        env={},
        data_dir=str(folder / "data"),
        database_url=f"sqlite+aiosqlite:///{folder / 'heshi.db'}",
        secret_key=TEST_SECRET,
        public_url="http://heshi.test",
        tsa_url=tsa.url,
        tsa_ca_file=str(tsa.ca_file),
    )

    async def build() -> Package:
        core = fast_core(settings)
        try:
            rec = await recorded_case(core, media)
            record = await exports.request(core, rec.mediator, rec.case_id)
            assert await exports.Exports(core).run_once() == 1
            _, path = await exports.download(core, rec.mediator, record.id, None)
            key = serialization.load_pem_private_key(
                (settings.data_dir / "evidence" / "signing-key.pem").read_bytes(), password=None
            )
            assert isinstance(key, Ed25519PrivateKey)
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return Package(path.read_bytes(), key, public, rec.case_id, rec.session_id)
        finally:
            await core.close()

    return run_on_own_loop(build)


def pairs_of(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.kind, e.actor) for e in events]
