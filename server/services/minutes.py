"""The minutes (调解笔录) of a session: read, save by revision, history, PDF.

Saves are optimistic: each names the revision it was made on (`base_revision`) and carries a
client `save_id`. A save on an old revision is refused with a `MinutesConflict` that says
the current revision and what changed since the base; nothing is ever overwritten in silence.
Sending the same save again (same save id, e.g. after a dropped connection) returns what the
first one made. Each revision is written, with its SHA-256 in the case log and the `Actor`
who made it, before anyone is told.

Who may read and write is decided by `server.domain.minutes`: over the socket or a join link
by the session role, over the REST API for staff by the case's access rules.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2

from server.domain import minutes as rules
from server.domain.access import Principal, PrincipalKind
from server.domain.actors import Actor
from server.domain.clock import LOCAL_TZ, wire_time
from server.domain.errors import Conflict, NotFound
from server.domain.grants import Grant, SessionRole, has_grant
from server.storage import cases as stored_cases
from server.storage import invitations as stored_invitations
from server.storage import minutes as stored
from server.storage.base import Tx
from server.storage.minutes import MinutesRevisionRecord, RevisionSummary

from . import eventlog, names, pdf, signatures
from .core import Core


@dataclass(frozen=True)
class Editor:
    """Who reads or writes a session's minutes: the session role they act in (None: read only),
    the actor the case log names, and the name their expert opinion is signed with."""

    case_id: str
    session_id: str
    role: SessionRole | None
    actor: Actor
    name: str


@dataclass(frozen=True)
class MinutesView:
    """One revision of a session's minutes (revision 0: nothing saved yet)."""

    case_id: str
    session_id: str
    revision: int
    sha256: str
    document: dict[str, Any]
    actor: str | None
    at: datetime | None

    def public(self) -> dict[str, Any]:
        """The shape every reader gets (REST and socket), and that a save may send back as it is."""
        return {
            "session_id": self.session_id,
            "revision": self.revision,
            "sha256": self.sha256,
            "saved_by": self.actor,
            "saved_at": wire_time(self.at) if self.at else None,
            "document": self.document,
        }


@dataclass(frozen=True)
class Saved:
    minutes: MinutesView
    created: bool  # False: a resend of a save already made, or a save that changed nothing
    changes: dict[str, Any]


class MinutesConflict(Conflict):
    """A save made on a revision that is no longer the current one."""

    def __init__(self, base_revision: int, current: MinutesView, changes: dict[str, Any]):
        super().__init__(
            f"the minutes are at revision {current.revision}; this save was made on revision {base_revision}",
            current_revision=current.revision,
        )
        self.base_revision = base_revision
        self.current = current
        self.changes = changes

    def body(self) -> dict[str, Any]:
        """What the client needs to merge: the current revision, what changed since its base, and the document."""
        return {
            "code": self.code,
            "message": self.message,
            "base_revision": self.base_revision,
            "current_revision": self.current.revision,
            "changes": self.changes,
            "current": self.current.public(),
        }


# ---- who -------------------------------------------------------------------------------------


def editor_of_participant(case_id: str, session_id: str, role: SessionRole, actor: Actor, name: str) -> Editor:
    """A participant of the live session (a socket binding or a join link): their session role decides."""
    return Editor(case_id, session_id, role, actor, name)


async def editor_for(core: Core, p: Principal, session_id: str) -> Editor:
    """The caller of the REST API: a join-link holder in their session's role, staff by the case's rules.
    NotFound for a session outside the caller's reach."""
    async with core.db.read() as tx:
        session = await stored.subject(tx, session_id)
        if p.kind is PrincipalKind.invitation:
            if p.session_id != session_id or p.session_role is None:
                raise NotFound("session not found")
            return editor_of_participant(session.case_id, session_id, p.session_role, Actor.of(p), p.display_name)
        case = await stored_cases.load_case(tx, session.case_id)
        scope = await stored_cases.scope(tx, case, core.clock.now())
        invitations = await stored_invitations.invitations_of_case(tx, case.id)
    roles = {i.id: SessionRole(i.role) for i in invitations if i.session_id == session_id}
    try:
        role = rules.staff_role_for_minutes(p, scope, session_id, roles)
    except NotFound:
        raise NotFound("session not found") from None
    return Editor(session.case_id, session_id, role, Actor.of(p), p.display_name)


