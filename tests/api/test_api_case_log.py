"""The case log through `GET /api/v1/cases/{case_id}/events`: who reads which entries (issue 9, item 1).

The demo case gets one entry of every kind in ENTRY_KINDS (session and recording kinds in
both of its sessions), and chat in both sessions: public, private to and from the invited
expert, private between mediator and applicant. The demo expert holds a valid invitation to
the first session only. Then every viewer reads the log over HTTP, and for each of them:

(a) every entry of the case is served, in `seq` order, none dropped;
(b) a readable entry has its actor, session and data and `"redacted": false`; an unreadable one
    has only its place in the chain (case_id, seq, at, kind, prev_hash, hash, `"redacted": true`);
(c) which entries are redacted follows docs/api.md, "What each viewer reads";
(d) the chain verifies from the served JSON alone, with the recipe of docs/api.md, "Verifying
    the chain" (reimplemented here, not imported from the server).

Parties (join-link holders) are refused the log with 403; staff outside the case get 404.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.domain.actors import Actor, SystemReason
from server.domain.caselog import ENTRY_KINDS, Part
from server.domain.clock import FrozenClock
from server.domain.grants import SessionRole
from server.services import eventlog, invitations, sessions
from server.services.core import Core
from server.storage import models as M
from tests.api.conftest import V1, SignIn, account_id, expect_error, invitation_ids, join_as, party_ids
from tests.conftest import World

FULL_READERS = ["demo-admin", "demo-mediator", "demo-reviewer"]
HEAD = {"case_id", "seq", "at", "kind", "prev_hash", "hash", "redacted"}
READABLE = HEAD | {"actor", "session_id", "data"}
WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
# The first entry this file writes is at a whole second: its `at` must still carry six zeros.
WHOLE_SECOND = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


# --- docs/api.md, "Verifying the chain", as an outside reader would write it -------------------


def documented_hash(e: dict[str, Any]) -> str:
    doc = {k: e[k] for k in ("case_id", "seq", "at", "kind", "actor", "session_id", "data", "prev_hash")}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_as_documented(events: list[dict[str, Any]]) -> None:
    prev = "0" * 64
    for n, e in enumerate(events, start=1):
        assert e["seq"] == n, f"entry {n} is missing"
        assert e["prev_hash"] == prev, f"entry {n}: prev_hash does not link to the entry before"
        if not e["redacted"]:
            assert documented_hash(e) == e["hash"], f"entry {n} ({e['kind']}) does not hash to its hash"
        prev = e["hash"]


# --- docs/api.md, "What each viewer reads", column "an invited expert" ---------------------------


def expert_may_read(e: dict[str, Any], sessions_invited: set[str], pids: set[str]) -> bool:
    """The documented rule, by the kind's name: case entries yes; session entries, minutes and chat
    of the sessions they are invited to (chat only public, or to or from them); recordings,
    agreements and judicial confirmation never."""
    family = e["kind"].split(".", 1)[0]
    if family in ("case", "party"):
        return True
    if family in ("recording", "agreement", "confirmation") or e["session_id"] not in sessions_invited:
        return False
    if family == "chat":
        to = e["data"].get("to")
        sender = e["actor"].replace("invitation:", "i:", 1).replace("account:", "a:", 1)
        return to is None or to in pids or sender in pids
    assert family in ("session", "invitation", "minutes"), e["kind"]
    return True


# --- the log under test ----------------------------------------------------------------------------


@dataclass
class CaseLog:
    case_id: str
    session_a: str  # the demo session: the demo expert is invited to it
    session_b: str  # a second session of the same case: the expert is not
    expert_pids: set[str]
    # seq -> whether the invited expert reads it, written out for every entry this file appends
    expert_reads: dict[int, bool] = field(default_factory=dict)


@dataclass
class Ids:
    mediator: str  # account ids
    expert: str
    reviewer: str
    inv: dict[str, dict[str, str]]  # session -> role -> invitation id
    expert_inv: str  # the expert's one invitation, to session A


def realistic(kind: str, session: str | None, ids: Ids) -> tuple[Actor, dict[str, Any]]:
    """An actor and data like the ones the product writes for this kind (signaling/, recordings/,
    services/). A kind not listed here still gets an entry, with an actor fitting its part."""
    inv = ids.inv.get(session or "", {})
    mediator, recorder = Actor.account(ids.mediator), Actor.recorder(f"rec-{(session or 'none')[:8]}")
    applicant = Actor.invitation(inv["applicant"]) if inv else mediator
    run = {"recording_id": recorder.id}
    known: dict[str, tuple[Actor, dict[str, Any]]] = {
        "case.created": (
            mediator,
            {
                "number": "DEMO-QS-2026-0001",
                "title": "李秀英与清水镇卫生院医疗纠纷",
                "dispute_type": "medical",
                "source": "self_applied",
                "mediator_id": ids.mediator,
                "parties": [{"side": "applicant", "name": "李秀英"}],
            },
        ),
        "case.transitioned": (mediator, {"from": "accepted", "to": "mediating", "note": ""}),
        "party.added": (mediator, {"party_id": str(uuid.uuid4()), "side": "respondent", "name": "赵院长"}),
        "session.scheduled": (mediator, {"title": "补充调解", "scheduled_at": "2026-11-29T12:00:00+00:00"}),
        "session.live": (Actor.invitation(inv["mediator"]) if inv else mediator, {"from": "scheduled", "reason": ""}),
        "session.ended": (Actor.system(SystemReason.idle_timeout), {"from": "live", "reason": "idle"}),
        "session.join": (
            applicant,
            {"pid": f"i:{inv.get('applicant')}", "name": "李秀英", "role": "applicant", "state": "lobby"},
        ),
        "session.rejoin": (applicant, {"pid": f"i:{inv.get('applicant')}"}),
        "session.leave": (Actor.system(SystemReason.grace_expired), {"pid": f"i:{inv.get('applicant')}"}),
        "session.admit": (mediator, {"pid": f"i:{inv.get('applicant')}"}),
        "session.deny": (mediator, {"pid": "i:someone", "reason": "身份不符"}),
        "session.remove": (mediator, {"pid": "i:someone", "reason": "扰乱秩序"}),
        "session.end": (mediator, {"reason": "调解结束"}),
        "invitation.issued": (
            mediator,
            {
                "invitation_id": str(uuid.uuid4()),
                "role": "observer",
                "display_name": "村委会主任",
                "party_id": None,
                "account_id": None,
                "expires_at": "2026-12-06T09:00:00+00:00",
            },
        ),
        "invitation.opened": (applicant, {"invitation_id": inv.get("applicant")}),
        "invitation.revoked": (mediator, {"invitation_id": str(uuid.uuid4()), "reason": "发错了人"}),
        "recording.started": (mediator, run),
        "recording.stopped": (mediator, {**run, "reason": "stopped over the API"}),
        "recording.consent": (
            applicant,
            {
                **run,
                "pid": f"i:{inv.get('applicant')}",
                "name": "李秀英",
                "role": "applicant",
                "decision": "accepted",
                "language": "zh-CN",
            },
        ),
        "recording.segment": (
            recorder,
            {
                **run,
                "segment_id": str(uuid.uuid4()),
                "path": "seg/0001.webm",
                "sha256": "ab" * 32,
                "bytes": 1048576,
                "pid": "a:x",
                "kind": "video",
                "index": 1,
                "duration_s": 10.25,
                "first_wallclock": "2026-11-29T09:30:01.500000+00:00",
            },
        ),
        "recording.interrupted": (Actor.system(SystemReason.node_lost), {**run, "reason": "node lost"}),
        "recording.resumed": (recorder, run),
        "recording.disk_full": (recorder, {**run, "free_bytes": 0}),
        "recording.disk_error": (recorder, {**run, "error": "EIO"}),
        "recording.error": (recorder, {**run, "error": "pipeline stalled"}),
        "recording.track_error": (recorder, {**run, "pid": "a:x", "track": "audio", "error": "decode"}),
        "recording.composite": (
            Actor.system(SystemReason.cli),
            {
                "path": "composite.webm",
                "sha256": "cd" * 32,
                "bytes": 2097152,
                "seconds": 61.5,
                "tracks": [{"pid": "a:x", "kind": "video", "segments": 6}],
            },
        ),
        "recording.accessed": (Actor.account(ids.reviewer), {"file": "composite.webm", "range": "bytes=0-"}),
    }
    if kind in known:
        return known[kind]
    by_part = {
        Part.case: mediator,
        Part.session: applicant,
        Part.chat: applicant,
        Part.recording: recorder,
        Part.minutes: mediator,
        Part.agreement: mediator,
        Part.evidence: mediator,
    }
    return by_part[ENTRY_KINDS[kind]], {"note": f"a {kind} entry"}


def chat_messages(session: str, ids: Ids) -> list[tuple[str, Actor, str | None, bool]]:
    """(label, sender, to, read by the expert when in session A) for the chat of one session."""
    inv = ids.inv[session]
    mediator_inv, applicant_inv = Actor.invitation(inv["mediator"]), Actor.invitation(inv["applicant"])
    mediator_acc = Actor.account(ids.mediator)
    expert_inv = ids.expert_inv
    return [
        ("public", mediator_acc, None, True),
        ("mediator → expert (invitation pid)", mediator_inv, f"i:{expert_inv}", True),
        ("mediator → expert (account pid)", mediator_acc, f"a:{ids.expert}", True),
        ("expert → mediator", Actor.invitation(expert_inv), mediator_acc.pid, True),
        ("mediator → applicant", mediator_inv, applicant_inv.pid, False),
        ("applicant → mediator", applicant_inv, mediator_acc.pid, False),
    ]


@pytest.fixture
async def case_log(core: Core, world: World, clock: FrozenClock) -> CaseLog:
    """The demo case with a second session (mediator and applicant invited, not the expert), then
    one entry of every kind (session and recording kinds once per session) and the chat of both."""
    mediator = world.principals["demo-mediator"]
    case_id, session_a = world.demo.case_id, world.demo.session_id
    session_b = (
        await sessions.schedule_session(
            core, mediator, case_id, scheduled_at=clock.now() + timedelta(days=1), title="第二次视频调解"
        )
    ).id
    parties = await party_ids(core, case_id)
    await invitations.issue(core, mediator, session_b, role=SessionRole.mediator, account_id=mediator.account_id)
    await invitations.issue(core, mediator, session_b, role=SessionRole.applicant, party_id=parties["applicant"])
    inv_a, inv_b = await invitation_ids(core, session_a), await invitation_ids(core, session_b)
    assert "expert" in inv_a and "expert" not in inv_b  # the demo invites the expert to its session only
    ids = Ids(
        mediator=await account_id(core, "demo-mediator"),
        expert=await account_id(core, "demo-expert"),
        reviewer=await account_id(core, "demo-reviewer"),
        inv={session_a: inv_a, session_b: inv_b},
        expert_inv=inv_a["expert"],
    )
    log = CaseLog(case_id, session_a, session_b, expert_pids={f"i:{inv_a['expert']}", f"a:{ids.expert}"})

    # (session, kind, actor, data, read by the expert)
    plan: list[tuple[str | None, str, Actor, dict[str, Any], bool]] = []
    for kind, part in ENTRY_KINDS.items():
        if part is Part.case:
            plan.append((None, kind, *realistic(kind, None, ids), True))
        elif part in (Part.session, Part.minutes):
            plan.append((session_a, kind, *realistic(kind, session_a, ids), True))
            plan.append((session_b, kind, *realistic(kind, session_b, ids), False))
        elif part is Part.agreement:  # of the case as a whole, or made in a session: never the expert's
            plan.append((None, kind, *realistic(kind, None, ids), False))
            plan.append((session_a, kind, *realistic(kind, session_a, ids), False))
        elif part is Part.evidence:  # exports are of the whole case, and never the expert's
            plan.append((None, kind, *realistic(kind, None, ids), False))
        elif part is Part.recording:
            plan.append((session_a, kind, *realistic(kind, session_a, ids), False))
            plan.append((session_b, kind, *realistic(kind, session_b, ids), False))
        else:
            assert part is Part.chat and kind == "chat.message", f"no chat set-up written for {kind}"
    for session in (session_a, session_b):
        for label, sender, to, in_a in chat_messages(session, ids):
            data = {"message_id": str(uuid.uuid4()), "to": to, "text": f"{label}：请双方冷静。"}
            plan.append((session, "chat.message", sender, data, in_a and session == session_a))
    # A public message written without any `to` key at all is public too.
    plan.append(
        (
            session_a,
            "chat.message",
            Actor.invitation(inv_a["respondent"]),
            {"message_id": str(uuid.uuid4()), "text": "public (no `to` key)：我们同意。"},
            True,
        )
    )

    async with core.db.write() as s:
        for n, (session, kind, actor, data, expert_reads) in enumerate(plan):
            # Distinct, irregular microseconds; the first entry sits exactly on a whole second.
            clock.set(WHOLE_SECOND + timedelta(seconds=n, microseconds=(n * 123_457) % 1_000_000))
            ev = await eventlog.append(
                s, case_id=case_id, kind=kind, actor=actor, at=core.clock.now(), data=data, session_id=session
            )
            log.expert_reads[ev.seq] = expert_reads
    return log


async def stored(core: Core, case_id: str) -> list[M.CaseEvent]:
    async with core.db.read() as s:
        return list(
            (
                await s.execute(select(M.CaseEvent).where(M.CaseEvent.case_id == case_id).order_by(M.CaseEvent.seq))
            ).scalars()
        )


async def events_for(sign_in: SignIn, username: str, case_id: str) -> dict[str, Any]:
    caller = await sign_in(username)
    return await caller.ok("GET", f"{V1}/cases/{case_id}/events")


def check_served_log(body: dict[str, Any], rows: list[M.CaseEvent], redacted_seqs: set[int]) -> None:
    """(a), (b) and (d) for one viewer's response; `redacted_seqs` is (c), the expected redactions."""
    events = body["events"]
    assert body["chain"] == {"ok": True, "count": len(rows), "first_bad_seq": None, "reason": None}
    # (a) every stored entry, in order, none dropped
    assert [e["seq"] for e in events] == [r.seq for r in rows] == list(range(1, len(rows) + 1))
    for e, r in zip(events, rows):
        assert (e["case_id"], e["kind"], e["prev_hash"], e["hash"]) == (r.case_id, r.kind, r.prev_hash, r.hash)
        assert WIRE_TIME.match(e["at"]), e["at"]
        assert datetime.fromisoformat(e["at"]) == r.at
        # (b) a readable entry has its content; a redacted one its place in the chain and nothing else
        if e["redacted"]:
            assert set(e) == HEAD and e["redacted"] is True, e
        else:
            assert set(e) == READABLE and e["redacted"] is False, e
            assert (e["actor"], e["session_id"], e["data"]) == (r.actor, r.session_id, r.data)
    # (c)
    assert {e["seq"] for e in events if e["redacted"]} == redacted_seqs
    # (d)
    verify_as_documented(events)


