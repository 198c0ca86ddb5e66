"""The review API and its media (server/api/review.py, server/services/review.py): what each viewer
gets, the tracks with Range, the media URLs bound to one sign-in for ten minutes, and every view
and refusal in the case log with the viewer's actor. On SQLite and on PostgreSQL, against the
real app, with a session recorded into real WebM segments (tests/review/recorded.py)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from yarl import URL

from recordings import evidence
from server.domain.actors import Actor
from server.domain.review import MEDIA_URL_TTL, VIEWING_WINDOW
from server.domain.sessions import SessionStatus
from server.services import eventlog, sessions
from server.services.core import Core
from server.storage.models import Invitation
from tests.api.conftest import Caller, expect_error
from tests.conftest import World

from .conftest import Browser, let_parties_watch
from .recorded import Recorded, record_demo_session

ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$"


async def log_of(core: Core, case_id: str, *kinds: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, actor, data) of the case's entries of these kinds, in order."""
    async with core.db.read() as tx:
        return [(e.kind, e.actor, e.data) for e in await eventlog.entries(tx, case_id, kinds=kinds)]


def actor(world: World, username: str) -> str:
    return f"account:{world.principals[username].account_id}"


async def invitation_of(core: Core, session_id: str, role: str) -> str:
    async with core.db.read() as s:
        q = select(Invitation.id).where(Invitation.session_id == session_id, Invitation.role == role)
        return (await s.execute(q)).scalar_one()


async def review_of(viewer: Caller, session_id: str, status: int = 200) -> Any:
    resp = await viewer.get(f"/api/v1/sessions/{session_id}/review")
    if status != 200:
        return resp
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "private, no-store"
    return await resp.json()


def track(review: dict[str, Any], role: str, kind: str) -> dict[str, Any]:
    return next(t for t in review["tracks"] if t["role"] == role and t["kind"] == kind)


# ---- what the review holds -------------------------------------------------------------------


async def test_a_reviewer_gets_every_track_on_the_wall_clock_the_chat_the_minutes_and_the_events(
    recorded: Recorded, browser: Browser, core: Core, world: World
) -> None:
    r = recorded
    reviewer = await browser("demo-reviewer")
    review = await review_of(reviewer, r.session_id)
    assert review["session"]["id"] == r.session_id and review["session"]["case_id"] == r.case_id
    assert review["session"]["status"] == "ended"
    assert review["origin"] == review["session"]["started_at"] == r.at(0).isoformat(timespec="microseconds")
    assert review["end"] == review["session"]["ended_at"] == r.at(14).isoformat(timespec="microseconds")
    assert review["viewer"] == {"full": True, "pid": None}
    assert [(p["pid"], p["role"]) for p in review["participants"]][:2] == [
        (r.mediator_pid, "mediator"),
        (r.applicant_pid, "applicant"),
    ]
    assert sorted((t["role"], t["kind"]) for t in review["tracks"]) == [
        ("applicant", "audio"),
        ("mediator", "audio"),
        ("mediator", "video"),
    ]
    video = track(review, "mediator", "video")
    assert video["name"] == "王建国" and video["pid"] == r.mediator_pid
    assert video["content_type"] == "video/webm" and video["url"].startswith("/api/v1/media/")
    assert video["start"] == r.at(3).isoformat(timespec="microseconds")
    # Recorded 3–6 s and 10–12 s: the recording was stopped between, and that stays a gap.
    assert [(s["start"], s["end"], s["media_start"]) for s in video["spans"]] == [
        (r.at(3).isoformat(timespec="microseconds"), r.at(6).isoformat(timespec="microseconds"), 0.0),
        (r.at(10).isoformat(timespec="microseconds"), r.at(12).isoformat(timespec="microseconds"), 7.0),
    ]
    assert video["gaps"] == [
        {
            "start": r.at(6).isoformat(timespec="microseconds"),
            "end": r.at(10).isoformat(timespec="microseconds"),
            "reason": "not_recorded",
        }
    ]
    assert video["duration_s"] == 9.0 and video["segments"] >= 5 and len(video["sha256"]) == 64
    applicant = track(review, "applicant", "audio")
    assert applicant["name"] == "李秀英" and applicant["content_type"] == "audio/webm" and applicant["gaps"] == []
    # The chat, private messages included (a full reader), with names.
    assert [(m["id"], m["to"], m["to_name"]) for m in review["chat"]] == [
        (r.chat_ids["public"], None, None),
        (r.chat_ids["to_applicant"], r.applicant_pid, "李秀英"),
        (r.chat_ids["to_respondent"], r.respondent_pid, review["chat"][2]["to_name"]),
    ]
    assert review["chat"][2]["to_name"], "the respondent's name, from their invitation, though they never came"
    assert review["minutes"]["revision"] == 1
    assert [e["at"] for e in review["minutes"]["entries"]] == r.minutes_at
    kinds = [e["kind"] for e in review["events"]]
    assert kinds == [
        "session.join",
        "session.live",
        "session.join",
        "session.admit",
        "recording.started",
        "recording.consent",
        "recording.stopped",
        "recording.started",
        "recording.stopped",
        "session.leave",
        "session.ended",
    ]
    admitted = review["events"][3]
    assert admitted["actor_name"] == "王建国" and admitted["details"] == {
        "pid": r.applicant_pid,
        "name": "李秀英",
        "role": "applicant",
    }
    for when in [review["origin"], review["end"], review["urls_expire_at"]] + [m["at"] for m in review["chat"]]:
        assert re.match(ISO_UTC, when), when
    assert datetime.fromisoformat(review["urls_expire_at"]) == core.clock.now() + MEDIA_URL_TTL
    assert await log_of(core, r.case_id, "recording.reviewed") == [
        ("recording.reviewed", actor(world, "demo-reviewer"), {"file": None, "tracks": 3})
    ]