def _ensure_read(ed: Editor) -> None:
    if ed.role is not None and not has_grant(ed.role, Grant.read_minutes):
        rules.ensure_may_write(None)  # every role reads today; a role that may not is refused here


# ---- reading ---------------------------------------------------------------------------------


async def header(tx: Tx, case_id: str, session_id: str) -> dict[str, Any]:
    """The header of the minutes, from what the server knows: the case, the session, who was
    invited as clerk, and who actually joined (from the case log), in the order they came."""
    session = await stored.subject(tx, session_id)
    case = await stored_cases.load_case(tx, case_id)
    invitations = await stored_invitations.invitations_of_case(tx, case_id)
    clerks = [
        i.display_name
        for i in invitations
        if i.session_id == session_id and i.role == SessionRole.clerk.value and i.revoked_at is None
    ]
    joined: dict[str, dict[str, str]] = {}
    for e in await eventlog.entries(tx, case_id, kinds=("session.join",)):
        pid = e.data.get("pid")
        if e.session_id == session_id and isinstance(pid, str) and pid not in joined:
            joined[pid] = {"name": str(e.data.get("name", "")), "role": str(e.data.get("role", ""))}
    return {
        "case_number": case.number,
        "case_title": case.title,
        "org": case.org.name,
        "session_title": session.title,
        "scheduled_at": wire_time(session.scheduled_at),
        "started_at": wire_time(session.started_at) if session.started_at else None,
        "ended_at": wire_time(session.ended_at) if session.ended_at else None,
        "mode": "online" if session.place is None else "in_person",
        "place": session.place,
        "mediator": case.mediator.display_name if case.mediator else None,
        "clerks": clerks,
        "parties": [{"id": x.id, "side": x.side, "name": x.name, "agent_name": x.agent_name} for x in case.parties],
        "participants": list(joined.values()),
    }


def _view(rec: MinutesRevisionRecord) -> MinutesView:
    return MinutesView(rec.case_id, rec.session_id, rec.revision, rec.sha256, rec.document, rec.actor, rec.at)


async def _current_in(tx: Tx, case_id: str, session_id: str) -> MinutesView:
    rec = await stored.current(tx, session_id)
    if rec is not None:
        return _view(rec)
    doc = rules.empty_document(await header(tx, case_id, session_id))
    return MinutesView(case_id, session_id, 0, rules.sha256_of(doc), doc, None, None)


async def current(core: Core, ed: Editor) -> MinutesView:
    """The current minutes: the latest revision, or revision 0 (an empty document with its header)."""
    _ensure_read(ed)
    async with core.db.read() as tx:
        return await _current_in(tx, ed.case_id, ed.session_id)


async def revisions(core: Core, ed: Editor) -> tuple[list[RevisionSummary], dict[str, str]]:
    """Every revision, oldest first: number, SHA-256, who saved it and when; and the names of
    the people who saved them, by actor."""
    _ensure_read(ed)
    async with core.db.read() as tx:
        rows = await stored.revisions(tx, ed.session_id)
        return rows, await names.actor_names(tx, (r.actor for r in rows))


async def revision(core: Core, ed: Editor, number: int) -> MinutesView:
    """One revision as it was saved (0: the empty document as it would read now)."""
    _ensure_read(ed)
    async with core.db.read() as tx:
        return await _revision_in(tx, ed.case_id, ed.session_id, number)


async def _revision_in(tx: Tx, case_id: str, session_id: str, number: int) -> MinutesView:
    if number == 0:
        doc = rules.empty_document(await header(tx, case_id, session_id))
        return MinutesView(case_id, session_id, 0, rules.sha256_of(doc), doc, None, None)
    return _view(await stored.get_revision(tx, session_id, number))


# ---- saving ----------------------------------------------------------------------------------


