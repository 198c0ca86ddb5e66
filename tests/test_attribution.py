"""Who caused each case-log entry (issue 9, item 6): for every kind of entry the product
writes, through every door, the entry's `actor` names whoever started the action.

Actors are `account:<account id>` (a staff member, signed in), `invitation:<invitation id>`
(whoever holds that join link, even one bound to an account), `recorder:<recording id>` (the
recorder worker of one run) and `system:<reason>` (server/domain/actors.py). Each test below
drives one door the way its users do, and after each action asserts the exact list of
`(kind, actor)` of the entries that action added to the log, read from the database:

- the CLI: `heshi demo` in a subprocess, as an operator runs it: `system:cli`;
- REST (/api/v1): cases, transitions, parties, sessions, invitations issued and revoked, by two
  different staff members, so that an entry naming the wrong one of them is caught;
- pages (HTML forms with their CSRF token), and a join link opened through its page;
- the socket: join, live, admit, deny, remove (and the links they withdraw: the moderator's
  account), chat, rejoin, leave, end, and the server's own grace expiry and idle end
  (FrozenClock and a direct sweep, as tests/signaling/test_reconnect.py does);
- the recorder: real worker processes and aiortc peers: consent, start and stop (room and
  REST), segments, a track it cannot record (H.264), a read-only disk, a disk with no room
  left, a recorder that cannot start, a node restart (`evidence.interrupt_orphaned`, as a
  restarted node calls it) and a lost room, the download made at the end and on request, and
  each viewing of it.

The last test checks that together they saw every kind of ENTRY_KINDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from sqlalchemy import select

from recordings import composite, evidence, files
from server.config import Settings, load_settings
from server.domain.actors import Actor
from server.domain.caselog import ENTRY_KINDS
from server.services import eventlog, invitations, nodes, sessions
from server.services.core import Core
from server.services.retention import Retention
from server.storage.models import CaseEvent, Invitation, Party
from tests.agreements.helpers import SIGNATURE, join_csrf
from tests.api.conftest import cookie_value, org_id
from tests.confirmations.conftest import COURT_SECRET, Receiver, locked_agreement, set_court
from tests.conftest import TEST_SECRET, World, api_login
from tests.pages.helpers import enter_link, path_of, sign_in
from tests.recordings.media import PatternVideoTrack, SineAudioTrack
from tests.recordings.sender import prefer
from tests.retention.recorded import people, record_session
from tests.signaling.conftest import live  # noqa: F401 — the live-node fixture
from tests.signaling.harness import Participant, staff_cookie, staff_http
from tests.support.waiting import wait_for

HESHI = Path(sys.executable).with_name("heshi")

# Kinds whose actor the tests of this module checked, filled as they go; the last test reads it.
OBSERVED: set[str] = set()

# Kinds that cannot be produced on this machine, each with the reason. Empty: every kind is.
UNPRODUCIBLE: dict[str, str] = {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # One-second segments (as in tests/recordings): a second of media makes a finished segment.
    return load_settings(
        env={},
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        secret_key=TEST_SECRET,
        public_url="http://heshi.test",
        recording_segment_seconds=1,
    )


# ---- the log, read from the database ------------------------------------------------------

Entry = tuple[str, str]  # (kind, actor)


class Ledger:
    """The entries added since the last look, in the order they were written, across all cases."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.seen: set[int] = set()

    async def _all(self) -> list[CaseEvent]:
        async with self.core.db.read() as s:
            return list((await s.execute(select(CaseEvent).order_by(CaseEvent.id))).scalars())

    async def begin(self) -> None:
        """Everything written so far (the fixtures' set-up) is not under test."""
        self.seen = {e.id for e in await self._all()}

    async def fresh(self) -> list[CaseEvent]:
        return [e for e in await self._all() if e.id not in self.seen]

    async def expect(
        self,
        ordered: list[Entry],
        floating: dict[Entry, int] | None = None,
        *,
        until: Any = None,
        timeout: float = 30.0,
    ) -> list[CaseEvent]:
        """The new entries are exactly `ordered`, in order, plus entries written in the
        background (`floating`: each (kind, actor) at least that many times, in any place).
        With `until`, wait (up to `timeout` s) until it holds for the new entries first."""
        floating = floating or {}
        floating_kinds = {k for k, _ in floating}
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            new = await self.fresh()
            if until is None or until(new):
                break
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for the log; new entries: {pairs(new)}")
            await asyncio.sleep(0.1)
        fixed = [(e.kind, e.actor) for e in new if e.kind not in floating_kinds]
        assert fixed == ordered, f"expected {ordered}, the log has {pairs(new)}"
        background = [(e.kind, e.actor) for e in new if e.kind in floating_kinds]
        wrong = [x for x in background if x not in floating]
        assert not wrong, f"entries naming the wrong actor: {wrong}; expected only {list(floating)}"
        for key, least in floating.items():
            assert background.count(key) >= least, f"{key}: {background.count(key)} entries, expected ≥ {least}"
        self.seen |= {e.id for e in new}
        OBSERVED.update(e.kind for e in new)
        return new

    async def nothing_new(self) -> None:
        assert not (new := await self.fresh()), f"unexpected entries: {pairs(new)}"