async def test_opening_the_review_again_within_an_hour_is_one_viewing(
    recorded: Recorded, browser: Browser, core: Core, world: World
) -> None:
    reviewer = await browser("demo-reviewer")
    for _ in range(3):
        await review_of(reviewer, recorded.session_id)
    fresh = await reviewer.get(f"/api/v1/sessions/{recorded.session_id}/review/urls")
    assert fresh.status == 200
    urls = await fresh.json()
    assert len(urls["tracks"]) == 3 and all(t["url"].startswith("/api/v1/media/") for t in urls["tracks"])
    assert len(await log_of(core, recorded.case_id, "recording.reviewed")) == 1
    core.clock.advance(seconds=VIEWING_WINDOW.total_seconds())
    await review_of(reviewer, recorded.session_id)
    await review_of(await browser("demo-admin"), recorded.session_id)
    assert [a for _, a, _ in await log_of(core, recorded.case_id, "recording.reviewed")] == [
        actor(world, "demo-reviewer"),
        actor(world, "demo-reviewer"),
        actor(world, "demo-admin"),
    ]


# ---- who may review ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("demo-admin", 200),
        ("demo-mediator", 200),
        ("demo-reviewer", 200),
        ("other-reviewer", 404),
        ("other-mediator", 404),
        ("demo-expert", 403),
        ("link:applicant", 403),
        ("link:respondent", 403),
    ],
)
async def test_each_viewer_gets_what_the_access_table_says_and_a_refusal_is_logged(
    recorded: Recorded, browser: Browser, core: Core, world: World, who: str, status: int
) -> None:
    viewer = await browser(who)
    paths = [f"/api/v1/sessions/{recorded.session_id}/review", f"/api/v1/sessions/{recorded.session_id}/review/urls"]
    for path in paths:
        resp = await viewer.get(path)
        if status == 200:
            assert resp.status == 200, await resp.text()
        else:
            await expect_error(resp, status, "not_found" if status == 404 else "forbidden")
    page = await viewer.client.get(f"/s/{recorded.session_id}/review", allow_redirects=False)
    assert page.status == status, await page.text()
    assert page.content_type == "text/html"
    logged = await log_of(core, recorded.case_id, "recording.reviewed")
    if status == 200:
        assert [d.get("refused") for _, _, d in logged] == [None]
        return
    who_acted = (
        actor(world, who)
        if not who.startswith("link:")
        else f"invitation:{await invitation_of(core, recorded.session_id, who.removeprefix('link:'))}"
    )
    reason = "not_found" if status == 404 else "forbidden"
    # One entry however often they try within the hour, naming them and why they were refused.
    assert logged == [("recording.reviewed", who_acted, {"file": None, "refused": reason})]


