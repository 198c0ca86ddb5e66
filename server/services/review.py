"""Reviewing a recorded session: everything the review page shows, and its media through
short-lived URLs bound to the viewer's sign-in, every view in the case log.

Who may review, what each sees and the URLs' tokens are the domain's (`server.domain.review`);
the per-track files are `recordings.tracks`'. This service reads the session's record in one
transaction, makes the tracks, signs their URLs and writes what the case log must keep:

- `recording.reviewed` when someone opens a session's review (`data`: how many tracks);
- `recording.accessed` for each file they play (`data`: `file` (the track id), `pid`, `kind`,
  `sha256` of the file served, the first `range` asked for);
- a refused attempt — outside the viewer's reach, a role that may not watch, a media URL that
  expired or belongs to another sign-in — as the same kind with `refused` (the reason), so that
  the case's access history shows it beside the views. A URL this server never issued names no
  case: it goes to the server's log (`heshi.audit`) only.

One person's same outcome for the same file (or page) within `VIEWING_WINDOW` is one entry,
decided from the log itself, so that every node agrees and a player's range requests are not
each an entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recordings import tracks as track_files
from server.domain.access import Principal
from server.domain.actors import Actor, ActorKind
from server.domain.clock import wire_time
from server.domain.errors import DomainError, Forbidden, NotFound
from server.domain.review import (
    MEDIA_URL_TTL,
    TIMELINE,
    VIEWING_WINDOW,
    MediaRefusal,
    MediaRefused,
    MediaTokens,
    RecordingScope,
    Review,
    Viewing,
    event_details,
    is_new_viewing,
    review_for,
)
from server.storage import cases as stored_cases
from server.storage import minutes as stored_minutes
from server.storage import review as stored
from server.storage import sessions as stored_sessions
from server.storage.base import Tx
from server.storage.cases import CaseRecord
from server.storage.review import ReviewSegment
from server.storage.sessions import SessionRecord

from . import eventlog, names
from .core import Core

log = logging.getLogger("heshi.review")
audit = logging.getLogger("heshi.audit")

REVIEWED = "recording.reviewed"
ACCESSED = "recording.accessed"
BUILDS_AT_ONCE = 2  # tracks made at once for one page (ffmpeg copies; the disk is the limit)
MEDIA_PATH = "/api/v1/media/"


@dataclass(frozen=True)
class Viewer:
    """Who is asking, and the secret of the browser session they are signed in with (the
    cookie's value), to which their media URLs are bound."""

    principal: Principal
    sign_in: str

    @property
    def actor(self) -> Actor:
        return Actor.of(self.principal)


@dataclass(frozen=True)
class MediaFile:
    """A track's file, to be served with Range support."""

    path: Path
    content_type: str
    filename: str


@dataclass(frozen=True)
class _Context:
    session: SessionRecord
    case: CaseRecord
    review: Review


class TrackUnavailable(DomainError):
    """A track's file could not be made here (ffmpeg failed, the disk): the server's trouble, not the request's."""

    code = "unavailable"
    http_status = 503


class _SameViewing(Exception):
    """Raised inside the write transaction to take back an entry a concurrent request made redundant."""


# ---- whom ----------------------------------------------------------------------------------------


async def _context(core: Core, viewer: Viewer, session_id: str, *, file: str | None, kind: str) -> _Context:
    """The session and what the viewer sees of it; a refusal is logged in the case's log first."""
    async with core.db.read() as tx:
        session = await stored_sessions.load_session(tx, session_id)  # NotFound: names no case, nothing to log
        case = await stored_cases.load_case(tx, session.case_id)
        scope = RecordingScope(
            await stored_cases.scope(tx, case, core.clock.now()),
            session.id,
            await stored.parties_see_recordings(tx, case.org_id),
        )
    try:
        return _Context(session, case, review_for(viewer.principal, scope))
    except (NotFound, Forbidden) as exc:
        reason = "not_found" if isinstance(exc, NotFound) else "forbidden"
        await _log_once(core, case.id, session.id, viewer.actor, kind, {"file": file, "refused": reason})
        raise


@dataclass(frozen=True)
class ReviewPage:
    """What the review page says before its script has loaded the review."""

    session_id: str
    session_title: str
    case_id: str
    case_number: str
    case_title: str
    started_at: datetime | None
    ended_at: datetime | None
    full: bool  # a full reader (staff): the page links back to the case


async def may_review(core: Core, viewer: Viewer, session_id: str) -> ReviewPage:
    """The page's heading, or what the review would raise (a refusal is logged)."""
    ctx = await _context(core, viewer, session_id, file=None, kind=REVIEWED)
    s, c = ctx.session, ctx.case
    return ReviewPage(s.id, s.title, c.id, c.number, c.title, s.started_at, s.ended_at, ctx.review.full)


# ---- the case log ------------------------------------------------------------------------------


async def _log_once(core: Core, case_id: str, session_id: str, actor: Actor, kind: str, data: dict[str, Any]) -> bool:
    """Append `kind` with `data` unless this person had the same outcome for the same file within
    VIEWING_WINDOW (domain.review.is_new_viewing). Returns whether it was appended."""
    now = core.clock.now()
    who = str(actor)
    file, refused = data.get("file"), data.get("refused")

    async def earlier(tx: Tx, before_seq: int | None = None) -> list[Viewing]:
        rows = await stored.viewings(
            tx, case_id, session_id, kind, who, since=now - VIEWING_WINDOW, before_seq=before_seq
        )
        return [Viewing(at, d) for at, d in rows]

    try:
        async with core.db.write() as tx:
            # Most of a player's requests end here, without taking the case log's lock.
            if not is_new_viewing(await earlier(tx), now, file, refused):
                return False
            entry = await eventlog.append(
                tx, case_id=case_id, session_id=session_id, kind=kind, actor=actor, at=now, data=data
            )
            # Appending took the log's lock: what a concurrent request appended first is visible now.
            if not is_new_viewing(await earlier(tx, entry.seq), now, file, refused):
                raise _SameViewing
    except _SameViewing:
        return False
    return True


# ---- the review ----------------------------------------------------------------------------------


async def review(core: Core, viewer: Viewer, session_id: str) -> dict[str, Any]:
    """Everything the review page shows of a session, with media URLs for this viewer; the
    opening is logged as `recording.reviewed`."""
    ctx = await _context(core, viewer, session_id, file=None, kind=REVIEWED)
    record = await _read(core, ctx)
    built = await _make_tracks(core, ctx, record.segments)
    await _log_once(core, ctx.case.id, ctx.session.id, viewer.actor, REVIEWED, {"file": None, "tracks": len(built)})
    expires = core.clock.now() + MEDIA_URL_TTL
    tokens = MediaTokens(core.settings.secret_key)
    people = record.people
    track_views = [_track_view(t, people, ctx.session.id, viewer, tokens, expires) for t in built]
    chat = [
        _message_view(m, people, record.recipients)
        for m in record.chat
        if ctx.review.may_read_chat(m.sender_pid, m.recipient_pid)
    ]
    events = [_event_view(e, people, record.names) for e in record.events if ctx.review.shows_event(e.kind, e.data)]
    origin, end = _bounds(ctx.session, built, [*events, *chat])
    return {
        "session": {
            "id": ctx.session.id,
            "title": ctx.session.title,
            "status": ctx.session.status,
            "scheduled_at": wire_time(ctx.session.scheduled_at),
            "started_at": wire_time(ctx.session.started_at) if ctx.session.started_at else None,
            "ended_at": wire_time(ctx.session.ended_at) if ctx.session.ended_at else None,
            "case_id": ctx.case.id,
            "case_number": ctx.case.number,
            "case_title": ctx.case.title,
        },
        "origin": wire_time(origin) if origin is not None else None,
        "end": wire_time(end) if end is not None else None,
        "viewer": {"full": ctx.review.full, "pid": ctx.review.pid},
        "participants": [{"pid": pid, **info} for pid, info in people.items()],
        "tracks": track_views,
        "urls_expire_at": wire_time(expires),
        "chat": chat,
        "minutes": record.minutes,
        "events": events,
    }


async def media_urls(core: Core, viewer: Viewer, session_id: str) -> dict[str, Any]:
    """Fresh URLs of the session's tracks (a page playing for longer than MEDIA_URL_TTL); not a
    new opening of the review, so not logged as one."""
    ctx = await _context(core, viewer, session_id, file=None, kind=REVIEWED)
    async with core.db.read() as tx:
        segments = await stored.segments(tx, ctx.session.id)
    expires = core.clock.now() + MEDIA_URL_TTL
    tokens = MediaTokens(core.settings.secret_key)
    keys = sorted({(s.pid, s.kind) for s in segments})
    return {
        "urls_expire_at": wire_time(expires),
        "tracks": [
            {
                "id": (tid := track_files.track_id(ctx.session.id, pid, kind)),
                "url": _url(tokens, ctx, tid, viewer, expires),
            }
            for pid, kind in keys
        ],
    }


def _url(tokens: MediaTokens, ctx: _Context, track_id: str, viewer: Viewer, expires: datetime) -> str:
    return MEDIA_PATH + tokens.sign(ctx.session.id, track_id, viewer.sign_in, expires)


@dataclass(frozen=True)
class _Record:
    segments: list[ReviewSegment]
    chat: list[Any]
    events: list[Any]
    people: dict[str, dict[str, str]]
    names: dict[str, str]
    minutes: dict[str, Any]
    recipients: dict[str, str]  # names of people written to who are not among `people`


async def _read(core: Core, ctx: _Context) -> _Record:
    """The session's segments, chat, events and minutes, and who the people in them are, in one
    transaction."""
    async with core.db.read() as tx:
        segments = await stored.segments(tx, ctx.session.id)
        chat = await stored.chat(tx, ctx.session.id)
        events = await stored.session_entries(tx, ctx.case.id, ctx.session.id, TIMELINE)
        current = await stored_minutes.current(tx, ctx.session.id)
        people = _people(events, segments, chat)
        pids = set(people) | {m.recipient_pid for m in chat if m.recipient_pid}
        actors = {e.actor for e in events} | {a for pid in pids if (a := _actor_of_pid(pid)) is not None}
        known = await names.actor_names(tx, actors)
    for pid, info in people.items():
        actor = _actor_of_pid(pid)
        if not info.get("name") and actor is not None and actor in known:
            info["name"] = known[actor]
    # Someone a private message was sent to who never came (or whose join is not on record).
    recipients = {pid: known[a] for pid in pids if pid not in people and (a := _actor_of_pid(pid)) in known}
    document = current.document if current is not None else {}
    entries = [
        {"id": e.get("id"), "speaker": e.get("speaker", ""), "text": e.get("text", ""), "at": e.get("at")}
        for e in document.get("entries", [])
        if isinstance(e, dict)
    ]
    minutes = {
        "revision": current.revision if current is not None else 0,
        "sha256": current.sha256 if current is not None else None,
        "saved_at": wire_time(current.at) if current is not None else None,
        "entries": entries,
    }
    return _Record(segments, chat, events, people, known, minutes, recipients)


def _actor_of_pid(pid: str) -> str | None:
    """The case log's actor behind a participant id (`a:<account>`, `i:<invitation>`)."""
    kind, _, ident = pid.partition(":")
    try:
        if kind == "a":
            return str(Actor.account(ident))
        if kind == "i":
            return str(Actor.invitation(ident))
    except ValueError:
        return None
    return None


def _people(events: Sequence[Any], segments: Sequence[ReviewSegment], chat: Sequence[Any]) -> dict[str, dict[str, str]]:
    """Everyone who took part, by pid, in the order they came: the name and role the room knew
    them by (their `session.join` entries), else what their chat messages say."""
    people: dict[str, dict[str, str]] = {}
    for e in events:
        pid = e.data.get("pid")
        if e.kind == "session.join" and isinstance(pid, str) and pid not in people:
            people[pid] = {"name": str(e.data.get("name") or ""), "role": str(e.data.get("role") or "")}
    for m in chat:
        people.setdefault(m.sender_pid, {"name": m.sender_name, "role": m.sender_role})
    for s in segments:
        people.setdefault(s.pid, {"name": "", "role": ""})
    return people


async def _make_tracks(core: Core, ctx: _Context, segments: list[ReviewSegment]) -> list[track_files.Track | _Failed]:
    """Every track of the session, made if needed, at most BUILDS_AT_ONCE at a time. A track
    that cannot be made is reported as such; the rest of the page still works."""
    keys: list[tuple[str, str]] = []
    for s in segments:
        if (s.pid, s.kind) not in keys:
            keys.append((s.pid, s.kind))
    gate = asyncio.Semaphore(BUILDS_AT_ONCE)

    async def one(pid: str, kind: str) -> track_files.Track | _Failed:
        async with gate:
            try:
                return await track_files.ensure(
                    Path(core.settings.data_dir), ctx.case.id, ctx.session.id, pid, kind, segments
                )
            except track_files.TrackError as exc:
                log.error("track %s/%s of session %s could not be made: %s", pid, kind, ctx.session.id, exc)
                return _Failed(track_files.track_id(ctx.session.id, pid, kind), pid, kind, str(exc))

    return list(await asyncio.gather(*(one(pid, kind) for pid, kind in keys)))


@dataclass(frozen=True)
class _Failed:
    id: str
    pid: str
    kind: str
    error: str


def _iso(seconds: float | None) -> str | None:
    return wire_time(datetime.fromtimestamp(seconds, UTC)) if seconds is not None else None


def _track_view(
    t: track_files.Track | _Failed,
    people: dict[str, dict[str, str]],
    session_id: str,
    viewer: Viewer,
    tokens: MediaTokens,
    expires: datetime,
) -> dict[str, Any]:
    who = people.get(t.pid, {})
    view: dict[str, Any] = {"id": t.id, "pid": t.pid, "name": who.get("name", ""), "role": who.get("role", "")}
    view["kind"] = t.kind
    if isinstance(t, _Failed):
        return {**view, "url": None, "error": t.error, "spans": [], "gaps": []}
    url = MEDIA_PATH + tokens.sign(session_id, t.id, viewer.sign_in, expires) if t.path is not None else None
    return {
        **view,
        "url": url,
        "content_type": t.content_type,
        "sha256": t.sha256,
        "bytes": t.bytes,
        "segments": t.segments,
        "start": _iso(t.start),
        "end": _iso(t.end),
        "duration_s": round(t.spans[-1].end - t.start, 6) if t.spans and t.start is not None else 0.0,
        "spans": [
            {"start": _iso(s.start), "end": _iso(s.end), "media_start": round(s.media_start, 6)} for s in t.spans
        ],
        "gaps": [{"start": _iso(g.start), "end": _iso(g.end), "reason": g.reason} for g in t.gaps],
        "error": None,
    }


def _message_view(m: Any, people: dict[str, dict[str, str]], recipients: dict[str, str]) -> dict[str, Any]:
    to = m.recipient_pid
    return {
        "id": m.id,
        "at": wire_time(m.at),
        "from": {"pid": m.sender_pid, "name": m.sender_name, "role": m.sender_role},
        "to": to,
        "to_name": (people.get(to, {}).get("name") or recipients.get(to)) if to else None,
        "text": m.text,
    }


def _event_view(e: Any, people: dict[str, dict[str, str]], known: dict[str, str]) -> dict[str, Any]:
    details = event_details(e.data)
    pid = details.get("pid")
    if isinstance(pid, str) and pid in people:
        details.setdefault("name", people[pid].get("name", ""))
        details.setdefault("role", people[pid].get("role", ""))
    try:
        actor_kind: str | None = Actor.parse(e.actor).kind.value
    except ValueError:
        actor_kind = None
    return {
        "seq": e.seq,
        "at": wire_time(e.at),
        "kind": e.kind,
        "actor": e.actor,
        "actor_kind": actor_kind,
        "actor_name": known.get(e.actor) if actor_kind in (ActorKind.account, ActorKind.invitation) else None,
        "details": details,
    }


def _bounds(
    session: SessionRecord, built: Sequence[track_files.Track | _Failed], dated: Sequence[dict[str, Any]]
) -> tuple[datetime | None, datetime | None]:
    """The page's timeline: from the session's real start (or its first media, if earlier) to its
    end (or its last media or event, if later)."""
    starts, ends = [], []
    for t in built:
        if isinstance(t, track_files.Track) and t.spans:
            starts.append(datetime.fromtimestamp(t.spans[0].start, UTC))
            ends.append(datetime.fromtimestamp(t.spans[-1].end, UTC))
    if session.started_at is not None:
        starts.append(session.started_at)
    if session.ended_at is not None:
        ends.append(session.ended_at)
    if not starts:
        starts = [datetime.fromisoformat(d["at"]) for d in dated]
    if not ends:
        ends = [datetime.fromisoformat(d["at"]) for d in dated]
    return (min(starts) if starts else None), (max(ends) if ends else None)


# ---- the media ---------------------------------------------------------------------------------


async def media(core: Core, viewer: Viewer, token: str, byte_range: str | None) -> MediaFile:
    """The file a media URL opens, for this viewer only; its view is logged first."""
    tokens = MediaTokens(core.settings.secret_key)
    try:
        grant = tokens.verify(token, viewer.sign_in, core.clock.now())
    except MediaRefused as exc:
        await _refused_url(core, viewer, tokens, token, exc)
        raise
    ctx = await _context(core, viewer, grant.session_id, file=grant.track_id, kind=ACCESSED)
    async with core.db.read() as tx:
        segments = await stored.segments(tx, ctx.session.id)
    wanted = next(
        ((s.pid, s.kind) for s in segments if track_files.track_id(ctx.session.id, s.pid, s.kind) == grant.track_id),
        None,
    )
    if wanted is None:  # signed for this session, so it had this track: its segments are gone from the log
        raise NotFound("this track is no longer part of the session's recording")
    try:
        track = await track_files.ensure(Path(core.settings.data_dir), ctx.case.id, ctx.session.id, *wanted, segments)
    except track_files.TrackError as exc:
        log.error("track %s could not be made: %s", grant.track_id, exc)
        raise TrackUnavailable("this track's file could not be made; see the server log") from exc
    if track.path is None:
        raise NotFound("nothing of this track can be played: its files were deleted or are missing")
    await _log_once(
        core,
        ctx.case.id,
        ctx.session.id,
        viewer.actor,
        ACCESSED,
        {
            "file": track.id,
            "pid": track.pid,
            "kind": track.kind,
            "sha256": track.sha256,
            "range": byte_range[:100] if byte_range else None,
        },
    )
    return MediaFile(track.path, track.content_type, f"{ctx.session.id}-{track.kind}-{track.id[:8]}.webm")


def anonymous_media_request(core: Core, token: str) -> None:
    """A media URL asked for with no sign-in at all (after signing out, or copied elsewhere): no
    actor to write into a case log, so the server's log keeps it, with what the URL names."""
    issued = MediaTokens(core.settings.secret_key).issued(token) if len(token) <= 200 else None
    if issued is None:
        audit.warning("media URL asked for without a sign-in: %r", token[:100])
    else:
        audit.warning("media URL asked for without a sign-in: session %s, track %s", issued.session_id, issued.track_id)


async def _refused_url(core: Core, viewer: Viewer, tokens: MediaTokens, token: str, exc: MediaRefused) -> None:
    """A URL this server issued, refused (expired, another sign-in's): logged in its case's log.
    Anything else names no case and goes to the server's log."""
    issued = tokens.issued(token) if exc.reason is not MediaRefusal.malformed else None
    if issued is None:
        audit.warning("media URL refused (%s) for %s: %r", exc.reason.value, viewer.actor, token[:100])
        return
    async with core.db.read() as tx:
        try:
            session = await stored_sessions.load_session(tx, issued.session_id)
        except NotFound:
            return
    audit.warning("media URL refused (%s) for %s: session %s", exc.reason.value, viewer.actor, session.id)
    await _log_once(
        core,
        session.case_id,
        session.id,
        viewer.actor,
        ACCESSED,
        {"file": issued.track_id, "refused": exc.reason.value},
    )
