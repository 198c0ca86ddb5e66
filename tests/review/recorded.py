"""A recorded session for the review tests, made fast with the recorder's own parts.

Real VP8 (libvpx) and Opus (libopus) frames go through the recorder's `SegmentWriter` into WebM
segments in the session's recording directory, and each finished segment is checked and logged
by `recordings.evidence.save_segment`, as the node does when a worker reports one (both by
recordings/synthetic.py, which `heshi demo` uses too). Only the
network between browser and recorder is left out (tests/recordings and the browser test run
that too); the wall clock of each segment is the one the test chooses, so that the timeline,
its gaps and the minutes' moments are known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from recordings import evidence, files
from recordings.evidence import Person
from recordings.segments import FinishedSegment
from recordings.synthetic import log_segments, write_track
from server.domain import minutes as minutes_rules
from server.domain.actors import Actor
from server.domain.clock import wire_time
from server.domain.grants import SessionRole
from server.domain.sessions import SessionStatus
from server.services import eventlog, minutes, sessions
from server.services.core import Core
from server.storage import chat as stored_chat


@dataclass
class Recorded:
    """The demo session, held and recorded: who was there, and when things happened."""

    case_id: str
    session_id: str
    t0: datetime  # the session went live
    mediator_pid: str
    applicant_pid: str
    respondent_pid: str
    run_ids: list[str] = field(default_factory=list)
    minutes_at: list[str] = field(default_factory=list)  # the minutes entries' `at`, in order
    chat_ids: dict[str, str] = field(default_factory=dict)  # "public", "to_applicant", "to_respondent"

    def at(self, seconds: float) -> datetime:
        return self.t0 + timedelta(seconds=seconds)


async def record_demo_session(core: Core, world: Any, *, end: bool = True) -> Recorded:
    """The demo session, held from t0 to t0+14 s with the clock set as it goes:

    - the mediator joins at t0 (the session goes live), the applicant at t0+1 in the lobby and is
      admitted; recording starts at t0+2, the applicant agrees;
    - the mediator's video and audio are recorded t0+3 to t0+6, recording stops at t0+6.5 and
      starts again at t0+9, and they are recorded t0+10 to t0+12: a gap of 4 s;
    - the applicant's audio is recorded t0+4 to t0+6;
    - chat: public at t0+5 (applicant), private to the applicant at t0+5.5 and to the respondent
      at t0+6 (mediator);
    - minutes entries at t0+4.5 and t0+10.5; the session ends at t0+14 (unless `end` is false:
      then it is still live, the applicant having left at t0+13.5).
    """
    demo = world.demo
    clock = core.clock
    t0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    clock.set(t0)
    data_dir = Path(core.settings.data_dir)
    mediator = world.principals["demo-mediator"]
    m_actor = Actor.account(mediator.account_id)
    invitations = await _invitations(core, demo.session_id)
    app_actor = Actor.invitation(invitations["applicant"])
    r = Recorded(
        demo.case_id,
        demo.session_id,
        t0,
        mediator_pid=f"a:{mediator.account_id}",
        applicant_pid=f"i:{invitations['applicant']}",
        respondent_pid=f"i:{invitations['respondent']}",
    )

    async def log(kind: str, actor: Actor, **data: Any) -> None:
        async with core.db.write() as tx:
            await eventlog.append(
                tx, case_id=r.case_id, session_id=r.session_id, kind=kind, actor=actor, at=clock.now(), data=data
            )

    m_name = mediator.display_name
    await log("session.join", m_actor, pid=r.mediator_pid, name=m_name, role="mediator", state="admitted")
    await sessions.mark_session_status(core, m_actor, r.session_id, SessionStatus.live)
    clock.set(r.at(1))
    await log("session.join", app_actor, pid=r.applicant_pid, name="李秀英", role="applicant", state="lobby")
    await log("session.admit", m_actor, pid=r.applicant_pid)

    folder = files.session_dir(data_dir, r.case_id, r.session_id)
    folder.mkdir(parents=True, exist_ok=True)

    async def media(run_no: int, pid: str, kind: str, begin: float, seconds: float) -> list[FinishedSegment]:
        stem = f"{pid.replace(':', '_')}-run{run_no}-c1-{kind}"
        return await write_track(folder, stem, kind, r.at(begin), seconds)

    clock.set(r.at(2))
    run = await evidence.start_run(core, case_id=r.case_id, session_id=r.session_id, actor=m_actor, node_id=None)
    r.run_ids.append(run.id)
    applicant = Person(r.applicant_pid, "李秀英", "applicant", invitations["applicant"], None)
    await evidence.save_consent(core, run.id, applicant, app_actor, "granted", "zh")
    first = {
        r.mediator_pid: await media(1, r.mediator_pid, "video", 3.0, 3.0)
        + await media(1, r.mediator_pid, "audio", 3.0, 3.0),
        r.applicant_pid: await media(1, r.applicant_pid, "audio", 4.0, 2.0),
    }
    clock.set(r.at(5))
    r.chat_ids["public"] = await _chat(
        core, r, app_actor, r.applicant_pid, "李秀英", "applicant", None, "我同意先测量再谈赔偿"
    )
    clock.set(r.at(5.5))
    r.chat_ids["to_applicant"] = await _chat(
        core, r, m_actor, r.mediator_pid, m_name, "mediator", r.applicant_pid, "请您准备好维修发票"
    )
    clock.set(r.at(6))
    r.chat_ids["to_respondent"] = await _chat(
        core, r, m_actor, r.mediator_pid, m_name, "mediator", r.respondent_pid, "私下：被申请人方面的情况"
    )
    for pid, written in first.items():
        await log_segments(core, run.id, pid, data_dir, written)
    clock.set(r.at(6.5))
    await evidence.stop_run(core, run.id, actor=m_actor, reason="休息")

    clock.set(r.at(9))
    run = await evidence.start_run(core, case_id=r.case_id, session_id=r.session_id, actor=m_actor, node_id=None)
    r.run_ids.append(run.id)
    second = await media(2, r.mediator_pid, "video", 10.0, 2.0) + await media(2, r.mediator_pid, "audio", 10.0, 2.0)
    clock.set(r.at(12))
    await log_segments(core, run.id, r.mediator_pid, data_dir, second)
    clock.set(r.at(12.5))
    await evidence.stop_run(core, run.id, actor=m_actor, reason="调解结束")

    r.minutes_at = [wire_time(r.at(4.5)), wire_time(r.at(10.5))]
    editor = minutes.editor_of_participant(
        r.case_id, r.session_id, SessionRole.mediator, m_actor, mediator.display_name
    )
    body = minutes_rules.MinutesIn(
        entries=[
            minutes_rules.MinutesEntryIn(speaker="申请人", text="楼上漏水已三个月，要求赔偿维修费", at=r.minutes_at[0]),
            minutes_rules.MinutesEntryIn(speaker="调解员", text="双方同意先请物业测量", at=r.minutes_at[1]),
        ]
    )
    clock.set(r.at(13))
    await minutes.save(core, editor, base_revision=0, save_id="review-test-1", body=body)
    clock.set(r.at(13.5))
    await log("session.leave", app_actor, pid=r.applicant_pid)
    clock.set(r.at(14))
    if end:
        await sessions.mark_session_status(core, m_actor, r.session_id, SessionStatus.ended, "调解结束")
    return r


async def _chat(
    core: Core, r: Recorded, actor: Actor, pid: str, name: str, role: str, to: str | None, text: str
) -> str:
    now = core.clock.now()
    async with core.db.write() as tx:
        msg = await stored_chat.insert_message(
            tx,
            case_id=r.case_id,
            session_id=r.session_id,
            sender_pid=pid,
            sender_name=name,
            sender_role=role,
            recipient_pid=to,
            client_id=f"c-{now.timestamp()}",
            text=text,
            at=now,
        )
        await eventlog.append(
            tx,
            case_id=r.case_id,
            session_id=r.session_id,
            kind="chat.message",
            actor=actor,
            at=now,
            data={"message_id": msg.id, "to": to, "text": text},
        )
    return msg.id


async def _invitations(core: Core, session_id: str) -> dict[str, str]:
    from sqlalchemy import select

    from server.storage.models import Invitation

    async with core.db.read() as s:
        rows = (
            await s.execute(select(Invitation.role, Invitation.id).where(Invitation.session_id == session_id))
        ).all()
    return {role: inv_id for role, inv_id in rows}
