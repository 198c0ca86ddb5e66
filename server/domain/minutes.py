"""The minutes (调解笔录) of a session: the document, its limits, who writes which section,
its canonical form and hash, and what changed between two revisions. Pure rules.

A document has these sections:

- `header`: filled in by the server from the case and the session (case number, date and
  time, online or the place, mediator, clerk, who took part with their roles). Read-only:
  whatever a client sends for it is ignored.
- `parties`: per party, `{party_id, side, name, claims, facts}` — what they ask for and the
  facts they state.
- `entries`: the record of the mediation, each `{id, speaker, text, at}`. `at` is the server
  time the entry refers to, in the protocol's form (ISO 8601, UTC, six digits of
  microseconds, e.g. `2026-12-05T09:15:05.000000+00:00`); review turns it into an offset in
  the recording, so it is kept to the microsecond, never rounded. `id` names the entry across
  revisions: a save may omit it, and an entry without one keeps the id of the current entry
  with the same `at` (clients that know entries by their `at`), or gets a new one.
- `expert_opinion`: text written only by the invited expert; `expert_opinion_by`
  (`{name, actor, at}` or null, read-only) says who wrote it and when: the server sets it.
- `result`: the outcome, as text.

Limits (a save beyond them is refused, never cut): every text at most 10,000 characters,
names and speakers at most 200, at most 50 parties and 2,000 entries, and the whole document
at most 200 KiB as canonical UTF-8 JSON, so that any document fits in one socket frame
(256 KiB). NUL characters are refused at the door (`inputs.parse`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from .access import CaseScope, Principal, can_manage_case, ensure_view_case
from .accounts import StaffRole
from .clock import wire_time
from .errors import Forbidden, ValidationFailed
from .grants import Grant, SessionRole, has_grant
from .orgs import in_subtree

MAX_TEXT = 10_000
MAX_NAME = 200
MAX_PARTIES = 50
MAX_ENTRIES = 2_000
MAX_DOCUMENT_BYTES = 200 * 1024

SECTIONS = ("header", "parties", "entries", "expert_opinion", "result")
EDITABLE = ("parties", "entries", "expert_opinion", "result")
# What each grant lets a role write: the mediator and the clerk everything but the expert's
# opinion; the expert only their opinion.
SECTIONS_OF_GRANT: dict[Grant, frozenset[str]] = {
    Grant.write_minutes: frozenset({"parties", "entries", "result"}),
    Grant.add_expert_opinion: frozenset({"expert_opinion"}),
}

Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]
EntryId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
# ISO 8601 with a zone and at most microseconds: anything finer could not be kept exactly.
_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")


class TooLarge(ValidationFailed):
    """The document is larger than the minutes may be (HTTP 413)."""

    code = "payload_too_large"
    http_status = 413


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class MinutesPartyIn(_In):
    party_id: Annotated[str, StringConstraints(max_length=36)] | None = None
    side: Annotated[str, StringConstraints(max_length=16)] = ""
    name: Name = ""
    claims: Text = ""
    facts: Text = ""


class MinutesEntryIn(_In):
    id: EntryId | None = Field(
        default=None, description="the client's id for the entry; given by the server if omitted"
    )
    speaker: Name = ""
    text: Text = ""
    at: str | None = Field(
        default=None,
        description="ISO 8601 with a time zone, at most microseconds; the server's time of the save if omitted",
    )

    @field_validator("at")
    @classmethod
    def _at(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _AT_RE.match(value):
            raise ValueError("must be ISO 8601 with a time zone and at most 6 fractional digits")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("is not a real date and time") from None
        return wire_time(parsed)


class MinutesIn(_In):
    """A save's document: the sections to write, in the shape a read returns. Omitted sections
    stay as they are; the read-only `header` and `expert_opinion_by` are ignored."""

    parties: list[MinutesPartyIn] | None = Field(default=None, max_length=MAX_PARTIES)
    entries: list[MinutesEntryIn] | None = Field(default=None, max_length=MAX_ENTRIES)
    expert_opinion: Text | None = None
    result: Text | None = None
    # Read-only, accepted so that what a read returns can be sent back as it is.
    header: Any = None
    expert_opinion_by: Any = None


def empty_document(header: Mapping[str, Any]) -> dict[str, Any]:
    """Revision 0: nothing written yet but the header, and one blank `parties` row per party of the case."""
    parties = [
        {"party_id": p.get("id"), "side": p.get("side", ""), "name": p.get("name", ""), "claims": "", "facts": ""}
        for p in header.get("parties") or []
    ]
    return {
        "header": dict(header),
        "parties": parties,
        "entries": [],
        "expert_opinion": "",
        "expert_opinion_by": None,
        "result": "",
    }


def canonical(document: Mapping[str, Any]) -> bytes:
    """The exact bytes a revision's SHA-256 is taken of: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def sha256_of(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


def writable_sections(role: SessionRole) -> frozenset[str]:
    """The sections `role` may write (empty: none)."""
    out: frozenset[str] = frozenset()
    for grant, sections in SECTIONS_OF_GRANT.items():
        if has_grant(role, grant):
            out |= sections
    return out


