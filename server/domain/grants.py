"""Who may do what in a live session: the roles-and-grants table of DESIGN.md, in one place.

Signaling, recording and minutes check these grants first thing in every call; nothing else
decides what a role may do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import Forbidden


class SessionRole(enum.StrEnum):
    mediator = "mediator"
    applicant = "applicant"
    respondent = "respondent"
    agent = "agent"
    expert = "expert"
    observer = "observer"
    clerk = "clerk"  # 记录人: writes the minutes beside the mediator (`recorder` is the recording worker)


class Grant(enum.StrEnum):
    enter = "join"  # take a seat in the session (not `join`: that would shadow str.join)
    publish = "publish"
    chat = "chat"
    read_chat = "read_chat"
    moderate = "moderate"  # admit/deny lobby, mute, remove, end
    control_recording = "control_recording"
    consent_recording = "consent_recording"
    caucus = "caucus"
    write_minutes = "write_minutes"
    read_minutes = "read_minutes"
    add_expert_opinion = "add_expert_opinion"
    sign = "sign"


_PARTY = frozenset(
    {Grant.enter, Grant.publish, Grant.chat, Grant.read_chat, Grant.consent_recording, Grant.read_minutes, Grant.sign}
)

ROLE_GRANTS: dict[SessionRole, frozenset[Grant]] = {
    SessionRole.mediator: frozenset(
        {
            Grant.enter,
            Grant.publish,
            Grant.chat,
            Grant.read_chat,
            Grant.moderate,
            Grant.control_recording,
            Grant.caucus,
            Grant.write_minutes,
            Grant.read_minutes,
        }
    ),
    SessionRole.applicant: _PARTY,
    SessionRole.respondent: _PARTY,
    SessionRole.agent: _PARTY,
    SessionRole.expert: frozenset(
        {
            Grant.enter,
            Grant.publish,
            Grant.chat,
            Grant.read_chat,
            Grant.consent_recording,
            Grant.read_minutes,
            Grant.add_expert_opinion,
        }
    ),
    SessionRole.observer: frozenset({Grant.enter, Grant.read_chat, Grant.read_minutes}),
    SessionRole.clerk: frozenset(
        {
            Grant.enter,
            Grant.publish,
            Grant.chat,
            Grant.read_chat,
            Grant.consent_recording,
            Grant.write_minutes,
            Grant.read_minutes,
        }
    ),
}

# Roles that wait in the lobby unless their invitation allows direct entry. Experts and clerks
# are not among them: they are staff the mediator chose, and enter directly unless told otherwise.
LOBBY_BY_DEFAULT = frozenset({SessionRole.applicant, SessionRole.respondent, SessionRole.agent, SessionRole.observer})

PARTY_ROLES = frozenset({SessionRole.applicant, SessionRole.respondent, SessionRole.agent})


def has_grant(role: SessionRole, grant: Grant) -> bool:
    return grant in ROLE_GRANTS[role]


def ensure_grant(role: SessionRole, grant: Grant) -> None:
    """Raise Forbidden unless `role` holds `grant`."""
    if grant not in ROLE_GRANTS[role]:
        raise Forbidden(f"role '{role.value}' may not {grant.value.replace('_', ' ')}", grant=grant.value)


# Case states in which a party still has documents of a held session to read and sign: the
# mediation is under way, or has ended in an agreement or without one (the minutes of a failed
# mediation are signed too). A declined, withdrawn or closed case has nothing left to sign.
CASE_STATES_WITH_DOCUMENTS = frozenset({"accepted", "mediating", "settled", "unsettled"})


def link_outlives_session(role: SessionRole, *, held: bool = True, case_status: str = "mediating") -> bool:
    """Whether a join link in `role` still opens anything once its session has ended.

    The room closes for everyone when the session ends. The documents do not: the parties and
    their agents read and sign the minutes and the agreement on their own device "in the room or
    after it", so a link whose role signs keeps reaching that session's documents (the REST
    document routes and the signing page) until it expires or is revoked, if the session was
    held (a cancelled one has none) and the case still has documents to sign
    (CASE_STATES_WITH_DOCUMENTS). Everyone else's link ends with the session."""
    return Grant.sign in ROLE_GRANTS[role] and held and case_status in CASE_STATES_WITH_DOCUMENTS


@dataclass(frozen=True)
class CasePanel:
    """What the room's case panel shows someone of the case, beyond its number, title, dispute
    type and the parties' names and sides (the room shows their names on the tiles anyway)."""

    agents: bool  # the parties' agents' names
    summary: bool  # the dispute summary


def case_panel_for(role: SessionRole) -> CasePanel:
    """Agents' names only the mediator and the clerk see, as the session page shows a link holder
    nothing more of the case (tests/pages/test_page_join.py). The dispute summary is for those
    who take part in resolving it (mediator, clerk, expert, the parties and their agents), not
    for observers. Phone and ID-card numbers are never in the panel."""
    return CasePanel(
        agents=role in (SessionRole.mediator, SessionRole.clerk),
        summary=role is not SessionRole.observer,
    )