def pairs(events: list[CaseEvent]) -> list[Entry]:
    return [(e.kind, e.actor) for e in events]


def has(kind: str, n: int = 1) -> Any:
    return lambda new: sum(e.kind == kind for e in new) >= n


def account(world: World, username: str) -> str:
    return f"account:{world.principals[username].account_id}"


def holder(invitation_id: str) -> str:
    return f"invitation:{invitation_id}"


def recorder(recording_id: str) -> str:
    return f"recorder:{recording_id}"


async def demo_invitations(core: Core, session_id: str) -> dict[str, str]:
    async with core.db.read() as s:
        rows = (
            await s.execute(select(Invitation.role, Invitation.id).where(Invitation.session_id == session_id))
        ).all()
    return {role: inv_id for role, inv_id in rows}


async def chain_ok(core: Core, case_id: str) -> None:
    async with core.db.read() as s:
        check = await eventlog.verify(s, case_id)
    assert check.ok, check


# ---- the CLI ------------------------------------------------------------------------------


def test_cli_entries_name_the_system_at_the_command_line(database_url: str, tmp_path: Path) -> None:
    """`heshi demo`, run by an operator, writes the demo case: every entry is `system:cli`. (No
    other command writes to a case log: create-org and create-user touch no case.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESHI_")}
    env.update(HESHI_DATA_DIR=str(tmp_path / "cli"), HESHI_DATABASE_URL=database_url)
    done = subprocess.run(
        [str(HESHI), "demo", "--json"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    demo = json.loads(done.stdout)

    async def read() -> list[tuple[str, str, str, str | None]]:
        core = Core.build(load_settings(env={}, data_dir=str(tmp_path / "cli"), database_url=database_url))
        try:
            async with core.db.read() as s:
                rows = (await s.execute(select(CaseEvent).order_by(CaseEvent.id))).scalars().all()
                return [(e.case_id, e.kind, e.actor, e.session_id) for e in rows]
        finally:
            await core.close()

    logged = asyncio.run(read())
    assert {case for case, _, _, _ in logged} == {demo["case_id"], demo["concluded_case_id"]}
    expected = [
        ("case.created", "system:cli"),
        ("case.transitioned", "system:cli"),
        ("session.scheduled", "system:cli"),
    ] + [("invitation.issued", "system:cli")] * 4
    recorded = demo["recorded_session_id"]
    got = [(kind, actor) for case, kind, actor, sid in logged if case == demo["case_id"] and sid != recorded]
    assert got == expected, f"`heshi demo` wrote {got}"
    # The demo case's earlier, recorded session: the command line wrote it all, standing in for
    # the room, except the segments, which the recorder's evidence path logs as the recorder.
    # Its kinds are not counted as observed either.
    assert {actor for _, kind, actor, sid in logged if sid == recorded and kind != "recording.segment"} == {
        "system:cli"
    }
    segments = {actor for _, kind, actor, sid in logged if sid == recorded and kind == "recording.segment"}
    assert len(segments) == 1 and next(iter(segments)).startswith("recorder:"), segments
    # The concluded case is all the command line's doing, signatures included. Its kinds are not
    # counted as observed: each must still be covered through its own real door below.
    concluded = {actor for case, _, actor, _ in logged if case == demo["concluded_case_id"]}
    assert concluded == {"system:cli"}, f"`heshi demo` wrote {concluded} in the concluded case"
    OBSERVED.update(kind for kind, _ in expected)


# ---- REST ---------------------------------------------------------------------------------


class Api:
    """One signed-in API client (its own cookie jar) with its CSRF token."""

    def __init__(self, client: Any, csrf: str) -> None:
        self.client, self.csrf = client, csrf

    async def post(self, path: str, body: Any, status: int) -> Any:
        resp = await self.client.post(f"/api/v1{path}", json=body, headers={"X-CSRF-Token": self.csrf})
        assert resp.status == status, f"{path}: {resp.status} {await resp.text()}"
        return await resp.json()


async def api_client(aiohttp_client: Any, client: Any, world: World, username: str) -> Api:
    c = await aiohttp_client(client.server)
    return Api(c, await api_login(c, username, world.passwords[username]))


async def test_rest_entries_name_the_signed_in_caller(aiohttp_client, client, core, world):
    ledger = Ledger(core)
    mediator = await api_client(aiohttp_client, client, world, "demo-mediator")
    admin = await api_client(aiohttp_client, client, world, "demo-admin")
    M, A = account(world, "demo-mediator"), account(world, "demo-admin")
    await ledger.begin()

    parties = [{"side": "applicant", "name": "张三"}, {"side": "respondent", "name": "李四"}]
    case = await mediator.post(
        "/cases",
        {"title": "相邻关系纠纷", "dispute_type": "neighbour", "source": "self_applied", "parties": parties},
        201,
    )
    await ledger.expect([("case.created", M)])
    # An admin creates a case in the mediator's org, naming them its mediator: the entry names the admin.
    await admin.post(
        "/cases",
        {
            "title": "土地纠纷",
            "dispute_type": "land",
            "source": "on_site",
            "parties": parties,
            "org_id": case["org_id"],
            "mediator_id": world.principals["demo-mediator"].account_id,
        },
        201,
    )
    await ledger.expect([("case.created", A)])
    await admin.post(f"/cases/{case['id']}/transitions", {"to": "accepted"}, 200)
    await ledger.expect([("case.transitioned", A)])
    await mediator.post(f"/cases/{case['id']}/transitions", {"to": "mediating"}, 200)
    await ledger.expect([("case.transitioned", M)])
    await mediator.post(f"/cases/{case['id']}/parties", {"side": "respondent", "name": "王五"}, 201)
    await ledger.expect([("party.added", M)])
    await admin.post(f"/cases/{case['id']}/parties", {"side": "applicant", "name": "赵六"}, 201)
    await ledger.expect([("party.added", A)])
    session = await mediator.post(f"/cases/{case['id']}/sessions", {"scheduled_at": "2026-12-01T09:30:00+08:00"}, 201)
    await ledger.expect([("session.scheduled", M)])
    await admin.post(f"/cases/{case['id']}/sessions", {"scheduled_at": "2026-12-02T09:30:00+08:00"}, 201)
    await ledger.expect([("session.scheduled", A)])
    applicant = next(p for p in case["parties"] if p["side"] == "applicant")
    inv = await mediator.post(
        f"/sessions/{session['id']}/invitations", {"role": "applicant", "party_id": applicant["id"]}, 201
    )
    await ledger.expect([("invitation.issued", M)])
    observer = await admin.post(
        f"/sessions/{session['id']}/invitations", {"role": "observer", "display_name": "村委会主任"}, 201
    )
    await ledger.expect([("invitation.issued", A)])
    # The party opens the link the mediator sent: the entry names the link, not who issued it.
    party = await aiohttp_client(client.server)
    assert (await enter_link(party, path_of(inv["link"]), allow_redirects=False)).status == 302
    await ledger.expect([("invitation.opened", holder(inv["id"]))])
    await admin.post(f"/invitations/{inv['id']}/revoke", {"reason": "发错了人"}, 200)
    await ledger.expect([("invitation.revoked", A)])
    await mediator.post(f"/invitations/{observer['id']}/revoke", {}, 200)
    await ledger.expect([("invitation.revoked", M)])
    await ledger.nothing_new()
    await chain_ok(core, case["id"])


# ---- pages --------------------------------------------------------------------------------


async def test_page_form_entries_name_the_signed_in_staff_member(aiohttp_client, client, core, world):
    ledger = Ledger(core)
    M, A = account(world, "demo-mediator"), account(world, "demo-admin")
    csrf = await sign_in(client, "demo-mediator", world.passwords["demo-mediator"])
    admin = await aiohttp_client(client.server)
    admin_csrf = await sign_in(admin, "demo-admin", world.passwords["demo-admin"])
    await ledger.begin()

    async def form(c: Any, path: str, token: str, **fields: str) -> str:
        resp = await c.post(path, data={"csrf_token": token, **fields}, allow_redirects=False)
        assert resp.status == 302, f"{path}: {resp.status} {await resp.text()}"
        return resp.headers["Location"]

    location = await form(
        client,
        "/cases/new",
        csrf,
        title="宅基地纠纷",
        dispute_type="land",
        source="on_site",
        party0_side="applicant",
        party0_name="张三",
        party1_side="respondent",
        party1_name="李四",
    )
    case_id = location.rsplit("/", 1)[1]
    await ledger.expect([("case.created", M)])
    await form(client, f"/cases/{case_id}/transition", csrf, to="accepted")
    await ledger.expect([("case.transitioned", M)])
    await form(admin, f"/cases/{case_id}/transition", admin_csrf, to="mediating")
    await ledger.expect([("case.transitioned", A)])
    await form(client, f"/cases/{case_id}/sessions", csrf, scheduled_at="2026-12-02T09:30", title="第一次调解")
    (scheduled,) = await ledger.expect([("session.scheduled", M)])
    session_id = scheduled.session_id
    await form(admin, f"/cases/{case_id}/sessions", admin_csrf, scheduled_at="2026-12-03T09:30")
    await ledger.expect([("session.scheduled", A)])
    async with core.db.read() as s:
        party_id = (
            await s.execute(select(Party.id).where(Party.case_id == case_id, Party.side == "applicant"))
        ).scalar_one()
    await form(
        client, f"/sessions/{session_id}/invitations", csrf, role="applicant", party_id=party_id, entry="default"
    )
    (issued,) = await ledger.expect([("invitation.issued", M)])
    await form(admin, f"/sessions/{session_id}/invitations", admin_csrf, role="observer", display_name="旁听人员")
    (observer,) = await ledger.expect([("invitation.issued", A)])
    inv_id, observer_id = issued.data["invitation_id"], observer.data["invitation_id"]
    # The join link's page and its form: the holder of the link opened it.
    async with core.db.read() as s:
        link = invitations.link_for(core, await s.get(Invitation, inv_id))
    party = await aiohttp_client(client.server)
    assert (await enter_link(party, path_of(link), allow_redirects=False)).status == 302
    await ledger.expect([("invitation.opened", holder(inv_id))])
    await form(admin, f"/invitations/{inv_id}/revoke", admin_csrf, reason="当事人更换手机")
    await ledger.expect([("invitation.revoked", A)])
    await form(client, f"/invitations/{observer_id}/revoke", csrf)
    await ledger.expect([("invitation.revoked", M)])
    await ledger.nothing_new()
    await chain_ok(core, case_id)


# ---- the socket ---------------------------------------------------------------------------


async def drop(live: Any, p: Participant, session_id: str) -> None:
    """The connection goes away as after a network drop; returns once the server noticed."""
    pid = p.pid
    await p.sio.eio.disconnect(abort=True)
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        room = await live.signaling.store.view(session_id)
        seat = room.seats.get(pid) if room is not None else None
        if not p.sio.connected and (seat is None or not seat.connected):
            return
        assert asyncio.get_running_loop().time() < deadline, "the server did not notice the drop"
        await asyncio.sleep(0.02)


async def test_socket_entries_name_the_participant_or_the_moderator_and_the_system_its_reason(live, core):
    world = live.world
    ledger = Ledger(core)
    inv = await demo_invitations(core, live.session_id)
    M = account(world, "demo-mediator")
    await ledger.begin()

    # The mediator joins from the case page (signed in as staff): their account, and the session goes live.
    mediator = await live.staff("demo-mediator")
    await mediator.join()
    await ledger.expect([("session.join", M), ("session.live", M)])
    applicant = await live.person("applicant")  # opens the join link (its page posts its form)
    await ledger.expect([("invitation.opened", holder(inv["applicant"]))])
    await applicant.join()
    await ledger.expect([("session.join", holder(inv["applicant"]))])
    assert (await mediator.call("lobby.admit", {"pids": [applicant.pid]}))["admitted"] == [applicant.pid]
    await ledger.expect([("session.admit", M)])

    # The rights notice: presented by the mediator, acknowledged on the party's own device.
    presented = await mediator.call("notice.present")
    assert presented["ok"], presented
    await ledger.expect([("session.notice_presented", M)])
    ack = await applicant.call("notice.acknowledge", {"notice_sha256": presented["notice_sha256"], "language": "zh"})
    assert ack["ok"], ack
    await ledger.expect([("session.notice_acknowledged", holder(inv["applicant"]))])

    # Denied in the lobby, removed from the room: the link is withdrawn too, by the mediator.
    respondent = await live.person("respondent")
    await respondent.join()
    await ledger.expect([("invitation.opened", holder(inv["respondent"])), ("session.join", holder(inv["respondent"]))])
    assert (await mediator.call("lobby.deny", {"pid": respondent.pid, "reason": "身份未核实"}))["ok"]
    await ledger.expect([("invitation.revoked", M), ("session.deny", M)])
    expert = await live.person("expert")
    await expert.join()  # direct entry: the mediator is there
    await ledger.expect([("invitation.opened", holder(inv["expert"])), ("session.join", holder(inv["expert"]))])
    assert (await mediator.call("moderation.remove", {"pid": expert.pid, "reason": "扰乱秩序"}))["ok"]
    await ledger.expect([("invitation.revoked", M), ("session.remove", M)])

    # Chat names its sender: a link holder, and the signed-in mediator.
    assert (await applicant.call("chat.send", {"client_id": "a1", "text": "您好"}))["ok"]
    await ledger.expect([("chat.message", holder(inv["applicant"]))])
    assert (await mediator.call("chat.send", {"client_id": "m1", "text": "请稍等", "to": applicant.pid}))["ok"]
    await ledger.expect([("chat.message", M)])

    # A reload takes the seat back; the same link on another page.
    reloaded = Participant(live.base_url, live.session_id, join=applicant.cookies["heshi_join"])
    live.people.append(reloaded)
    await reloaded.join()
    await ledger.expect([("session.rejoin", holder(inv["applicant"]))])

    # The mediator's own link (bound to their account): the link is what let them in.
    by_link = await live.person("mediator")
    await by_link.join()
    await ledger.expect([("invitation.opened", holder(inv["mediator"])), ("session.join", holder(inv["mediator"]))])
    assert (await by_link.call("room.leave", {}))["ok"]
    await ledger.expect([("session.leave", holder(inv["mediator"]))])

    # The applicant's network drops and they do not come back: the server releases the seat.
    await drop(live, reloaded, live.session_id)
    core.clock.advance(seconds=core.settings.session_grace_seconds + 1)
    await live.signaling.service.sweep()
    await ledger.expect([("session.leave", "system:grace-expired")], until=has("session.leave"))

    assert (await mediator.call("session.end", {"reason": "本次结束"}))["ok"]
    await ledger.expect([("session.ended", M), ("session.end", M)])

    # A second session idles out: nobody connected for session_idle_minutes.
    session = await sessions.schedule_session(
        core, world.principals["demo-mediator"], world.demo.case_id, scheduled_at=core.clock.now(), title="第二次调解"
    )
    await ledger.expect([("session.scheduled", M)])
    second = Participant(
        live.base_url,
        session.id,
        staff=await staff_cookie(live.base_url, "demo-mediator", world.passwords["demo-mediator"]),
    )
    live.people.append(second)
    await second.join()
    await ledger.expect([("session.join", M), ("session.live", M)])
    await drop(live, second, session.id)
    core.clock.advance(minutes=core.settings.session_idle_minutes + 1)
    await live.signaling.service.sweep()
    await ledger.expect(
        [
            ("session.leave", "system:grace-expired"),
            ("session.ended", "system:idle-timeout"),
            ("session.end", "system:idle-timeout"),
        ],
        until=has("session.end"),
    )
    await ledger.nothing_new()
    await chain_ok(core, world.demo.case_id)


# ---- the recorder -------------------------------------------------------------------------


async def offer_to_recorder(p: Participant, video_mime: str, frames: int) -> tuple[RTCPeerConnection, list[Any]]:
    """Send `frames` video frames (of `video_mime` first) and as much audio to the recorder,
    as tests/recordings/sender.py does; returns the connection and its tracks."""
    tracks = [PatternVideoTrack(frames), SineAudioTrack(frames * 5 // 3)]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for track in tracks:
        prefer(pc.addTransceiver(track, direction="sendonly"), video_mime if track.kind == "video" else "audio/opus")
    await pc.setLocalDescription(await pc.createOffer())
    seen = len([s for s in p.signals if s["from"] == "recorder" and s["type"] == "answer"])
    assert (await p.call("signal", {"to": "recorder", "type": "offer", "sdp": pc.localDescription.sdp})) == {"ok": True}
    answers = await p.wait_for(
        lambda: (a := [s for s in p.signals if s["from"] == "recorder" and s["type"] == "answer"])[seen:] and a,
        timeout=20,
        what="the recorder's answer",
    )
    await pc.setRemoteDescription(RTCSessionDescription(answers[-1]["sdp"], "answer"))
    return pc, tracks


async def next_event(p: Participant, since: int, type_: str, timeout: float = 30, **match: Any) -> dict[str, Any]:
    """The first event of this type after the first `since` events, with these data values."""

    def find() -> dict[str, Any] | None:
        return next(
            (
                e
                for e in p.events[since:]
                if e["type"] == type_ and all(e["data"].get(k) == v for k, v in match.items())
            ),
            None,
        )

    return await p.wait_for(find, timeout, what=f"{type_} {match}")


@contextlib.contextmanager
def tmpfs(mount: Path, options: str) -> Iterator[None]:
    """A small tmpfs over `mount` (root, as tests/support/tmpfs.py needs too): a read-only
    one, or one with no inode left, so the disk fails for real."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"cannot mount a tmpfs at {mount} (the tests run as root): {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


class NoWorkers:
    """Recorders that start no process (for the restart steps, where no media flows)."""

    def __init__(self) -> None:
        self.on_exit: Any = None
        self.closing = False

    async def launch(self, **kw: str) -> None:
        pass

    def running(self, recording_id: str) -> bool:
        return False

    async def wait(self, recording_id: str, timeout: float) -> bool:
        return True

    async def close(self) -> None:
        self.closing = True


async def test_recording_entries_name_who_started_consented_stopped_viewed_or_the_recorder(live, core):
    world, session_id, case_id = live.world, live.session_id, live.world.demo.case_id
    launcher = live.signaling.recorders
    ledger = Ledger(core)
    inv = await demo_invitations(core, session_id)
    M, A, R = account(world, "demo-mediator"), account(world, "demo-admin"), account(world, "demo-reviewer")
    EXP, APP = holder(inv["expert"]), holder(inv["applicant"])
    folder = files.session_dir(Path(core.settings.data_dir), case_id, session_id)
    http = {
        u: await staff_http(live.base_url, u, world.passwords[u])
        for u in ("demo-mediator", "demo-admin", "demo-reviewer")
    }
    rest = f"{live.base_url}/api/v1/sessions/{session_id}/recording"
    pcs: list[RTCPeerConnection] = []

    async def post(username: str, path: str, status: int, body: Any = None) -> Any:
        async with http[username].post(rest + path, json=body) as r:
            assert r.status == status, await r.text()
            return await r.json()

    async def answer() -> None:
        """The expert agrees, the applicant refuses: each answer is logged in its own name."""
        assert (await expert.call("recording.consent", {"consent": True, "language": "en"}))["ok"]
        assert (await applicant.call("recording.consent", {"consent": False}))["ok"]

    def run_of(events: list[CaseEvent]) -> str:
        return next(e.data["recording_id"] for e in events if e.kind == "recording.started")

    try:
        mediator = await live.staff("demo-mediator")  # from the case page: their account
        await mediator.join()
        expert = await live.person("expert")
        await expert.join()
        applicant = await live.person("applicant")
        await applicant.join()
        assert (await mediator.call("lobby.admit", {"pids": [applicant.pid]}))["ok"]
        await ledger.begin()

        # Run 1: the mediator starts it in the room; each answer names who answered; the
        # recorder names itself for every segment and for a track it cannot record (H.264); an
        # admin stops it over the API.
        since = len(mediator.events)
        assert (await mediator.call("recording.start"))["ok"]
        run1 = run_of(await ledger.expect([("recording.started", M)]))
        await answer()
        await ledger.expect([("recording.consent", EXP), ("recording.consent", APP)])
        await next_event(mediator, since, "recording.updated", state="on", recorder_ready=True)
        sent = [await offer_to_recorder(mediator, "video/vp8", 30), await offer_to_recorder(expert, "video/h264", 30)]
        pcs += [pc for pc, _ in sent]

        async def all_sent() -> bool:
            return all(t.sent >= t.frames for _, ts in sent for t in ts)

        await wait_for(all_sent, 20, "the media to be sent")
        logged = await ledger.expect(
            [],
            {("recording.track_error", recorder(run1)): 1, ("recording.segment", recorder(run1)): 0},
            until=has("recording.track_error"),
        )
        await post("demo-admin", "/stop", 200, {"reason": "休息"})
        assert await launcher.wait(run1, 30), "the recorder reports its last segments and exits"
        logged += await ledger.expect([("recording.stopped", A)], {("recording.segment", recorder(run1)): 0})
        for pc in pcs:
            await pc.close()
        pcs.clear()
        segments = await evidence.segments_of(core, session_id)
        tracks = {(s.pid, s.kind) for s in segments}
        assert {(mediator.pid, "video"), (mediator.pid, "audio"), (expert.pid, "audio")} <= tracks
        assert (expert.pid, "video") not in tracks, "the H.264 track is not recordable"
        # Every segment was logged, each by the recorder (checked above).
        logged_ids = sorted(e.data["segment_id"] for e in logged if e.kind == "recording.segment")
        assert logged_ids == sorted(s.id for s in segments)

        # Run 2, started over the API by the mediator, on a disk that turned read-only: the
        # recorder reports the error and stops the run.
        with tmpfs(folder, "size=256k,ro"):
            since = len(mediator.events)
            await post("demo-mediator", "/start", 202)
            run2 = run_of(await ledger.expect([("recording.started", M)]))
            await answer()
            await ledger.expect([("recording.consent", EXP), ("recording.consent", APP)])
            await next_event(mediator, since, "recording.updated", state="on", recorder_ready=True)
            pc, _ = await offer_to_recorder(mediator, "video/vp8", 60)
            pcs.append(pc)
            stopped = await next_event(mediator, since, "recording.updated", state="off")
            assert stopped["data"]["stop_reason"] == "disk_error"
            await ledger.expect(
                [("recording.disk_error", recorder(run2)), ("recording.stopped", recorder(run2))],
                until=has("recording.stopped"),
            )
            await pc.close()
            pcs.clear()
            assert await launcher.wait(run2, 30)

        # Runs 3 and 4: the recorder cannot even start: no room left on the disk (no inode for
        # its directory: ENOSPC, `disk_full`), then a read-only disk (EROFS: the launcher calls
        # any other failure to start `error`). The node logs both for the run's recorder.
        for options, kind in (("size=64k,nr_inodes=1", "recording.disk_full"), ("size=64k,ro", "recording.error")):
            with tmpfs(folder.parent, options):
                assert (await mediator.call("recording.start"))["ok"]  # answered once the run is closed
                run = run_of(await ledger.fresh())
                await ledger.expect(
                    [("recording.started", M), (kind, recorder(run)), ("recording.stopped", recorder(run))]
                )

        # Run 5, started over the API by an admin: the node restarts (a process of the same
        # name comes up and interrupts what the old one ran); people rejoin, and whoever's
        # join makes the room again resumes it. Then the room alone is lost.
        live.signaling.supervisor.recorders = NoWorkers()
        await post("demo-admin", "/start", 202)
        run5 = run_of(await ledger.expect([("recording.started", A)]))
        restarted = await nodes.register(core, live.signaling.node.name)
        alive = await nodes.live_nodes(core, restarted)  # the old process, of the same name, is not
        assert [o.recording_id for o in await evidence.interrupt_orphaned(core, alive, restarted.name)] == [run5]
        await ledger.expect([("recording.interrupted", "system:node-restart")])
        await live.signaling.store.update(session_id, lambda room: (None, None))  # the new process has no rooms
        assert (await mediator.call("room.join", {}))["ok"]
        # The rejoin resumes the run before it takes its seat (a join that then fails leaves it resumed).
        await ledger.expect([("recording.resumed", M), ("session.join", M)])
        await live.signaling.store.update(session_id, lambda room: (None, None))
        assert (await expert.call("room.join", {}))["ok"]
        await ledger.expect(
            [("recording.interrupted", "system:room-lost"), ("recording.resumed", EXP), ("session.join", EXP)]
        )
        assert (await mediator.call("room.join", {}))["ok"]
        await ledger.expect([("session.join", M)])

        # The mediator ends the session while recording: the run stops, and the download is
        # made, both in their name.
        assert (await mediator.call("session.end", {"reason": "调解结束"}))["ok"]
        await ledger.expect(
            [("recording.stopped", M), ("session.ended", M), ("session.end", M)],
            {("recording.composite", M): 1},
            until=has("recording.composite"),
        )
        made = await composite.status(core, session_id)
        assert made is not None and made.status == "done", made and made.error

        # Each viewing names the viewer; a download made again names who asked for it.
        for username, who in (("demo-reviewer", R), ("demo-admin", A)):
            async with http[username].get(rest + "/composite.webm") as r:
                assert r.status == 200, await r.text()
                await r.read()
            await ledger.expect([("recording.accessed", who)])
        # Reviewing the session names the reviewer: opening its review, then playing one of its
        # tracks through the URL the review gave (bound to this browser's sign-in).
        async with http["demo-reviewer"].get(f"{live.base_url}/api/v1/sessions/{session_id}/review") as r:
            assert r.status == 200, await r.text()
            review = await r.json()
        await ledger.expect([("recording.reviewed", R)])
        url = next(t["url"] for t in review["tracks"] if t["url"])
        async with http["demo-reviewer"].get(live.base_url + url, headers={"Range": "bytes=0-99"}) as r:
            assert r.status == 206, await r.text()
        await ledger.expect([("recording.accessed", R)])
        await post("demo-admin", "/composite", 202)
        await ledger.expect([], {("recording.composite", A): 1}, until=has("recording.composite"))
        await ledger.nothing_new()
        await chain_ok(core, case_id)
    finally:
        for pc in pcs:
            await pc.close()
        for h in http.values():
            await h.close()


# ---- documents: minutes, agreements, signatures, judicial confirmation ------------------


async def test_document_entries_name_who_wrote_signed_or_sent_them(aiohttp_client, client, core, world):
    """Over REST as their users do it: the mediator saves the minutes and makes and revises an
    agreement; each party signs on their own device through their join link (their
    invitation), the mediator signs signed in and the last signature locks; the package goes
    to a court (the mediator asks, the delivery loop sends: `system:court-delivery`), and a
    court that refuses fails it."""
    ledger = Ledger(core)
    case_id, session_id = world.demo.case_id, world.demo.session_id
    inv = await demo_invitations(core, session_id)
    M = account(world, "demo-mediator")
    V1 = "/api/v1"
    receiver = Receiver(COURT_SECRET, core.clock.now)
    await receiver.start()
    try:
        await set_court(core, "DEMO", receiver.url)
        mediator = await api_client(aiohttp_client, client, world, "demo-mediator")
        await ledger.begin()

        # The minutes: one revision saved by the mediator.
        minutes_url = f"{V1}/sessions/{session_id}/minutes"
        got = await mediator.client.get(minutes_url)
        saved = await mediator.client.put(
            minutes_url,
            json={"result": "双方达成调解协议。"},
            headers={"X-CSRF-Token": mediator.csrf, "If-Match": got.headers["ETag"]},
        )
        assert saved.status in (200, 201), await saved.text()
        await ledger.expect([("minutes.saved", M)])

        # An agreement, made and then revised by the mediator.
        term = {"obligation": "支付护理费", "obligor": "清水镇卫生院", "amount": "12000", "deadline": "2026-12-31"}
        term["manner"] = "银行转账"
        made = await mediator.post(
            f"/cases/{case_id}/agreements", {"template": "general", "terms": [term], "session_id": session_id}, 201
        )
        await ledger.expect([("agreement.created", M)])
        made = await mediator.post(f"/agreements/{made['id']}/versions", {"terms": [{**term, "amount": "15000"}]}, 201)
        await ledger.expect([("agreement.revised", M)])

        # Each party on their own device, through their link; the mediator last, which locks.
        parties = {}
        for role in ("applicant", "respondent"):
            c = await aiohttp_client(client.server)
            assert (await enter_link(c, path_of(world.demo.links[role]), allow_redirects=False)).status == 302
            await ledger.expect([("invitation.opened", holder(inv[role]))])
            parties[role] = Api(c, await join_csrf(core, cookie_value(c, "heshi_join")))
        image = SIGNATURE
        for role, name in (("applicant", "李秀英"), ("respondent", "赵院长")):
            sign = {"version_sha256": made["sha256"], "name": name, "image": image}
            await parties[role].post(f"/agreements/{made['id']}/signatures", sign, 201)
            await ledger.expect([("agreement.signed", holder(inv[role]))])
        sign = {"version_sha256": made["sha256"], "name": "王建国", "image": image}
        await mediator.post(f"/agreements/{made['id']}/signatures", sign, 201)
        await ledger.expect([("agreement.signed", M), ("agreement.locked", M)])

        # The minutes are signed the same way.
        state = await (await mediator.client.get(f"{minutes_url}/signatures")).json()
        for role, name in (("applicant", "李秀英"), ("respondent", "赵院长")):
            sign = {"version_sha256": state["sha256"], "name": name, "image": image}
            await parties[role].post(f"/sessions/{session_id}/minutes/signatures", sign, 201)
            await ledger.expect([("minutes.signed", holder(inv[role]))])
        sign = {"version_sha256": state["sha256"], "name": "王建国", "image": image}
        await mediator.post(f"/sessions/{session_id}/minutes/signatures", sign, 201)
        await ledger.expect([("minutes.signed", M), ("minutes.locked", M)])

        # Judicial confirmation: asked by the mediator, sent by the delivery loop.
        court = "system:court-delivery"
        await mediator.post(f"/cases/{case_id}/confirmation-requests", {"agreement_id": made["id"]}, 202)
        await ledger.expect(
            [("confirmation.requested", M), ("confirmation.attempted", court), ("confirmation.delivered", court)],
            until=has("confirmation.delivered"),
        )
        assert len(receiver.accepted) == 1

        # A court that refuses the package (4xx): failed at once, by the delivery loop.
        receiver.mode = "refuse"
        other = await locked_agreement(core, case_id)
        await ledger.expect([])  # written through storage only, as a set-up
        await mediator.post(f"/cases/{case_id}/confirmation-requests", {"agreement_id": other.agreement_id}, 202)
        await ledger.expect(
            [("confirmation.requested", M), ("confirmation.attempted", court), ("confirmation.failed", court)],
            until=has("confirmation.failed"),
        )
        await chain_ok(core, case_id)
    finally:
        await receiver.stop()


# ---- every kind ---------------------------------------------------------------------------


# ---- evidence exports, retention and legal hold (issue 12) ------------------------------------


async def test_export_entries_name_who_asked_who_downloaded_and_the_builder(aiohttp_client, client, core, world):
    """Over REST: the mediator asks for an export of the demo case and the app's builder makes
    it (`system:evidence-export`); the reviewer downloads it. A second export cannot be made,
    because a recorded segment's file changed on disk since the log recorded its SHA-256: the
    builder fails it, by the same name."""
    ledger = Ledger(core)
    case_id, session_id = world.demo.case_id, world.demo.session_id
    M, R, builder = account(world, "demo-mediator"), account(world, "demo-reviewer"), "system:evidence-export"
    mediator = await api_client(aiohttp_client, client, world, "demo-mediator")
    reviewer = await api_client(aiohttp_client, client, world, "demo-reviewer")
    await ledger.begin()

    made = await mediator.post(f"/cases/{case_id}/exports", None, 202)
    await ledger.expect([("export.requested", M), ("export.built", builder)], until=has("export.built"))
    resp = await reviewer.client.get(f"/api/v1/exports/{made['id']}.zip")
    assert resp.status == 200, await resp.text()
    await resp.read()
    await ledger.expect([("export.downloaded", R)])

    # A segment the recorder reported, whose file then changes on disk.
    run = await evidence.start_run(
        core,
        case_id=case_id,
        session_id=session_id,
        actor=Actor.account(world.principals["demo-mediator"].account_id),
        node_id=None,
    )
    rel = files.session_folder(case_id, session_id) / "a-c1-video-00000.webm"
    path = core.settings.data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"segment bytes")
    segment = {
        "pid": "a:x", "kind": "video", "codec": "vp8", "track": "t", "index": 0, "path": str(rel),
        "sha256": hashlib.sha256(b"segment bytes").hexdigest(), "bytes": 13, "frames": 1, "duration_s": 1.0,
        "first_wallclock": core.clock.now().timestamp(), "first_rtp_ts": 0, "sender_reports": [],
    }  # fmt: skip
    await evidence.save_segment(core, run.id, Actor.recorder(run.id), segment)
    await ledger.expect([("recording.started", M), ("recording.segment", recorder(run.id))])
    path.write_bytes(b"changed bytes")
    await mediator.post(f"/cases/{case_id}/exports", None, 202)
    await ledger.expect([("export.requested", M), ("export.failed", builder)], until=has("export.failed"))
    await chain_ok(core, case_id)


