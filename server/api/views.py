"""How domain objects look on the wire (and to templates). Personal data is masked here."""

from __future__ import annotations

from typing import Any

from server.domain.cases import CASE_TRANSITIONS, CaseStatus, mask_id_number, mask_phone
from server.domain.chain import entry_time
from server.storage.accounts import AccountRecord, OrgRecord
from server.storage.caselog import LogEntry
from server.storage.cases import CaseRecord, PartyRecord
from server.storage.invitations import InvitationRecord
from server.storage.sessions import SessionRecord


def org_view(o: OrgRecord) -> dict[str, Any]:
    return {
        "id": o.id,
        "name": o.name,
        "code": o.code,
        "kind": o.kind,
        "level": o.level,
        "parent_id": o.parent_id,
        "created_at": o.created_at.isoformat(),
    }


def account_view(a: AccountRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "username": a.username,
        "display_name": a.display_name,
        "role": a.role,
        "org_id": a.org_id,
        "org_name": a.org.name,
        "phone": mask_phone(a.phone),
        "active": a.active,
    }


def party_view(p: PartyRecord) -> dict[str, Any]:
    return {
        "id": p.id,
        "side": p.side,
        "name": p.name,
        "phone": mask_phone(p.phone),
        "id_number": mask_id_number(p.id_number),
        "agent_name": p.agent_name,
        "agent_phone": mask_phone(p.agent_phone),
    }


def case_summary(c: CaseRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "number": c.number,
        "title": c.title,
        "status": c.status,
        "dispute_type": c.dispute_type,
        "source": c.source,
        "org_id": c.org_id,
        "org_name": c.org.name,
        "mediator_id": c.mediator_id,
        "mediator_name": c.mediator.display_name if c.mediator else None,
        "parties": [{"side": p.side, "name": p.name} for p in c.parties],
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


def case_view(c: CaseRecord, *, can_manage: bool) -> dict[str, Any]:
    return {
        **case_summary(c),
        "summary": c.summary,
        "parties": [party_view(p) for p in c.parties],
        "can_manage": can_manage,
        "allowed_transitions": [s.value for s in CASE_TRANSITIONS[CaseStatus(c.status)]] if can_manage else [],
    }


def session_view(s: SessionRecord) -> dict[str, Any]:
    return {
        "id": s.id,
        "case_id": s.case_id,
        "title": s.title,
        "status": s.status,
        "scheduled_at": s.scheduled_at.isoformat(),
        "started_at": s.started_at.isoformat() if s.started_at else None,
        "ended_at": s.ended_at.isoformat() if s.ended_at else None,
    }


def invitation_view(i: InvitationRecord, *, link: str | None, now: Any) -> dict[str, Any]:
    state = "revoked" if i.revoked_at else ("expired" if now >= i.expires_at else "active")
    return {
        "id": i.id,
        "session_id": i.session_id,
        "case_id": i.case_id,
        "role": i.role,
        "party_id": i.party_id,
        "account_id": i.account_id,
        "display_name": i.display_name,
        "direct_entry": i.direct_entry,
        "expires_at": i.expires_at.isoformat(),
        "state": state,
        "revoked_at": i.revoked_at.isoformat() if i.revoked_at else None,
        "link": link if state == "active" else None,
        "qr_url": f"/api/v1/invitations/{i.id}/qr.png" if state == "active" else None,
    }


def event_view(e: LogEntry, *, readable: bool) -> dict[str, Any]:
    """An entry exactly as hashed (docs/api.md, "Verifying the case log"), or redacted: its
    place in the chain without its content, for a viewer who may not read it."""
    head = {
        "case_id": e.case_id,
        "seq": e.seq,
        "at": entry_time(e.at),
        "kind": e.kind,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }
    if not readable:
        return {**head, "redacted": True}
    return {**head, "actor": e.actor, "session_id": e.session_id, "data": e.data, "redacted": False}