async def test_links_of_other_roles_are_refused_while_the_session_runs_and_end_with_it(
    browser: Browser, core: Core, world: World
) -> None:
    """An expert's, a clerk's or the mediator's link never reaches recordings; once the session has
    ended, such a link signs nobody in at all (only a party's outlives it, for the documents)."""
    viewers = {role: await browser(f"link:{role}") for role in ("expert", "mediator")}
    r = await record_demo_session(core, world, end=False)
    for viewer in viewers.values():
        await expect_error(await review_of(viewer, r.session_id, 403), 403, "forbidden")
        page = await viewer.client.get(f"/s/{r.session_id}/review", allow_redirects=False)
        assert page.status == 403 and page.content_type == "text/html"
    refused = await log_of(core, r.case_id, "recording.reviewed")
    expected = {f"invitation:{await invitation_of(core, r.session_id, role)}" for role in viewers}
    assert {a for _, a, _ in refused} == expected and all(d["refused"] == "forbidden" for _, _, d in refused)
    mediator = world.principals["demo-mediator"]
    await sessions.mark_session_status(core, Actor.account(mediator.account_id), r.session_id, SessionStatus.ended)
    for viewer in viewers.values():
        await expect_error(await review_of(viewer, r.session_id, 401), 401, "unauthenticated")


async def test_a_party_sees_their_session_only_when_their_org_allows_it_and_only_what_they_saw(
    recorded: Recorded, browser: Browser, core: Core
) -> None:
    r = recorded
    applicant = await browser("link:applicant")
    await expect_error(await review_of(applicant, r.session_id, 403), 403, "forbidden")
    await let_parties_watch(core, r.case_id)
    review = await review_of(applicant, r.session_id)
    assert review["viewer"] == {"full": False, "pid": r.applicant_pid}
    assert len(review["tracks"]) == 3 and review["minutes"]["entries"]
    # Public chat and their own private message; not the mediator's message to the respondent.
    assert [m["id"] for m in review["chat"]] == [r.chat_ids["public"], r.chat_ids["to_applicant"]]
    kinds = [e["kind"] for e in review["events"]]
    assert "recording.consent" in kinds, "their own answer"
    respondent = await browser("link:respondent")
    theirs = await review_of(respondent, r.session_id)
    assert [m["id"] for m in theirs["chat"]] == [r.chat_ids["public"], r.chat_ids["to_respondent"]]
    assert "recording.consent" not in [e["kind"] for e in theirs["events"]], "the applicant's answer is not theirs"
    # The party's media URL works for them, until their org stops allowing it: the guard is applied on every request.
    url = track(review, "mediator", "audio")["url"]
    assert (await applicant.get(url)).status == 200
    await let_parties_watch(core, r.case_id, allowed=False)
    await expect_error(await applicant.get(url), 403, "forbidden")


async def test_another_cases_session_is_not_found_and_the_probe_is_logged_in_that_case(
    recorded: Recorded, browser: Browser, core: Core, world: World
) -> None:
    reviewer = await browser("demo-reviewer")
    await expect_error(await review_of(reviewer, world.other_session_id, 404), 404, "not_found")
    await expect_error(
        await reviewer.get("/api/v1/sessions/00000000-0000-0000-0000-000000000000/review"), 404, "not_found"
    )
    assert await log_of(core, world.other_case_id, "recording.reviewed") == [
        ("recording.reviewed", actor(world, "demo-reviewer"), {"file": None, "refused": "not_found"})
    ]
    # And its media: a URL signed for the demo session never opens another session's track.
    other = await browser("other-reviewer")
    url = track(await review_of(reviewer, recorded.session_id), "mediator", "video")["url"]
    await expect_error(await other.get(url), 403, "forbidden")


# ---- the media -----------------------------------------------------------------------------------


