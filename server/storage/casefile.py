"""The case page's reads, across aggregates, within a statement budget.

The page shows a case, its parties, its sessions with their invitations, and what each
recorded session kept. It reads all of that in one transaction: one statement for the case
with its org, mediator and parties (`cases.load_case`), one for the sessions with their
invitations and whether each was ever recorded, and one per *recorded* session for its runs,
consents, segment count and download. `tests/pages/test_case_page_budget.py` counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select

from .base import Tx
from .invitations import InvitationRecord
from .models import Invitation, MediationSession, Recording, RecordingComposite, RecordingConsent, RecordingSegment
from .recordings import CompositeRecord, ConsentRecord, RunRecord
from .sessions import SessionRecord


@dataclass(frozen=True, slots=True)
class SessionFile:
    session: SessionRecord
    invitations: tuple[InvitationRecord, ...]  # oldest first
    recorded: bool  # a recording run was ever started


async def sessions_of_case(tx: Tx, case_id: str) -> list[SessionFile]:
    """A case's sessions in the order they are scheduled, each with its invitations (oldest
    first) and whether it was recorded: one statement."""
    recorded = exists().where(Recording.session_id == MediationSession.id).label("recorded")
    q = (
        select(MediationSession, Invitation, recorded)
        .outerjoin(Invitation, Invitation.session_id == MediationSession.id)
        .where(MediationSession.case_id == case_id)
        .order_by(MediationSession.scheduled_at, MediationSession.id, Invitation.created_at, Invitation.id)
    )
    files: dict[str, tuple[SessionRecord, list[InvitationRecord], bool]] = {}
    for session, invitation, was_recorded in (await tx.execute(q)).all():
        entry = files.setdefault(session.id, (SessionRecord.of(session), [], bool(was_recorded)))
        if invitation is not None:
            entry[1].append(InvitationRecord.of(invitation))
    return [SessionFile(s, tuple(invs), rec) for s, invs, rec in files.values()]


@dataclass(frozen=True, slots=True)
class RecordingFile:
    runs: tuple[RunRecord, ...]  # by start
    consents: tuple[ConsentRecord, ...]  # by answer time
    segments: int
    composite: CompositeRecord | None


async def recording_of_session(tx: Tx, session_id: str) -> RecordingFile:
    """What a session's recording kept: its runs, consent answers, number of segment files and
    the download's state: one statement (runs joined with their consents and the download)."""
    segments = (
        select(func.count()).select_from(RecordingSegment).where(RecordingSegment.session_id == session_id)
    ).scalar_subquery()
    q = (
        select(Recording, RecordingConsent, RecordingComposite, segments)
        .outerjoin(RecordingConsent, RecordingConsent.recording_id == Recording.id)
        .outerjoin(RecordingComposite, RecordingComposite.session_id == Recording.session_id)
        .where(Recording.session_id == session_id)
        .order_by(Recording.started_at, Recording.id)
    )
    runs: dict[str, RunRecord] = {}
    consents: dict[str, ConsentRecord] = {}
    composite: CompositeRecord | None = None
    count = 0
    row: Any
    for row in (await tx.execute(q)).all():
        run, consent, comp, count = row
        runs.setdefault(run.id, RunRecord.of(run))
        if consent is not None:
            consents.setdefault(consent.id, ConsentRecord.of(consent))
        if comp is not None and composite is None:
            composite = CompositeRecord.of(comp)
    return RecordingFile(
        tuple(runs.values()),
        tuple(sorted(consents.values(), key=lambda c: (c.at, c.id))),
        int(count or 0),
        composite,
    )
