"""The case log's entry kinds, and what each viewer may read of them: one rule, like grants.

Every kind of entry the product writes is named here with the part of the case it belongs
to; the log refuses a kind that is not. Who may read an entry depends on that part:

| part      | full readers | invited staff (e.g. an expert)                                   | parties |
|-----------|--------------|------------------------------------------------------------------|---------|
| case      | ✓            | ✓ (they read the case file itself)                               | –       |
| session   | ✓            | only sessions they hold a valid invitation to                    | –       |
| chat      | ✓            | their sessions; public messages and private ones to or from them | –       |
| recording | ✓            | –  (the recording API refuses them too)                          | –       |
| minutes   | ✓            | only sessions they hold a valid invitation to (they read live)   | –       |
| agreement | ✓            | –                                                                | –       |
| evidence  | ✓            | –                                                                | –       |

Full readers are the case's mediators (those who manage it), reviewers whose org subtree
holds the case, and admins. An entry a viewer may not read is served redacted — its
sequence number, kind, time and hashes, never its content — so that the chain still
verifies end to end.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .access import CaseScope, Principal, PrincipalKind, can_manage_case, can_view_case
from .accounts import StaffRole
from .actors import Actor
from .orgs import in_subtree


class Part(enum.StrEnum):
    case = "case"
    session = "session"
    chat = "chat"
    recording = "recording"
    minutes = "minutes"
    agreement = "agreement"  # agreements, signatures on them, and judicial confirmation
    evidence = "evidence"  # evidence exports of the case (issue 12)


ENTRY_KINDS: dict[str, Part] = {
    "case.created": Part.case,
    "case.transitioned": Part.case,
    "case.hold_set": Part.case,  # legal hold: retention deletes nothing of the case
    "case.hold_released": Part.case,
    "party.added": Part.case,
    "session.scheduled": Part.session,
    "session.live": Part.session,
    "session.ended": Part.session,
    "session.join": Part.session,
    "session.rejoin": Part.session,
    "session.leave": Part.session,
    "session.admit": Part.session,
    "session.deny": Part.session,
    "session.remove": Part.session,
    "session.end": Part.session,
    "invitation.issued": Part.session,
    "invitation.opened": Part.session,
    "invitation.revoked": Part.session,
    "chat.message": Part.chat,
    "recording.started": Part.recording,
    "recording.stopped": Part.recording,
    "recording.consent": Part.recording,
    "recording.segment": Part.recording,
    "recording.interrupted": Part.recording,
    "recording.resumed": Part.recording,
    "recording.disk_full": Part.recording,
    "recording.disk_error": Part.recording,
    "recording.error": Part.recording,
    "recording.track_error": Part.recording,
    "recording.composite": Part.recording,
    "recording.accessed": Part.recording,
    "recording.reviewed": Part.recording,  # a session's review page opened, or its media played (issue 12)
    "recording.deleted": Part.recording,  # retention deleted a file; the entry outlives it
    "session.notice_presented": Part.session,  # the rights and obligations notice (权利义务告知书)
    "session.notice_acknowledged": Part.session,
    "minutes.saved": Part.minutes,  # a revision, with its SHA-256
    "minutes.signed": Part.minutes,
    "minutes.locked": Part.minutes,
    "agreement.created": Part.agreement,
    "agreement.revised": Part.agreement,
    "agreement.signed": Part.agreement,
    "agreement.locked": Part.agreement,
    "confirmation.requested": Part.agreement,
    "confirmation.attempted": Part.agreement,
    "confirmation.delivered": Part.agreement,
    "confirmation.failed": Part.agreement,
    "export.requested": Part.evidence,
    "export.built": Part.evidence,
    "export.failed": Part.evidence,
    "export.downloaded": Part.evidence,
}


def check_entry_kind(kind: str) -> Part:
    """The part of the case an entry kind belongs to; ValueError for a kind nobody declared."""
    try:
        return ENTRY_KINDS[kind]
    except KeyError:
        raise ValueError(f"'{kind}' is not a declared case-log entry kind (server/domain/caselog.py)") from None


@dataclass(frozen=True)
class LogReader:
    """What one viewer may read of one case's log, decided once per request."""

    full: bool
    sessions: frozenset[str] = frozenset()  # sessions an invited viewer may read
    pids: frozenset[str] = frozenset()  # who they were in those sessions (chat addressed to them)

    def may_read(self, kind: str, session_id: str | None, actor: str, data: Mapping[str, Any]) -> bool:
        if self.full:
            return True
        # A stored kind no longer declared (renamed in a later version) stays in the chain: full
        # readers read it, and nobody else is shown what nobody decided they may see.
        part = ENTRY_KINDS.get(kind)
        if part is None:
            return False
        if part is Part.case:
            return True
        if (
            part in (Part.recording, Part.agreement, Part.evidence)
            or session_id is None
            or session_id not in self.sessions
        ):
            return False
        if part is Part.chat:
            to = data.get("to")
            return to is None or to in self.pids or _pid_of(actor) in self.pids
        return True


def _pid_of(actor: str) -> str | None:
    try:
        return Actor.parse(actor).pid
    except ValueError:
        return None


def reader_for(p: Principal, scope: CaseScope) -> LogReader | None:
    """What `p` may read of the case's log, or None when they may not read it at all."""
    if p.kind is not PrincipalKind.staff or not can_view_case(p, scope):
        return None  # parties and other link holders never read the log
    if p.staff_role is StaffRole.admin or can_manage_case(p, scope):
        return LogReader(full=True)
    if p.staff_role is StaffRole.reviewer and p.org_path is not None and in_subtree(scope.org_path, p.org_path):
        return LogReader(full=True)
    mine = [i for i in scope.invitations if i.account_id == p.account_id]
    return LogReader(
        full=False,
        sessions=frozenset(i.session_id for i in mine),
        pids=frozenset({f"i:{i.invitation_id}" for i in mine} | {f"a:{p.account_id}"}),
    )
