"""Reviewing a recorded session: who may watch it, what each viewer sees beside the media, and
the short-lived media URLs that carry it, bound to the viewer's sign-in. Pure rules, like
access.py and caselog.py.

Who may watch a session's recording (issue 12, "Access"):

| viewer                                       | sees                                              |
|----------------------------------------------|---------------------------------------------------|
| admin                                        | every session, in full                            |
| reviewer                                     | the sessions of cases in their org subtree, in full |
| mediator                                     | their own cases' sessions (their org's, or assigned), in full |
| a party or agent, by their join link         | their own session, if the case's org allows it    |
| an expert (account or link), clerk, observer | none                                              |

An org allows it with `parties_see_recordings`. A party then sees the media, the public chat
and their own private messages, the minutes, and the events of the room they were in (TIMELINE).

A case the viewer may not see at all is `NotFound` (its ids cannot be probed), as is another
session than a link's own; a case they see but whose recordings they may not watch is
`Forbidden`. "In full" is what the case log's full readers read (caselog.LogReader): private
messages, everyone's consent answers, recorder failures.

Media URLs. A track is served only at `/api/v1/media/<token>`: the token names the session and
the track, the expiry (MEDIA_URL_TTL after it was issued) and a tag of the viewer's sign-in
(the browser session's cookie), under an HMAC with a key derived from the server's secret for
this purpose only. Nothing in the path is a file name, so no path can be guessed or walked;
the same URL in another browser, after signing out, or after it expired, is refused
(`MediaRefused`), and the guard above is applied again on every request.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .access import CaseScope, Principal, PrincipalKind, can_view_case, can_view_recordings
from .errors import Forbidden, NotFound
from .grants import PARTY_ROLES

MEDIA_URL_TTL = timedelta(minutes=10)
# One person opening one file (or the review page of one session) within this is one viewing:
# a player's many range requests and a reviewer's seeks are not each an entry of the case log.
VIEWING_WINDOW = timedelta(hours=1)


# ---- who may watch ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingScope:
    """What the rule needs to know of a session's recording: the case's scope, the session, and
    whether the case's org lets its parties watch recordings."""

    case: CaseScope
    session_id: str
    parties_see_recordings: bool = False


@dataclass(frozen=True)
class Review:
    """What one viewer sees of one session's record, decided once per request."""

    session_id: str
    full: bool
    pid: str | None = None  # a party's participant id in the session: their private messages

    def may_read_chat(self, sender_pid: str, recipient_pid: str | None) -> bool:
        """Public messages for everyone who may review; private ones for full readers, and for
        a party the ones to or from them (as they read them in the room)."""
        if self.full or recipient_pid is None:
            return True
        return self.pid is not None and self.pid in (sender_pid, recipient_pid)

    def shows_event(self, kind: str, data: Mapping[str, Any]) -> bool:
        """Whether an entry of the session's case log is one of the review page's events for
        this viewer (TIMELINE): full readers see them all, a party those of the room they were in."""
        audience = TIMELINE.get(kind)
        if audience is None:
            return False
        if self.full or audience is Audience.everyone:
            return True
        if audience is Audience.own:
            return self.pid is not None and data.get("pid") == self.pid
        return False


class Audience(enum.Enum):
    """Who, of those who may review a session, sees one kind of its events."""

    everyone = "everyone"  # full readers and the party watching
    own = "own"  # full readers, and a party the entries about themselves (their consent)
    full = "full"  # full readers only


# The session's events on the review page: what happened in the room, from the case log.
TIMELINE: dict[str, Audience] = {
    "session.live": Audience.everyone,
    "session.join": Audience.everyone,  # with `state`: `lobby` or `admitted`
    "session.admit": Audience.everyone,
    "session.rejoin": Audience.everyone,
    "session.leave": Audience.everyone,
    "session.deny": Audience.full,
    "session.remove": Audience.everyone,
    "session.end": Audience.everyone,
    "session.ended": Audience.everyone,
    "session.notice_presented": Audience.everyone,
    "session.notice_acknowledged": Audience.everyone,
    "recording.started": Audience.everyone,
    "recording.consent": Audience.own,
    "recording.stopped": Audience.everyone,
    "recording.interrupted": Audience.everyone,
    "recording.resumed": Audience.everyone,
    "recording.disk_full": Audience.full,
    "recording.disk_error": Audience.full,
    "recording.error": Audience.full,
    "recording.track_error": Audience.full,
    "minutes.signed": Audience.everyone,
    "minutes.locked": Audience.everyone,
    "agreement.signed": Audience.everyone,
    "agreement.locked": Audience.everyone,
}
# What of an entry's data the page shows: who, in which role, what they answered and why.
# Never a signature's address or browser, a file's path, or a chat text (the chat has its own list).
EVENT_FIELDS = ("pid", "name", "role", "state", "reason", "decision", "language", "signer_role", "signed_as")


