"""The minutes and the rights notice live, over real Socket.IO connections."""

from __future__ import annotations

import json
from typing import Any

from server.services import eventlog
from server.services.core import Core
from tests.signaling.harness import Participant
from tests.support.waiting import never


async def room(live: Any) -> tuple[Participant, Participant, Participant]:
    """The mediator, and both parties admitted."""
    mediator = await live.person("mediator")
    await mediator.join()
    applicant = await live.person("applicant")
    respondent = await live.person("respondent")
    await applicant.join()
    await respondent.join()
    assert (await mediator.call("lobby.admit", {}))["ok"]
    await applicant.wait_event("participant.joined", where=lambda d: d["participant"]["pid"] == applicant.pid)
    return mediator, applicant, respondent


def save(base: int, save_id: str, **document: Any) -> dict[str, Any]:
    return {"base_revision": base, "save_id": save_id, "document": document}


async def test_the_mediator_saves_and_the_parties_see_it_update(live: Any, core: Core) -> None:
    mediator, applicant, respondent = await room(live)
    got = await applicant.call("minutes.get")
    assert got["ok"] and got["minutes"]["revision"] == 0
    entry = {"speaker": "王建国", "text": "调解开始", "at": "2026-12-05T09:00:00.000001+00:00"}
    ack = await mediator.call("minutes.save", save(0, "s1", entries=[entry], result="进行中"))
    assert ack["ok"] and ack["revision"] == 1 and len(ack["sha256"]) == 64 and not ack["duplicate"]
    for p in (applicant, respondent, mediator):
        e = await p.wait_event("minutes.updated", revision=1)
        assert e["data"]["sha256"] == ack["sha256"] and e["data"]["save_id"] == "s1"
        assert e["data"]["by"] == {
            "pid": mediator.pid,
            "name": mediator.joined["room"]["you"]["name"],
            "role": "mediator",
        }
        # The event names the revision; the text is fetched (and is what the sha256 names).
        assert "document" not in e["data"]
        assert e["data"]["changes"]["sections"] == ["entries", "result"]
        assert e["data"]["changes"]["counts"] == {"added": 1, "removed": 0, "changed": 0}
        got = (await p.call("minutes.get"))["minutes"]
        assert got["revision"] == 1 and got["sha256"] == e["data"]["sha256"]
        assert got["document"]["result"] == "进行中"
        assert got["document"]["entries"][0]["at"] == "2026-12-05T09:00:00.000001+00:00"
    async with core.db.read() as tx:
        [logged] = await eventlog.entries(tx, live.world.demo.case_id, kinds=("minutes.saved",))
    assert logged.data["sha256"] == ack["sha256"] and logged.actor.startswith("invitation:")


async def test_someone_waiting_in_the_lobby_neither_reads_nor_hears_the_minutes(live: Any) -> None:
    mediator = await live.person("mediator")
    await mediator.join()
    waiting = await live.person("applicant")
    await waiting.join()
    got = await waiting.call("minutes.get")
    assert not got["ok"] and got["error"]["code"] == "not_admitted"
    assert (await mediator.call("minutes.save", save(0, "s1", result="r")))["ok"]
    await mediator.wait_event("minutes.updated", revision=1)
    await never(lambda: waiting.of_type("minutes.updated"), 0.5, "a lobby seat got minutes.updated")


async def test_parties_may_not_save_and_a_stale_save_gets_the_conflict(live: Any) -> None:
    mediator, applicant, _ = await room(live)
    refused = await applicant.call("minutes.save", save(0, "p1", result="我写的"))
    assert not refused["ok"] and refused["error"]["code"] == "forbidden"
    assert (await mediator.call("minutes.save", save(0, "m1", result="一")))["ok"]
    stale = await mediator.call("minutes.save", save(0, "m2", result="二"))
    assert not stale["ok"]
    err = stale["error"]
    assert err["code"] == "conflict" and err["current_revision"] == 1 and err["changes"]["sections"] == ["result"]
    assert err["current"]["document"]["result"] == "一"
    assert (await applicant.call("minutes.get"))["minutes"]["revision"] == 1


async def test_bad_saves_get_clear_errors(live: Any) -> None:
    mediator, _, _ = await room(live)
    for payload, code in (
        ({"base_revision": 0, "save_id": "x", "document": {"result": "a\x00"}}, "invalid_input"),
        ({"base_revision": -1, "save_id": "x", "document": {}}, "invalid_input"),
        ({"base_revision": 0, "save_id": "bad id!", "document": {}}, "invalid_input"),
        ({"base_revision": 0, "save_id": "x", "document": {"reslt": ""}}, "invalid_input"),
        (save(0, "x", entries=[{"text": "a" * 9000} for _ in range(24)]), "payload_too_large"),
    ):
        ack = await mediator.call("minutes.save", payload)
        assert not ack["ok"] and ack["error"]["code"] == code, (payload.get("save_id"), ack)
    assert (await mediator.call("minutes.get"))["minutes"]["revision"] == 0


