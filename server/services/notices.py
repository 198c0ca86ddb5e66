"""The rights and obligations notice (人民调解权利义务告知书, 人民调解法 Arts. 23–24).

The mediator presents it at the start of a session; each party then acknowledges it on their
own device, once. The acknowledgement keeps the SHA-256 of exactly the text shown and the
language it was read in, and both steps go into the case log with who took them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from server.domain.actors import Actor
from server.domain.errors import Conflict, Forbidden, ValidationFailed
from server.domain.grants import PARTY_ROLES, Grant, SessionRole, ensure_grant
from server.storage import notices as stored
from server.storage.notices import AcknowledgementRecord

from . import eventlog
from .core import Core
from .minutes import documents

TEMPLATE = "rights_notice.html"


@dataclass(frozen=True)
class Notice:
    html: str  # the whole notice, Chinese first, then English
    sha256: str  # of `html` as UTF-8: what an acknowledgement says was read


def notice(core: Core) -> Notice:
    """The notice as every party is shown it."""
    html = documents(core).get_template(TEMPLATE).render()
    return Notice(html, hashlib.sha256(html.encode()).hexdigest())


async def present(core: Core, *, case_id: str, session_id: str, role: SessionRole, actor: Actor) -> Notice:
    """The mediator presents the notice (logged); the caller then shows it to the parties."""
    ensure_grant(role, Grant.moderate)
    shown = notice(core)
    async with core.db.write() as tx:
        await eventlog.append(
            tx,
            case_id=case_id,
            session_id=session_id,
            kind="session.notice_presented",
            actor=actor,
            at=core.clock.now(),
            data={"notice_sha256": shown.sha256},
        )
    return shown


async def acknowledge(
    core: Core,
    *,
    case_id: str,
    session_id: str,
    pid: str,
    name: str,
    role: SessionRole,
    actor: Actor,
    notice_sha256: str,
    language: str,
) -> tuple[AcknowledgementRecord, bool]:
    """A party acknowledges the notice they were shown. Returns (acknowledgement, created): a
    second acknowledgement returns the first one and logs nothing."""
    if role not in PARTY_ROLES:
        raise Forbidden("only the parties and their agents acknowledge the notice")
    shown = notice(core)
    if notice_sha256 != shown.sha256:
        raise ValidationFailed(
            "this is not the notice the server shows now; read it again",
            fields={"notice_sha256": "not_current"},
        )
    now = core.clock.now()
    try:
        async with core.db.write() as tx:
            existing = await stored.of_participant(tx, session_id, pid)
            if existing is not None:
                return existing, False
            presented = await eventlog.entries(tx, case_id, kinds=("session.notice_presented",))
            if not any(e.session_id == session_id for e in presented):
                raise Conflict("the mediator has not presented the notice in this session yet")
            ack = await stored.insert_acknowledgement(
                tx,
                case_id=case_id,
                session_id=session_id,
                pid=pid,
                name=name,
                role=role.value,
                notice_sha256=notice_sha256,
                language=language,
                actor=str(actor),
                at=now,
            )
            await eventlog.append(
                tx,
                case_id=case_id,
                session_id=session_id,
                kind="session.notice_acknowledged",
                actor=actor,
                at=now,
                data={
                    "pid": pid,
                    "name": name,
                    "role": role.value,
                    "notice_sha256": notice_sha256,
                    "language": language,
                },
            )
            return ack, True
    except stored.AlreadyAcknowledged:
        async with core.db.read() as tx:
            existing = await stored.of_participant(tx, session_id, pid)
        if existing is None:
            raise
        return existing, False


@dataclass(frozen=True)
class Standing:
    """Where one participant stands with the notice: when it was last presented in the session
    (None: not yet), and their acknowledgement (None: not given)."""

    presented_at: datetime | None
    acknowledged: AcknowledgementRecord | None


async def standing(core: Core, *, case_id: str, session_id: str, pid: str) -> Standing:
    """For a participant who (re)loads the room: a party who reloads before acknowledging must
    see the notice again without the mediator presenting it again."""
    async with core.db.read() as tx:
        presented = [
            e.at
            for e in await eventlog.entries(tx, case_id, kinds=("session.notice_presented",))
            if e.session_id == session_id
        ]
        mine = await stored.of_participant(tx, session_id, pid)
    return Standing(max(presented) if presented else None, mine)


async def acknowledgements(core: Core, session_id: str) -> list[AcknowledgementRecord]:
    """Who has acknowledged the notice in a session, in order."""
    async with core.db.read() as tx:
        return await stored.for_session(tx, session_id)