async def save(core: Core, ed: Editor, *, base_revision: int, save_id: str, body: rules.MinutesIn) -> Saved:
    """Save a new revision made on `base_revision`. MinutesConflict when that is not the current
    one; Forbidden for a role that may not write what the save changes; the same result again for
    a save id already used."""
    rules.ensure_may_write(ed.role)
    now = core.clock.now()
    try:
        async with core.db.write() as tx:
            done = await stored.by_save_id(tx, ed.session_id, save_id)
            if done is not None:
                return Saved(_view(done), created=False, changes=_no_changes())
            cur = await _current_in(tx, ed.case_id, ed.session_id)
            if cur.revision != base_revision:
                raise await _conflict(tx, ed, base_revision, cur)
            doc = rules.apply_save(
                cur.document,
                body,
                role=ed.role,
                author={"name": ed.name, "actor": str(ed.actor)},
                now=now,
                new_id=lambda: uuid.uuid4().hex,
            )
            if all(doc[s] == cur.document.get(s) for s in rules.EDITABLE):
                return Saved(cur, created=False, changes=_no_changes())  # nothing to keep: no revision
            doc["header"] = await header(tx, ed.case_id, ed.session_id)
            rules.check_size(doc)
            sha = rules.sha256_of(doc)
            signers = await signatures.signers_to_store(tx, await stored_cases.load_case(tx, ed.case_id), ed.session_id)
            rec = await stored.insert_revision(
                tx,
                case_id=ed.case_id,
                session_id=ed.session_id,
                revision=cur.revision + 1,
                base_revision=base_revision,
                save_id=save_id,
                document=doc,
                sha256=sha,
                actor=str(ed.actor),
                at=now,
                signers=signers,
            )
            await eventlog.append(
                tx,
                case_id=ed.case_id,
                session_id=ed.session_id,
                kind="minutes.saved",
                actor=ed.actor,
                at=now,
                data={"revision": rec.revision, "base_revision": base_revision, "sha256": sha, "save_id": save_id},
            )
            return Saved(_view(rec), created=True, changes=rules.changes(cur.document, doc))
    except stored.DuplicateSave:
        # The same save raced in on another connection, and the first one won.
        async with core.db.read() as tx:
            done = await stored.by_save_id(tx, ed.session_id, save_id)
        if done is None:
            raise
        return Saved(_view(done), created=False, changes=_no_changes())
    except stored.RevisionTaken:
        # Another save took the next revision first: this one is now on an old revision.
        async with core.db.read() as tx:
            raise await _conflict(tx, ed, base_revision, await _current_in(tx, ed.case_id, ed.session_id)) from None


def _no_changes() -> dict[str, Any]:
    return {"sections": [], "entries": {"added": [], "removed": [], "changed": []}}


async def _conflict(tx: Tx, ed: Editor, base_revision: int, cur: MinutesView) -> MinutesConflict:
    if 0 <= base_revision < cur.revision:
        base = (await _revision_in(tx, ed.case_id, ed.session_id, base_revision)).document
    else:  # a base that never existed: everything is new to that client
        base = rules.empty_document(cur.document.get("header") or {})
    return MinutesConflict(base_revision, cur, rules.changes(base, cur.document))


# ---- the PDF ---------------------------------------------------------------------------------


def documents(core: Core) -> jinja2.Environment:
    """The templates of printed documents (web/templates/documents), autoescaped."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(core.settings.web_dir / "templates" / "documents"),
        autoescape=True,  # everything anyone typed is text in the PDF, never markup
        undefined=jinja2.StrictUndefined,
    )


ROLE_NAMES = {
    "mediator": "调解员",
    "applicant": "申请人",
    "respondent": "被申请人",
    "agent": "代理人",
    "expert": "专家",
    "observer": "旁听人员",
    "clerk": "记录人",
}
SIDE_NAMES = {"applicant": "申请人", "respondent": "被申请人"}


def minutes_html(core: Core, view: MinutesView) -> str:
    """The minutes as an HTML document (what the PDF is laid out from)."""
    return (
        documents(core)
        .get_template("minutes.html")
        .render(
            m=view.document,
            revision=view.revision,
            sha256=view.sha256,
            saved_at=wire_time(view.at) if view.at else None,
            roles=ROLE_NAMES,
            sides=SIDE_NAMES,
            china_time=_china_time,
        )
    )


def _china_time(text: str | None) -> str:
    """A protocol timestamp as Beijing time for people to read (the stored value stays exact)."""
    if not text:
        return ""
    from_iso = datetime.fromisoformat(text)
    return from_iso.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


async def minutes_pdf(core: Core, ed: Editor, number: int | None = None) -> tuple[MinutesView, bytes]:
    """The current minutes, or revision `number` as it was saved, printed as a PDF."""
    view = await current(core, ed) if number is None else await revision(core, ed, number)
    return view, await pdf.render(minutes_html(core, view))