async def test_a_track_is_served_with_range_requests_and_one_viewing_is_logged_per_file_and_hour(
    recorded: Recorded, browser: Browser, core: Core, world: World
) -> None:
    reviewer = await browser("demo-reviewer")
    review = await review_of(reviewer, recorded.session_id)
    video = track(review, "mediator", "video")
    whole = await reviewer.get(video["url"])
    assert whole.status == 200 and whole.content_type == "video/webm"
    body = await whole.read()
    assert hashlib.sha256(body).hexdigest() == video["sha256"] and len(body) == video["bytes"]
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Cache-Control"] == "private, no-store"
    assert "media-src 'self'" in whole.headers["Content-Security-Policy"]
    part = await reviewer.get(video["url"], headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    assert await part.read() == body[100:200]
    tail = await reviewer.get(video["url"], headers={"Range": "bytes=-50"})
    assert tail.status == 206 and await tail.read() == body[-50:]
    beyond = await reviewer.get(video["url"], headers={"Range": f"bytes={len(body) + 10}-"})
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{len(body)}"
    nonsense = await reviewer.get(video["url"], headers={"Range": "bytes=zz-"})
    assert nonsense.status == 416
    # A player's many requests at once are one viewing.
    await asyncio.gather(*(reviewer.get(video["url"], headers={"Range": f"bytes={i}-"}) for i in range(5)))
    audio = track(review, "mediator", "audio")
    assert (await reviewer.get(audio["url"], headers={"Range": "bytes=0-"})).status == 206
    logged = await log_of(core, recorded.case_id, "recording.accessed")
    reviewer_actor = actor(world, "demo-reviewer")
    assert [(a, d["file"], d["kind"], d["sha256"]) for _, a, d in logged] == [
        (reviewer_actor, video["id"], "video", video["sha256"]),
        (reviewer_actor, audio["id"], "audio", audio["sha256"]),
    ]
    assert logged[0][2]["pid"] == recorded.mediator_pid and logged[0][2]["range"] is None
    # An hour later it is a new viewing (with a fresh URL: this one has long expired).
    core.clock.advance(seconds=VIEWING_WINDOW.total_seconds())
    fresh = track(await review_of(reviewer, recorded.session_id), "mediator", "video")
    assert (await reviewer.get(fresh["url"], headers={"Range": "bytes=0-9"})).status == 206
    logged = await log_of(core, recorded.case_id, "recording.accessed")
    assert [d["file"] for _, _, d in logged] == [video["id"], audio["id"], video["id"]]
    assert logged[-1][2]["range"] == "bytes=0-9"


async def test_a_media_url_is_refused_elsewhere_later_or_after_sign_out_and_real_ones_are_logged(
    recorded: Recorded, browser: Browser, core: Core, world: World, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    r = recorded
    reviewer = await browser("demo-reviewer")
    url = track(await review_of(reviewer, r.session_id), "mediator", "video")["url"]
    admin = await browser("demo-admin")
    # Another browser, even of someone who may watch the session: the URL is not theirs.
    await expect_error(await admin.get(url), 403, "forbidden")
    # The same reviewer signed in in a second browser: another sign-in.
    await expect_error(await (await browser("demo-reviewer")).get(url), 403, "forbidden")
    # Nobody signed in: no actor for a case log; the server's log says what was asked for.
    with caplog.at_level(logging.WARNING, logger="heshi.audit"):
        await expect_error(await client.get(url), 401, "unauthenticated")
    assert any("without a sign-in: session " + r.session_id in rec.getMessage() for rec in caplog.records)
    # Ten minutes later it has expired (the review page fetches fresh ones before then).
    core.clock.advance(seconds=MEDIA_URL_TTL.total_seconds())
    await expect_error(await reviewer.get(url), 403, "forbidden")
    # Altered: not a URL of this server, so it names no case; the server's log has it.
    body, mac = url.rsplit("/", 1)[1].split(".")
    forged = f"/api/v1/media/{body[:-2]}{'AA' if body[-2:] != 'AA' else 'BB'}.{mac}"
    with caplog.at_level(logging.WARNING, logger="heshi.audit"):
        await expect_error(await reviewer.get(forged), 403, "forbidden")
    assert any("bad_signature" in rec.getMessage() for rec in caplog.records)
    logged = await log_of(core, r.case_id, "recording.accessed")
    assert [(a, d.get("refused")) for _, a, d in logged] == [
        (actor(world, "demo-admin"), "other_viewer"),
        (actor(world, "demo-reviewer"), "other_viewer"),
        (actor(world, "demo-reviewer"), "expired"),
    ]
    # Signed out: the browser's sign-in is gone, and its URLs with it.
    fresh = track(await review_of(reviewer, r.session_id), "mediator", "video")["url"]
    assert (await reviewer.get(fresh, headers={"Range": "bytes=0-0"})).status == 206
    assert (await reviewer.post("/api/v1/auth/logout")).status == 200
    await expect_error(await reviewer.get(fresh), 401, "unauthenticated")


async def test_a_tracks_file_that_was_altered_on_disk_is_not_served_and_its_place_is_a_gap(
    recorded: Recorded, browser: Browser, core: Core
) -> None:
    """A segment replaced behind the log's back (here by a symlink to another file) no longer
    matches its SHA-256: the track is made without it, and says so."""
    folder = Path(core.settings.data_dir) / "recordings" / recorded.case_id / recorded.session_id
    victim = sorted(folder.glob("*run1-c1-video-00001.webm"))[0]
    victim.unlink()
    victim.symlink_to(sorted(folder.glob("*run1-c1-audio-00000.webm"))[0])
    video = track(await review_of(await browser("demo-admin"), recorded.session_id), "mediator", "video")
    assert [g["reason"] for g in video["gaps"]] == ["altered", "not_recorded"]
    assert len(video["spans"]) == 3


async def test_a_track_whose_file_cannot_be_made_is_reported_and_the_rest_still_plays(
    recorded: Recorded, browser: Browser, core: Core
) -> None:
    """A logged segment ffmpeg cannot read (it matches its hash, but is not WebM): its track says
    so; its URL answers 503; every other track is served."""
    folder = Path(core.settings.data_dir) / "recordings" / recorded.case_id / recorded.session_id
    bad = folder / "i_x-run1-c1-video-00000.webm"
    bad.write_bytes(b"this is not a webm file")
    await evidence.save_segment(
        core,
        recorded.run_ids[0],
        Actor.recorder(recorded.run_ids[0]),
        {
            "pid": recorded.respondent_pid,
            "kind": "video",
            "codec": "vp8",
            "track": "t",
            "index": 0,
            "path": bad.relative_to(core.settings.data_dir).as_posix(),
            "sha256": hashlib.sha256(bad.read_bytes()).hexdigest(),
            "bytes": bad.stat().st_size,
            "frames": 1,
            "duration_s": 1.0,
            "first_wallclock": recorded.at(4).timestamp(),
            "first_rtp_ts": 0,
        },
    )
    admin = await browser("demo-admin")
    review = await review_of(admin, recorded.session_id)
    broken = next(t for t in review["tracks"] if t["pid"] == recorded.respondent_pid)
    assert broken["url"] is None and broken["error"] and broken["spans"] == []
    assert all(t["url"] for t in review["tracks"] if t is not broken)
    urls = await (await admin.get(f"/api/v1/sessions/{recorded.session_id}/review/urls")).json()
    url = next(t["url"] for t in urls["tracks"] if t["id"] == broken["id"])
    await expect_error(await admin.get(url), 503, "unavailable")
    assert (await admin.get(track(review, "mediator", "video")["url"])).status == 200


# ---- bad input -----------------------------------------------------------------------------------

TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "..%5c..%5cwindows%5cwin.ini",
    "..\\..\\etc\\passwd",
    "%00",
    "abc%00.webm",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "C:%5cWindows%5cwin.ini",
    "....//....//etc/passwd",
    "%c0%ae%c0%ae%2fetc%2fpasswd",
]
ROUTES = [
    "/api/v1/media/{x}",
    "/api/v1/sessions/{x}/review",
    "/api/v1/sessions/{x}/review/urls",
    "/api/v1/sessions/{x}/recording/composite.webm",
    "/s/{x}/review",
]


async def test_path_traversal_on_every_media_route_is_a_4xx_and_never_a_file(
    recorded: Recorded, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    reviewer = await browser("demo-reviewer")
    secret = Path("/etc/passwd").read_text()[:20] if Path("/etc/passwd").exists() else "root:"
    with caplog.at_level(logging.WARNING, logger="heshi.audit"):
        for route in ROUTES:
            for x in TRAVERSALS:
                url = URL(route.replace("{x}", x), encoded=True)
                resp = await reviewer.client.get(url, allow_redirects=False)
                text = await resp.text(errors="replace")
                assert 400 <= resp.status < 500, (route, x, resp.status, text[:200])
                assert secret not in text and "Traceback" not in text, (route, x)
    assert any("malformed" in rec.getMessage() for rec in caplog.records), "tries on the media route are logged"


async def test_a_session_never_recorded_has_a_review_without_tracks(browser: Browser, world: World) -> None:
    review = await review_of(await browser("demo-mediator"), world.demo.session_id)
    assert review["tracks"] == [] and review["chat"] == [] and review["minutes"]["entries"] == []
    assert review["session"]["started_at"] is None


async def test_the_review_page_is_for_the_signed_in(recorded: Recorded, client: Any) -> None:
    resp = await client.get(f"/s/{recorded.session_id}/review?t=5", allow_redirects=False)
    assert resp.status == 302
    assert URL(resp.headers["Location"]).path == "/login"
    assert URL(resp.headers["Location"]).query["next"] == f"/s/{recorded.session_id}/review?t=5"
    await expect_error(await client.get(f"/api/v1/sessions/{recorded.session_id}/review"), 401, "unauthenticated")


async def test_the_review_page_carries_its_session_and_the_browsers_messages(
    recorded: Recorded, browser: Browser
) -> None:
    reviewer = await browser("demo-reviewer")
    page = await reviewer.client.get(f"/s/{recorded.session_id}/review")
    html = await page.text()
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    assert f'data-session-id="{recorded.session_id}"' in html
    assert "/static/js/review/main.js" in html and 'id="i18n-catalog"' in html
    assert f'href="/cases/{recorded.case_id}"' in html
    assert "回看" in html, "Chinese first"
    english = await reviewer.client.get(f"/s/{recorded.session_id}/review?lang=en")
    assert "Review of the session" in await english.text()