@pytest.mark.parametrize("username", FULL_READERS)
async def test_full_readers_read_every_entry(sign_in: SignIn, core: Core, case_log: CaseLog, username: str):
    """The case's mediator, the reviewer over its org and the admin read all of it, unredacted,
    and the chain verifies entry by entry from what they were served."""
    rows = await stored(core, case_log.case_id)
    assert {r.kind for r in rows} == set(ENTRY_KINDS)  # every kind is in the log under test
    check_served_log(await events_for(sign_in, username, case_log.case_id), rows, redacted_seqs=set())


async def test_the_invited_expert_reads_the_case_their_session_and_their_chat(
    sign_in: SignIn, core: Core, case_log: CaseLog
):
    """The demo expert, invited to session A only: case entries, session entries and chat of A
    (public, or to or from them); never a recording entry; nothing of session B. Redacted entries
    keep their place, so the whole chain still verifies."""
    rows = await stored(core, case_log.case_id)
    body = await events_for(sign_in, "demo-expert", case_log.case_id)
    # Entries written by the demo and set-up services before ours: by the documented rule, from the full view.
    full = {e["seq"]: e for e in (await events_for(sign_in, "demo-admin", case_log.case_id))["events"]}
    expected_readable = {seq: case_log.expert_reads.get(seq) for seq in full}
    for seq, readable in expected_readable.items():
        rule = expert_may_read(full[seq], {case_log.session_a}, case_log.expert_pids)
        if readable is None:
            expected_readable[seq] = rule
        else:  # the explicit expectation written with each entry agrees with the documented rule
            assert readable == rule, (seq, full[seq])
    check_served_log(body, rows, redacted_seqs={seq for seq, readable in expected_readable.items() if not readable})

    # Spot checks, stated plainly: the cells the issue is about.
    read = [e for e in body["events"] if not e["redacted"]]
    assert ("case.created", None) in {(e["kind"], e["session_id"]) for e in read}
    assert {e["session_id"] for e in read if e["kind"] == "session.join"} == {case_log.session_a}
    assert not [e for e in read if e["kind"].startswith("recording.")]
    chat = [e for e in read if e["kind"] == "chat.message"]
    assert {e["session_id"] for e in chat} == {case_log.session_a}
    assert sorted(e["data"]["text"].split("：")[0] for e in chat) == sorted(
        [
            "public",
            "public (no `to` key)",
            "mediator → expert (invitation pid)",
            "mediator → expert (account pid)",
            "expert → mediator",
        ]
    )  # not "mediator → applicant" nor "applicant → mediator"