def staff_role_for_minutes(
    p: Principal, scope: CaseScope, session_id: str, invitation_roles: Mapping[str, SessionRole]
) -> SessionRole | None:
    """Staff over the REST API: the role they write a session's minutes in, or None to read only.

    Staff who manage the case act as its mediator; staff invited to this session (an expert, a
    clerk) act in their invitation's role; reviewers over the case's org and admins read. An
    expert invited to another session of the case reads nothing of this one's minutes
    (as in the case log). NotFound for a case outside the caller's scope."""
    ensure_view_case(p, scope)
    if can_manage_case(p, scope):
        return SessionRole.mediator
    for inv in scope.invitations:
        if inv.account_id == p.account_id and inv.session_id == session_id and inv.invitation_id in invitation_roles:
            return invitation_roles[inv.invitation_id]
    if p.staff_role is StaffRole.reviewer and p.org_path is not None and in_subtree(scope.org_path, p.org_path):
        return None
    raise Forbidden("only the case's mediators, its reviewers and those invited to this session read its minutes")


def ensure_may_write(role: SessionRole | None) -> frozenset[str]:
    """The sections `role` may write; Forbidden when it may write none (parties, observers)."""
    if role is None:
        raise Forbidden("you may read these minutes but not write them", grant=Grant.write_minutes.value)
    sections = writable_sections(role)
    if not sections:
        raise Forbidden(f"role '{role.value}' may read the minutes but not write them", grant=Grant.write_minutes.value)
    return sections


def apply_save(
    current: Mapping[str, Any],
    save: MinutesIn,
    *,
    role: SessionRole | None,
    author: Mapping[str, str],
    now: datetime,
    new_id: Callable[[], str],
) -> dict[str, Any]:
    """The document after `role` saves `save` over `current` (the header is the caller's to set).

    Sections the save omits stay as they are. A section it changes that the role may not write
    is refused (Forbidden, `fields` naming it), never dropped in silence. Entries without an id
    get one from `new_id`, entries without `at` get `now`; the expert's opinion gets `author`
    and `now` when its text changes."""
    allowed = ensure_may_write(role)
    doc = {k: current.get(k) for k in (*SECTIONS, "expert_opinion_by")}
    proposed: dict[str, Any] = {}
    if save.parties is not None:
        proposed["parties"] = [x.model_dump() for x in save.parties]
    if save.entries is not None:
        proposed["entries"] = _entries(save.entries, current.get("entries") or [], now, new_id)
    if save.result is not None:
        proposed["result"] = save.result
    if save.expert_opinion is not None:
        proposed["expert_opinion"] = save.expert_opinion
    touched = {k for k, v in proposed.items() if v != current.get(k)}
    refused = sorted(touched - allowed)
    if refused:
        raise Forbidden(
            f"role '{role.value if role else 'none'}' may not write {', '.join(refused)} of the minutes",
            fields={k: "not_your_section" for k in refused},
        )
    doc.update({k: proposed[k] for k in touched})
    if "expert_opinion" in touched:
        doc["expert_opinion_by"] = {**author, "at": wire_time(now)} if doc["expert_opinion"] else None
    check_size(doc)
    return doc


def _entries(
    entries: list[MinutesEntryIn], current: list[dict[str, Any]], now: datetime, new_id: Callable[[], str]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    by_at: dict[str, str] = {}
    for old in current:
        by_at.setdefault(old["at"], old["id"])
    taken = {old["id"] for old in current}
    for i, e in enumerate(entries):
        entry_id = e.id
        if entry_id is None:
            kept = by_at.pop(e.at, None) if e.at else None
            entry_id = kept if kept is not None and kept not in seen else _fresh(new_id, taken | seen.keys())
        if entry_id in seen:
            raise ValidationFailed(
                f"entries.{i}.id: '{entry_id}' is already the id of entry {seen[entry_id]}",
                fields={f"entries.{i}.id": "duplicate"},
            )
        seen[entry_id] = i
        out.append({"id": entry_id, "speaker": e.speaker, "text": e.text, "at": e.at or wire_time(now)})
    return out


def _fresh(new_id: Callable[[], str], taken: set[str]) -> str:
    """A new entry id that names no entry of this revision or the last one."""
    while (entry_id := new_id()) in taken:
        pass
    return entry_id


def check_size(document: Mapping[str, Any]) -> None:
    size = len(canonical(document))
    if size > MAX_DOCUMENT_BYTES:
        raise TooLarge(
            f"the minutes would be {size} bytes; at most {MAX_DOCUMENT_BYTES} are allowed",
            fields={"document": "too_large"},
        )


CHANGES_LISTED = 100  # entry ids per list in a room event's `changes`; the counts are always whole


def brief(ch: Mapping[str, Any], limit: int = CHANGES_LISTED) -> dict[str, Any]:
    """`changes` for a room event, which every reader receives and the room keeps for catching
    up: the sections, and the entry ids of each list up to `limit`, with the lists' full sizes
    (`counts`). Readers fetch the document itself (`minutes.get`)."""
    entries = ch.get("entries") or {}
    lists = {k: list(entries.get(k) or []) for k in ("added", "removed", "changed")}
    return {
        "sections": list(ch.get("sections") or []),
        "entries": {k: v[:limit] for k, v in lists.items()},
        "counts": {k: len(v) for k, v in lists.items()},
    }


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from `old` to `new`: the sections, and entries added, removed or changed by id."""
    sections = [s for s in SECTIONS if old.get(s) != new.get(s)]
    before = {e["id"]: e for e in old.get("entries") or []}
    after = {e["id"]: e for e in new.get("entries") or []}
    return {
        "sections": sections,
        "entries": {
            "added": [i for i in after if i not in before],
            "removed": [i for i in before if i not in after],
            "changed": [i for i in after if i in before and before[i] != after[i]],
        },
    }
