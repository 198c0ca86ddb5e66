"""The binding of a connection to one case, session, person and role — made at connect, from
the server-side session (join cookie or staff cookie), and never changed by any message."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from server.auth.tokens import RecorderTokens
from server.domain.access import PrincipalKind
from server.domain.actors import Actor
from server.domain.errors import Forbidden, InvalidToken, Unauthenticated, ValidationFailed
from server.domain.grants import SessionRole
from server.domain.sessions import SessionStatus
from server.services import cases, sessions, signin
from server.services.core import Core
from server.storage import recordings as stored_recordings
from server.storage.recordings import RunStatus

from .room import RECORDER_PID

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Binding:
    pid: str  # participant id: "i:<invitation id>" or "a:<account id>"
    name: str
    role: SessionRole
    case_id: str
    session_id: str
    invitation_id: str | None
    account_id: str | None
    direct_entry: bool

    @property
    def actor(self) -> Actor:
        """Who this participant is in the case log: the invitation that let them in, or the
        staff account that joined from the case page."""
        return Actor.invitation(self.invitation_id) if self.invitation_id else Actor.account(self.account_id)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "role": self.role.value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Binding:
        return cls(**{**d, "role": SessionRole(d["role"])})


@dataclass(frozen=True)
class RecorderBinding:
    """A recorder worker's connection: bound at connect to one recording run, never a person."""

    recording_id: str
    case_id: str
    session_id: str
    pid: str = RECORDER_PID

    @property
    def actor(self) -> Actor:
        return Actor.recorder(self.recording_id)


def check_session_id(session_id: object) -> str:
    """A session id is a UUID; anything else is malformed input, whoever sends it."""
    if not isinstance(session_id, str) or not _UUID_RE.match(session_id):
        raise ValidationFailed('connect with auth {session_id: "<session uuid>"}', fields={"session_id": "invalid"})
    return session_id


async def bind(core: Core, session_id: str, join_cookie: str | None, staff_cookie: str | None) -> Binding:
    """Decide who a new connection is. Raises a DomainError that the edge turns into a refusal.

    Who is asking is settled before the session is looked up: someone with no valid cookie
    learns nothing about which session ids exist.
    """
    joined = await signin.authenticate(core, join_cookie, PrincipalKind.invitation)
    staff = await signin.authenticate(core, staff_cookie, PrincipalKind.staff)
    if joined is not None and joined[0].session_id == session_id:
        p = joined[0]
        assert p.invitation_id is not None and p.session_role is not None and p.case_id is not None
        session = await sessions.load_session(core, session_id)
        if session.status == SessionStatus.ended.value:
            raise InvalidToken("session_ended", "this mediation session has ended")
        return Binding(
            pid=f"i:{p.invitation_id}",
            name=p.display_name,
            role=p.session_role,
            case_id=session.case_id,
            session_id=session_id,
            invitation_id=p.invitation_id,
            account_id=p.account_id,
            direct_entry=p.direct_entry,
        )
    if staff is not None:
        p = staff[0]
        session = await sessions.get_session(core, p, session_id)  # not_found outside the caller's scope
        if session.status == SessionStatus.ended.value:
            raise InvalidToken("session_ended", "this mediation session has ended")
        access = await cases.case_access(core, p, session.case_id)
        if not access.can_manage:
            raise Forbidden("only the case's mediators join from the case page; others need an invitation link")
        return Binding(
            pid=f"a:{p.account_id}",
            name=p.display_name,
            role=SessionRole.mediator,
            case_id=session.case_id,
            session_id=session_id,
            invitation_id=None,
            account_id=p.account_id,
            direct_entry=True,
        )
    if joined is not None:
        raise Forbidden("your invitation is for another session")
    if join_cookie:
        # A link that worked until its session ended says so (the client shows "the session has
        # ended", not "open your link"); that tells its holder only about their own session.
        reason, link_session = await signin.refusal_of(core, join_cookie)
        if reason == "session_ended" and link_session == session_id:
            raise InvalidToken("session_ended", "this mediation session has ended")
    raise Unauthenticated("open your invitation link, or sign in, before joining")


async def bind_recorder(core: Core, session_id: str, token: Any) -> RecorderBinding:
    """A recorder worker: its credential names one recording run, which must be this session's
    and still running."""
    if not isinstance(token, str):
        raise InvalidToken("malformed", "this recorder credential is not valid")
    claims = RecorderTokens(core.settings.secret_key).verify(token, core.clock.now())
    async with core.db.read() as tx:
        run = await stored_recordings.find_run(tx, claims.row_id)
    if run is None or run.session_id != session_id:
        raise Forbidden("this recorder credential is for another session")
    if run.status not in (RunStatus.active, RunStatus.interrupted):
        raise InvalidToken("recording_stopped", "this recording has stopped")
    return RecorderBinding(recording_id=run.id, case_id=run.case_id, session_id=session_id)