def event_details(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an entry's data the review page shows (EVENT_FIELDS), where present."""
    return {k: data[k] for k in EVENT_FIELDS if k in data and isinstance(data[k], (str, int, float, bool))}


def review_for(p: Principal, scope: RecordingScope) -> Review:
    """What `p` sees of the session's record; NotFound outside their reach, Forbidden when they
    see the case (or hold a link to the session) but may not watch its recordings."""
    if p.kind is PrincipalKind.invitation:
        if p.session_id != scope.session_id or p.case_id not in (None, scope.case.case_id):
            raise NotFound("session not found")
        if p.session_role not in PARTY_ROLES:
            raise Forbidden("your role may not watch this session's recording")
        if not scope.parties_see_recordings:
            raise Forbidden("this mediation organisation does not let the parties watch recordings")
        return Review(scope.session_id, full=False, pid=f"i:{p.invitation_id}")
    if not can_view_case(p, scope.case):
        raise NotFound("session not found")
    if not can_view_recordings(p, scope.case):
        raise Forbidden("only the case's mediators, its reviewers and admins may watch its recordings")
    return Review(scope.session_id, full=True)


def may_review(p: Principal, scope: RecordingScope) -> bool:
    try:
        review_for(p, scope)
    except (NotFound, Forbidden):
        return False
    return True


# ---- media URLs ------------------------------------------------------------------------------


class MediaRefusal(enum.StrEnum):
    """Why a media URL was refused."""

    malformed = "malformed"  # not a token at all (a path, a guess): names nothing
    bad_signature = "bad_signature"  # altered, or not issued by this server
    expired = "expired"
    other_viewer = "other_viewer"  # issued to another browser's sign-in (a leaked URL), or before a sign-out


class MediaRefused(Forbidden):
    """A media URL that does not open its file: 403, but 404 for one that names nothing."""

    def __init__(self, reason: MediaRefusal, message: str):
        super().__init__(message, reason=reason.value)
        self.reason = reason
        if reason is MediaRefusal.malformed:
            self.code, self.http_status = NotFound.code, NotFound.http_status


@dataclass(frozen=True)
class MediaGrant:
    """What a media URL opens: one track of one session, until `expires_at`."""

    session_id: str
    track_id: str
    expires_at: datetime


MAX_MEDIA_TOKEN_LENGTH = 128
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{64}\.[A-Za-z0-9_-]{22}")  # 48 bytes . 16 bytes
_BODY = struct.Struct(">16s16sI12s")  # session, track, expiry (Unix seconds), viewer tag


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # one spelling per token: an altered URL must not still work
        raise ValueError("not the canonical base64url spelling")
    return data


class MediaTokens:
    """Signs and checks media URLs' tokens, under a key derived for this purpose only (so that no
    join link or recorder credential passes for one, nor the reverse).

    `sign_in` is the secret of the viewer's browser session (the value of the cookie they are
    signed in with): the token carries only an HMAC tag of it, so a URL is useless in a browser
    without that cookie, and the cookie cannot be read back out of a URL."""

    purpose = b"heshi/media-url/v1"

    def __init__(self, secret_key: str):
        self._key = hmac.new(secret_key.encode(), self.purpose, hashlib.sha256).digest()

    def _tag(self, sign_in: str) -> bytes:
        return hmac.new(self._key, b"viewer\x00" + sign_in.encode(), hashlib.sha256).digest()[:12]

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, b"url\x00" + body, hashlib.sha256).digest()[:16]

    def sign(self, session_id: str, track_id: str, sign_in: str, expires_at: datetime) -> str:
        body = _BODY.pack(
            uuid.UUID(session_id).bytes, uuid.UUID(track_id).bytes, int(expires_at.timestamp()), self._tag(sign_in)
        )
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def verify(self, token: str, sign_in: str, now: datetime) -> MediaGrant:
        """The grant a token carries for this viewer; MediaRefused naming the first check that failed.

        The signature covers the viewer's tag, but the tag is checked after it: a refused URL
        that this server did issue (expired, or another browser's) is told apart from a forged
        one, so that only real URLs reach the case log (services/review.py)."""
        if not isinstance(token, str) or len(token) > MAX_MEDIA_TOKEN_LENGTH or not _TOKEN_RE.fullmatch(token):
            raise MediaRefused(MediaRefusal.malformed, "this is not a media URL of this server")
        body_text, mac_text = token.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            raise MediaRefused(MediaRefusal.malformed, "this is not a media URL of this server") from None
        if len(body) != _BODY.size or len(mac) != 16:
            raise MediaRefused(MediaRefusal.malformed, "this is not a media URL of this server")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise MediaRefused(MediaRefusal.bad_signature, "this media URL has been altered or was not issued here")
        grant = self.grant_of(body)
        if now >= grant.expires_at:
            raise MediaRefused(MediaRefusal.expired, "this media URL has expired; reload the review page")
        if not hmac.compare_digest(body[-12:], self._tag(sign_in)):
            raise MediaRefused(
                MediaRefusal.other_viewer, "this media URL was issued to another sign-in; open the review page yourself"
            )
        return grant

    def issued(self, token: str) -> MediaGrant | None:
        """What a token this server signed names, whoever holds it and however old it is; None for
        any other string. For logging a refused URL against its session."""
        try:
            body_text, mac_text = token.split(".")
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            return None
        if len(body) != _BODY.size or not hmac.compare_digest(mac, self._mac(body)):
            return None
        return self.grant_of(body)

    @staticmethod
    def grant_of(body: bytes) -> MediaGrant:
        session, track, expiry, _tag = _BODY.unpack(body)
        return MediaGrant(
            str(uuid.UUID(bytes=session)),
            str(uuid.UUID(bytes=track)),
            datetime.fromtimestamp(expiry, tz=UTC),
        )


# ---- which requests are one viewing ----------------------------------------------------------


@dataclass(frozen=True)
class Viewing:
    """An earlier entry of one person's: when, and what it was about (`recording.accessed`'s
    `file`; `refused` when it was a refusal)."""

    at: datetime
    data: Mapping[str, Any]


def is_new_viewing(earlier: list[Viewing], now: datetime, file: str | None, refused: str | None) -> bool:
    """Whether a request for `file` (None: the review page) makes a new entry: not when the same
    person had the same outcome for the same file within VIEWING_WINDOW."""
    for v in earlier:
        if now - v.at >= VIEWING_WINDOW or v.at > now + VIEWING_WINDOW:
            continue
        if v.data.get("file") == file and v.data.get("refused") == refused:
            return False
    return True
