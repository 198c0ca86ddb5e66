"""Mediation sessions (调解会话): one live video meeting of a case."""

from __future__ import annotations

import enum

from .errors import InvalidTransition


class SessionStatus(enum.StrEnum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"


SESSION_TRANSITIONS: dict[SessionStatus, tuple[SessionStatus, ...]] = {
    SessionStatus.scheduled: (SessionStatus.live, SessionStatus.ended),  # ended unheld = cancelled
    SessionStatus.live: (SessionStatus.ended,),
    SessionStatus.ended: (),
}


def check_session_transition(current: SessionStatus, target: SessionStatus) -> None:
    allowed = SESSION_TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition("session", current.value, target.value, [s.value for s in allowed])
