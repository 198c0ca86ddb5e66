"""A recorded session for tests that need real recording files but no live room.

The media are real (a VP8 and an Opus encoder, from recordings/synthetic.py, which writes them
and reports them as below; `heshi demo` uses it too), the files are written by the recorder's own
segment writer (recordings/segments.py) into the session's recording directory, named as the
worker names them, and each is reported to the evidence log exactly as a worker reports it
(recordings/worker.py → evidence.save_segment: the node checks the size and SHA-256 and logs
`recording.segment`). What a live room would write besides (joins, consents, the run's start
and stop, the session going live and ending) is written through the same services. Only the
peers and the worker process are left out: tests/recordings covers those.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from recordings import evidence, files
from recordings.segments import FinishedSegment
from recordings.synthetic import log_segments, write_track
from recordings.worker import file_stem
from server.domain.actors import Actor
from server.domain.sessions import SessionStatus
from server.services import eventlog, sessions
from server.services.core import Core


@dataclass(frozen=True)
class Someone:
    """A participant of the recorded session: who, and what of them is recorded."""

    name: str
    role: str  # a SessionRole value
    video: bool = True
    audio: bool = True
    start: float = 0.0  # seconds after the first one started sending
    id: str = ""  # the invitation id behind the pid (made up when empty)

    @property
    def pid(self) -> str:
        return f"i:{self.id}"

    @property
    def actor(self) -> Actor:
        return Actor.invitation(self.id)


@dataclass(frozen=True)
class Recorded:
    case_id: str
    session_id: str
    recording_id: str
    segment_ids: list[str]
    folder: Path


def people(*spec: tuple[str, str] | Someone) -> list[Someone]:
    """Participants with made-up invitation ids: (name, role) pairs or ready ones."""
    out = []
    for item in spec:
        p = item if isinstance(item, Someone) else Someone(*item)
        out.append(p if p.id else Someone(p.name, p.role, p.video, p.audio, p.start, secrets.token_hex(8)))
    return out


async def record_session(
    core: Core, case_id: str, session_id: str, who: list[Someone], *, seconds: float = 1.5, end: bool = True
) -> Recorded:
    """Record `who` for `seconds` each in the session (scheduled: it goes live first) and, with
    `end`, end it. The first packet is stamped at the clock's now; each person starts `start`
    seconds later. The mediator (the first one whose role is mediator) starts the run."""
    mediator = next((p for p in who if p.role == "mediator"), who[0])
    await sessions.mark_session_status(core, mediator.actor, session_id, SessionStatus.live)
    now = core.clock.now()
    async with core.db.write() as tx:
        for p in who:
            await eventlog.append(
                tx,
                case_id=case_id,
                kind="session.join",
                actor=p.actor,
                at=now,
                session_id=session_id,
                data={"pid": p.pid, "name": p.name, "role": p.role, "state": "admitted"},
            )
    run = await evidence.start_run(core, case_id=case_id, session_id=session_id, actor=mediator.actor, node_id=None)
    for p in who:
        if p is not mediator:  # the one who starts a recording is not asked
            person = evidence.Person(p.pid, p.name, p.role, p.id, None)
            await evidence.save_consent(core, run.id, person, p.actor, "granted", "zh")
    data_dir = Path(core.settings.data_dir)
    folder = files.session_dir(data_dir, case_id, session_id)
    folder.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    ids: list[str] = []
    for p in who:
        finished: list[FinishedSegment] = []
        start = now + timedelta(seconds=p.start)
        for kind, wanted, suffix in (("video", p.video, "v"), ("audio", p.audio, "a")):
            if wanted:
                stem = file_stem(p.pid, tag, 1, kind)
                finished += await write_track(folder, stem, kind, start, seconds, track_id=f"{p.id}-{suffix}")
        ids += await log_segments(core, run.id, p.pid, data_dir, finished)
    await evidence.stop_run(core, run.id, actor=mediator.actor, reason="调解结束")
    if end:
        await sessions.mark_session_status(core, mediator.actor, session_id, SessionStatus.ended)
    return Recorded(case_id, session_id, run.id, ids, folder)