async def test_the_log_names_the_people_in_what_each_viewer_reads_and_no_one_else(
    sign_in: SignIn, core: Core, case_log: CaseLog
):
    """`names` maps the actors of readable entries, and the participants (`pid`) they are about,
    to people's names; nothing of a redacted entry lends it a name."""
    full = await events_for(sign_in, "demo-admin", case_log.case_id)
    mediator = str(Actor.account(await account_id(core, "demo-mediator")))
    assert full["names"][mediator] == "王建国"
    about = {str(Actor.of_pid(e["data"]["pid"])) for e in full["events"] if isinstance(e["data"].get("pid"), str)}
    assert "李秀英" in {full["names"].get(a) for a in about}  # whom a session entry is about, by name
    assert not [a for a in full["names"] if a.startswith(("system:", "recorder:"))]
    expert = await events_for(sign_in, "demo-expert", case_log.case_id)
    readable = {e["actor"] for e in expert["events"] if not e["redacted"]}
    assert set(expert["names"]) <= readable | {
        str(Actor.of_pid(e["data"]["pid"])) for e in expert["events"] if not e["redacted"] and "pid" in e["data"]
    }
    only_in_b = {e["actor"] for e in full["events"] if e["session_id"] == case_log.session_b} - readable
    assert only_in_b and not (only_in_b & set(expert["names"]))


