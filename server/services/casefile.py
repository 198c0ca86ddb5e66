"""The case page's file: a case with everything its page shows, read in one transaction.

`GET /cases/{id}` used to open thirteen read transactions (the case three times, its access
twice, three reads per session whether recorded or not). This reads the case, then its
sessions with their invitations, then each recorded session's recording, and decides access
from what it read with the domain's rules: see `server/storage/casefile.py` for the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recordings import composite
from server.domain.access import Principal
from server.domain.accounts import StaffRole
from server.storage import casefile
from server.storage import cases as stored_cases
from server.storage.accounts import AccountRecord
from server.storage.casefile import RecordingFile, SessionFile

from . import accounts, invitations
from .cases import CaseAccess, access_to
from .core import Core
from .recording import is_done


@dataclass(frozen=True)
class CaseFile:
    access: CaseAccess
    sessions: list[SessionFile]
    invitations: dict[str, list[invitations.Listed]]  # by session id, oldest first
    recordings: dict[str, RecordingFile | None]  # by session id; None: never recorded, or not for this viewer
    invitable: list[AccountRecord]  # experts, then mediators, the viewer may invite (managers only)


async def case_file(core: Core, p: Principal, case_id: str) -> CaseFile:
    """Everything the case page shows of a case the caller may see; not found otherwise."""
    now = core.clock.now()
    async with core.db.read() as tx:
        case = await stored_cases.load_case(tx, case_id)
        sessions = await casefile.sessions_of_case(tx, case_id)
        valid = (
            (i.account_id, i.session_id, i.id)
            for s in sessions
            for i in s.invitations
            if i.account_id is not None and i.revoked_at is None and i.expires_at > now
        )
        access = access_to(p, case, stored_cases.scope_from(case, valid))
        recordings: dict[str, RecordingFile | None] = {}
        for s in sessions:
            shown = s.recorded and access.can_view_recordings
            recordings[s.session.id] = await casefile.recording_of_session(tx, s.session.id) if shown else None
        invitable: list[AccountRecord] = []
        if access.can_manage:
            invitable = await accounts.invitable_in(tx, p, (StaffRole.expert, StaffRole.mediator))
    return CaseFile(
        access=access,
        sessions=sessions,
        invitations={
            s.session.id: [invitations.listed(core, i, access.can_see_join_links) for i in s.invitations]
            for s in sessions
        },
        recordings=recordings,
        invitable=invitable,
    )


def recording_view(rec: RecordingFile) -> dict[str, Any]:
    """What the case page shows of a recorded session: files, consent answers, interruptions and
    the download's state."""
    state = composite.view(rec.composite)
    return {
        "runs": [{"id": r.id, "status": r.status} for r in rec.runs],
        "segments": rec.segments,
        "consents": [{"name": c.name, "decision": c.decision, "role": c.role} for c in rec.consents],
        "composite": state,
        "interrupted": any(r.status == "interrupted" for r in rec.runs),
        "done": is_done(state),
    }