async def test_hold_and_retention_entries_name_who_held_released_or_deleted(aiohttp_client, client, core, world):
    """Over REST: an admin puts the demo case on legal hold and a reviewer over its org releases it,
    each saying why; an admin gives the org a retention period (orgs have no log: no entry). When
    the recorded session's files expire, the job deletes them: one `recording.deleted` per file,
    by `system:retention`."""
    ledger = Ledger(core)
    case_id, session_id = world.demo.case_id, world.demo.session_id
    A, R = account(world, "demo-admin"), account(world, "demo-reviewer")
    admin = await api_client(aiohttp_client, client, world, "demo-admin")
    reviewer = await api_client(aiohttp_client, client, world, "demo-reviewer")
    recorded = await record_session(
        core, case_id, session_id, people(("王建国", "mediator"), ("李秀英", "applicant")), seconds=1.5
    )
    await ledger.begin()
    await admin.post(f"/cases/{case_id}/hold", {"reason": "法院调取证据"}, 200)
    await ledger.expect([("case.hold_set", A)])
    resp = await reviewer.client.delete(
        f"/api/v1/cases/{case_id}/hold", json={"reason": "诉讼已结束"}, headers={"X-CSRF-Token": reviewer.csrf}
    )
    assert resp.status == 200, await resp.text()
    await ledger.expect([("case.hold_released", R)])
    resp = await admin.client.put(
        f"/api/v1/orgs/{await org_id(core, 'DEMO-QS')}/retention",
        json={"days": 30},
        headers={"X-CSRF-Token": admin.csrf},
    )
    assert resp.status == 200, await resp.text()
    await ledger.nothing_new()
    core.clock.advance(days=31)
    assert (await Retention(core).run_once()).deleted == len(recorded.segment_ids) == 8
    await ledger.expect([("recording.deleted", "system:retention")] * 8)
    await ledger.nothing_new()
    await chain_ok(core, case_id)


def test_every_kind_of_entry_was_seen_with_its_actor() -> None:
    """Runs last (pytest keeps file order): the tests above checked the actor of every kind the
    product writes, but for the few listed in UNPRODUCIBLE, each with its reason."""
    assert set(UNPRODUCIBLE) <= set(ENTRY_KINDS)
    assert all(reason.strip() for reason in UNPRODUCIBLE.values())
    missing = set(ENTRY_KINDS) - set(UNPRODUCIBLE) - OBSERVED
    assert not missing, f"no test checked the actor of: {sorted(missing)}"
    assert OBSERVED <= set(ENTRY_KINDS)