async def test_entry_times_always_carry_six_digits_of_microseconds(sign_in: SignIn, case_log: CaseLog):
    """`at` is fixed-width UTC with microseconds even when they are zero, for every viewer, since the
    hash covers the string as served."""
    for username in ("demo-mediator", "demo-expert"):
        events = (await events_for(sign_in, username, case_log.case_id))["events"]
        assert all(WIRE_TIME.match(e["at"]) for e in events), [e["at"] for e in events]
        assert "2026-11-29T09:30:00.000000+00:00" in {e["at"] for e in events}  # the whole-second entry
        assert any(not e["at"].endswith(".000000+00:00") for e in events)


async def test_a_revoked_invitation_to_the_other_session_opens_nothing_of_it(
    sign_in: SignIn, core: Core, world: World, case_log: CaseLog
):
    """Only a valid invitation counts: the expert invited to session B and then revoked still reads
    nothing of B (and still everything of A they read before)."""
    mediator = world.principals["demo-mediator"]
    expert_id = await account_id(core, "demo-expert")
    before = {e["seq"]: e["redacted"] for e in (await events_for(sign_in, "demo-expert", case_log.case_id))["events"]}
    inv = await invitations.issue(core, mediator, case_log.session_b, role=SessionRole.expert, account_id=expert_id)
    await invitations.revoke(core, mediator, inv.id, "请错了专家")
    body = await events_for(sign_in, "demo-expert", case_log.case_id)
    assert body["chain"]["ok"] is True
    after = {e["seq"]: e for e in body["events"]}
    assert {seq: after[seq]["redacted"] for seq in before} == before
    new = [e for seq, e in after.items() if seq not in before]
    assert [e["kind"] for e in new] == ["invitation.issued", "invitation.revoked"]
    assert all(e["redacted"] for e in new)
    assert all(e["redacted"] for e in after.values() if e.get("session_id") == case_log.session_b)
    verify_as_documented(body["events"])


@pytest.mark.parametrize("role", ["applicant", "expert"])
async def test_a_join_link_holder_is_refused_the_log(client: Any, world: World, case_log: CaseLog, role: str):
    """Parties never read the log; neither does the expert while signed in only by their join link."""
    await join_as(client, world, role)
    await expect_error(await client.get(f"{V1}/cases/{case_log.case_id}/events"), 403, "forbidden")


@pytest.mark.parametrize("username", ["other-mediator", "other-reviewer"])
async def test_staff_outside_the_case_get_not_found(sign_in: SignIn, world: World, case_log: CaseLog, username: str):
    """Staff of another district cannot tell the case exists: 404, as for the case itself."""
    caller = await sign_in(username)
    await expect_error(await caller.get(f"{V1}/cases/{case_log.case_id}/events"), 404, "not_found")
    await expect_error(await caller.get(f"{V1}/cases/{uuid.uuid4()}/events"), 404, "not_found")