async def test_a_save_resent_after_a_dropped_connection_makes_one_revision(live: Any) -> None:
    mediator, applicant, _ = await room(live)
    queued = save(0, "queued-1", result="断线前写的")
    first = await mediator.call("minutes.save", queued)
    assert first["ok"]
    await mediator.sio.disconnect()  # the ack was lost with the connection, so the client resends
    await mediator.connect()
    await mediator.join(resume_token=mediator.joined["resume_token"])
    again = await mediator.call("minutes.save", queued)
    assert again["ok"] and again["revision"] == first["revision"] == 1 and again["duplicate"]
    minutes = (await applicant.call("minutes.get"))["minutes"]
    assert minutes["revision"] == 1
    assert len([e for e in applicant.of_type("minutes.updated")]) <= 1


async def test_the_notice_is_presented_shown_to_each_party_and_acknowledged_once(live: Any, core: Core) -> None:
    mediator, applicant, respondent = await room(live)
    before = await respondent.call("notice.get")  # (the notice's rate limit is 5 in a burst per person)
    assert before["ok"] and before["presented_at"] is None and before["acknowledged_at"] is None
    refused = await applicant.call("notice.present")
    assert not refused["ok"] and refused["error"]["code"] == "forbidden"
    presented = await mediator.call("notice.present")
    assert presented["ok"]
    # A party who reloads now learns it was presented, and sees it again without a second presentation.
    pending = await respondent.call("notice.get")
    assert pending["presented_at"] is not None and pending["acknowledged_at"] is None
    assert pending["notice_sha256"] == presented["notice_sha256"] and "人民调解权利义务告知书" in pending["html"]
    for p in (applicant, respondent):
        e = await p.wait_event("notice.presented")
        assert e["data"]["notice_sha256"] == presented["notice_sha256"]
        assert "人民调解权利义务告知书" in e["data"]["html"]
    wrong = await applicant.call("notice.acknowledge", {"notice_sha256": "0" * 64})
    assert not wrong["ok"] and wrong["error"]["code"] == "invalid_input"
    ack = await applicant.call("notice.acknowledge", {"notice_sha256": presented["notice_sha256"], "language": "zh"})
    assert ack["ok"] and not ack["duplicate"]
    again = await applicant.call("notice.acknowledge", {"notice_sha256": presented["notice_sha256"]})
    assert again["ok"] and again["duplicate"] and again["acknowledged_at"] == ack["acknowledged_at"]
    assert (
        await respondent.call("notice.acknowledge", {"notice_sha256": presented["notice_sha256"], "language": "en"})
    )["ok"]
    await mediator.wait_for(lambda: len(mediator.of_type("notice.acknowledged")) == 2, what="two acknowledgements")
    state = await applicant.call("notice.get")
    assert state["ok"] and state["acknowledged_at"] == ack["acknowledged_at"]
    assert state["presented_at"] == pending["presented_at"]
    refused = await mediator.call("notice.acknowledge", {"notice_sha256": presented["notice_sha256"]})
    assert not refused["ok"] and refused["error"]["code"] == "forbidden"
    async with core.db.read() as tx:
        logged = await eventlog.entries(
            tx, live.world.demo.case_id, kinds=("session.notice_presented", "session.notice_acknowledged")
        )
    assert [(e.kind, e.actor) for e in logged] == [
        ("session.notice_presented", f"invitation:{mediator.pid[2:]}"),
        ("session.notice_acknowledged", f"invitation:{applicant.pid[2:]}"),
        ("session.notice_acknowledged", f"invitation:{respondent.pid[2:]}"),
    ]
    assert [e.data["language"] for e in logged[1:]] == ["zh", "en"]


async def test_the_room_event_of_a_large_save_stays_small(live: Any) -> None:
    """A document may be 200 KiB and the room keeps its last events (in Redis too) to replay
    them: the event carries the revision and at most CHANGES_LISTED entry ids per list."""
    mediator = await live.person("mediator")
    await mediator.join()
    entries = [
        {"speaker": "王建国", "text": "记" * 10, "at": f"2026-12-05T09:{i // 60:02d}:{i % 60:02d}+00:00"}
        for i in range(300)
    ]
    ack = await mediator.call("minutes.save", save(0, "big", entries=entries))
    assert ack["ok"], ack
    e = await mediator.wait_event("minutes.updated", revision=1)
    assert e["data"]["changes"]["counts"]["added"] == 300
    assert len(e["data"]["changes"]["entries"]["added"]) == 100
    assert len(json.dumps(e["data"])) < 8_000
