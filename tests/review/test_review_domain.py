"""Who may review a recorded session, what each sees beside the media, the media URLs' tokens and
what counts as one viewing: server/domain/review.py, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.domain.access import CaseScope, InvitedAccount, Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.errors import Forbidden, NotFound
from server.domain.grants import SessionRole
from server.domain.orgs import child_path
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
    may_review,
    review_for,
)

DISTRICT = child_path(None, "d1")
TOWN = child_path(DISTRICT, "t1")
VILLAGE = child_path(TOWN, "v1")
OTHER_TOWN = child_path(DISTRICT, "t2")
LOOKALIKE = child_path(DISTRICT, "t1x")  # shares a string prefix with /d1/t1
OTHER_DISTRICT = child_path(None, "d2")
SESSION, OTHER_SESSION, CASE = "s1", "s2", "c1"
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
SESSION_ID = "0b7e2a52-5a3f-4a40-9a71-64f0b5a7c3f1"
TRACK_ID = "7d4b1e0c-65a2-4c9e-8f7e-0a3f5f1f2b6d"


def staff(role: StaffRole, org_path: str | None, account_id: str = "me") -> Principal:
    return Principal(
        kind=PrincipalKind.staff,
        display_name=role.value,
        account_id=account_id,
        staff_role=role,
        org_path=org_path,
    )


def holder(role: SessionRole, session_id: str = SESSION, account_id: str | None = None) -> Principal:
    return Principal(
        kind=PrincipalKind.invitation,
        display_name="李秀英",
        account_id=account_id,
        invitation_id="inv-1",
        case_id=CASE,
        session_id=session_id,
        session_role=role,
    )


def scope(
    org_path: str = VILLAGE,
    *,
    mediator_id: str | None = "someone",
    invited: tuple[str, ...] = (),
    parties: bool = False,
) -> RecordingScope:
    case = CaseScope(
        case_id=CASE,
        org_path=org_path,
        mediator_id=mediator_id,
        invitations=tuple(InvitedAccount(a, SESSION, f"inv-{a}") for a in invited),
    )
    return RecordingScope(case, SESSION, parties_see_recordings=parties)


def outcome(p: Principal, s: RecordingScope) -> str:
    """'full', 'party', 404 or 403, as the API answers."""
    try:
        review = review_for(p, s)
    except NotFound:
        return "404"
    except Forbidden:
        return "403"
    return "full" if review.full else "party"


# Every kind of viewer against a case in a village of town t1 of district d1 (mediator "someone").
TABLE = [
    ("admin of another district", staff(StaffRole.admin, OTHER_DISTRICT), scope(), "full"),
    ("reviewer of the district", staff(StaffRole.reviewer, DISTRICT), scope(), "full"),
    ("reviewer of the town", staff(StaffRole.reviewer, TOWN), scope(), "full"),
    ("reviewer of the village itself", staff(StaffRole.reviewer, VILLAGE), scope(), "full"),
    ("reviewer of a sibling town", staff(StaffRole.reviewer, OTHER_TOWN), scope(), "404"),
    ("reviewer of a look-alike town", staff(StaffRole.reviewer, LOOKALIKE), scope(), "404"),
    ("reviewer of another district", staff(StaffRole.reviewer, OTHER_DISTRICT), scope(), "404"),
    ("reviewer without an org", staff(StaffRole.reviewer, None), scope(), "404"),
    ("reviewer invited to the session", staff(StaffRole.reviewer, OTHER_DISTRICT), scope(invited=("me",)), "404"),
    ("mediator of the case's org", staff(StaffRole.mediator, VILLAGE), scope(), "full"),
    ("mediator assigned from another org", staff(StaffRole.mediator, OTHER_TOWN), scope(mediator_id="me"), "full"),
    ("mediator of the parent town", staff(StaffRole.mediator, TOWN), scope(), "404"),
    ("mediator invited from elsewhere", staff(StaffRole.mediator, OTHER_TOWN), scope(invited=("me",)), "403"),
    ("mediator of another district", staff(StaffRole.mediator, OTHER_DISTRICT), scope(), "404"),
    ("expert invited to the session", staff(StaffRole.expert, OTHER_DISTRICT), scope(invited=("me",)), "403"),
    ("expert of the case's own org, invited", staff(StaffRole.expert, VILLAGE), scope(invited=("me",)), "403"),
    ("expert not invited", staff(StaffRole.expert, VILLAGE), scope(), "404"),
    ("applicant's link, parties may watch", holder(SessionRole.applicant), scope(parties=True), "party"),
    ("respondent's link, parties may watch", holder(SessionRole.respondent), scope(parties=True), "party"),
    ("agent's link, parties may watch", holder(SessionRole.agent), scope(parties=True), "party"),
    ("applicant's link, parties may not watch", holder(SessionRole.applicant), scope(), "403"),
    ("agent's link, parties may not watch", holder(SessionRole.agent), scope(), "403"),
    ("applicant's link to another session", holder(SessionRole.applicant, OTHER_SESSION), scope(parties=True), "404"),
    ("expert's link", holder(SessionRole.expert, account_id="me"), scope(parties=True), "403"),
    ("clerk's link", holder(SessionRole.clerk), scope(parties=True), "403"),
    ("observer's link", holder(SessionRole.observer), scope(parties=True), "403"),
    ("mediator's link", holder(SessionRole.mediator, account_id="someone"), scope(parties=True), "403"),
    ("expert's link to another session", holder(SessionRole.expert, OTHER_SESSION), scope(), "404"),
]


@pytest.mark.parametrize(("who", "p", "s", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_who_may_review_a_recorded_session(who: str, p: Principal, s: RecordingScope, expected: str) -> None:
    assert outcome(p, s) == expected
    assert may_review(p, s) is (expected in ("full", "party"))


def test_a_staff_role_on_a_link_never_outranks_the_link() -> None:
    """A link holder whose invitation names a reviewer's or admin's account is still a link holder."""
    p = Principal(
        kind=PrincipalKind.invitation,
        display_name="x",
        account_id="me",
        staff_role=StaffRole.admin,
        invitation_id="inv-1",
        case_id=CASE,
        session_id=SESSION,
        session_role=SessionRole.observer,
    )
    assert outcome(p, scope(parties=True)) == "403"


def test_a_party_reads_public_chat_and_their_own_private_messages_a_full_reader_all() -> None:
    party = review_for(holder(SessionRole.applicant), scope(parties=True))
    assert party.pid == "i:inv-1"
    assert party.may_read_chat("a:m", None)
    assert party.may_read_chat("a:m", "i:inv-1") and party.may_read_chat("i:inv-1", "a:m")
    assert not party.may_read_chat("a:m", "i:other")
    full = Review(SESSION, full=True)
    assert full.may_read_chat("a:m", "i:other")


def test_a_party_sees_the_rooms_events_and_their_own_consent_a_full_reader_everything_on_the_timeline() -> None:
    party = Review(SESSION, full=False, pid="i:inv-1")
    full = Review(SESSION, full=True)
    for kind in TIMELINE:
        assert full.shows_event(kind, {})
    assert party.shows_event("session.join", {"pid": "i:x"})
    assert party.shows_event("recording.started", {})
    assert party.shows_event("recording.consent", {"pid": "i:inv-1"})
    assert not party.shows_event("recording.consent", {"pid": "i:x"})
    assert not party.shows_event("session.deny", {"pid": "i:x"})
    assert not party.shows_event("recording.disk_full", {})
    for kind in ("chat.message", "recording.segment", "recording.accessed", "invitation.issued", "minutes.saved"):
        assert not full.shows_event(kind, {}) and not party.shows_event(kind, {})


def test_an_events_details_keep_who_and_why_never_addresses_or_paths() -> None:
    data = {
        "pid": "i:1",
        "name": "李",
        "role": "applicant",
        "reason": "r",
        "ip": "10.0.0.1",
        "user_agent": "UA",
        "path": "recordings/c/s/x.webm",
        "nested": {"a": 1},
    }
    assert event_details(data) == {"pid": "i:1", "name": "李", "role": "applicant", "reason": "r"}


# ---- media URLs ------------------------------------------------------------------------------


def test_a_media_url_opens_its_track_for_the_sign_in_it_was_made_for_until_it_expires() -> None:
    tokens = MediaTokens("k" * 40)
    token = tokens.sign(SESSION_ID, TRACK_ID, "cookie-a", NOW + MEDIA_URL_TTL)
    assert len(token) <= 128 and "/" not in token and "." in token
    grant = tokens.verify(token, "cookie-a", NOW)
    assert (grant.session_id, grant.track_id, grant.expires_at) == (SESSION_ID, TRACK_ID, NOW + MEDIA_URL_TTL)
    assert tokens.verify(token, "cookie-a", NOW + MEDIA_URL_TTL - timedelta(seconds=1)) == grant


def refusal(tokens: MediaTokens, token: str, sign_in: str = "cookie-a", now: datetime = NOW) -> tuple[str, int]:
    with pytest.raises(MediaRefused) as caught:
        tokens.verify(token, sign_in, now)
    return caught.value.reason.value, caught.value.http_status


def test_a_media_url_is_refused_in_another_browser_after_expiry_altered_or_from_another_server() -> None:
    tokens = MediaTokens("k" * 40)
    token = tokens.sign(SESSION_ID, TRACK_ID, "cookie-a", NOW + MEDIA_URL_TTL)
    assert refusal(tokens, token, sign_in="cookie-b") == ("other_viewer", 403)
    assert refusal(tokens, token, sign_in="") == ("other_viewer", 403)
    assert refusal(tokens, token, now=NOW + MEDIA_URL_TTL) == ("expired", 403)
    body, mac = token.split(".")
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    assert refusal(tokens, f"{flipped}.{mac}") == ("bad_signature", 403)
    assert refusal(MediaTokens("z" * 40), token) == ("bad_signature", 403)
    # A join link's key, or a recorder's, never signs a media URL: the purposes differ.
    assert tokens.issued(token) is not None and MediaTokens("z" * 40).issued(token) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "../../etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "%252e%252e%252f",
        "..\\..\\windows",
        "a\x00b",
        "/etc/passwd",
        "x" * 200,
        "A" * 64 + "." + "B" * 21,
        "A" * 64 + "." + "B" * 22 + ".",
        "A" * 63 + "=." + "B" * 22,
    ],
)
def test_anything_that_is_not_a_media_token_names_nothing(token: str) -> None:
    tokens = MediaTokens("k" * 40)
    assert refusal(tokens, token) == ("malformed", 404)
    assert tokens.issued(token) is None


def test_a_token_has_one_spelling() -> None:
    """base64url's spare bits: the same bytes with another last character must not pass."""
    tokens = MediaTokens("k" * 40)
    token = tokens.sign(SESSION_ID, TRACK_ID, "cookie-a", NOW + MEDIA_URL_TTL)
    body, mac = token.split(".")
    last = mac[-1]
    sibling = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    alias = sibling[(sibling.index(last) ^ 1)]  # differs in the lowest (spare) bit only
    assert refusal(tokens, f"{body}.{mac[:-1]}{alias}")[0] in ("malformed", "bad_signature")


def test_refusal_reasons_are_named() -> None:
    assert {r.value for r in MediaRefusal} == {"malformed", "bad_signature", "expired", "other_viewer"}


# ---- one viewing -----------------------------------------------------------------------------


def test_one_persons_same_outcome_for_one_file_within_the_window_is_one_viewing() -> None:
    seen = [Viewing(NOW, {"file": "t1", "range": "bytes=0-"})]
    assert not is_new_viewing(seen, NOW + VIEWING_WINDOW - timedelta(seconds=1), "t1", None)
    assert is_new_viewing(seen, NOW + VIEWING_WINDOW, "t1", None)
    assert is_new_viewing(seen, NOW, "t2", None), "another file"
    assert is_new_viewing(seen, NOW, "t1", "expired"), "a refusal is its own entry"
    assert not is_new_viewing([Viewing(NOW, {"file": "t1", "refused": "expired"})], NOW, "t1", "expired")
    assert is_new_viewing([], NOW, None, None)
    assert not is_new_viewing([Viewing(NOW, {"file": None, "tracks": 4})], NOW, None, None), "the review page itself"
