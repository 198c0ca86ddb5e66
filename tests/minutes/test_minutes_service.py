"""The minutes service on SQLite and PostgreSQL: revisions, resends, conflicts, races, who may
write what, the case log, the PDF, and the rights notice."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from pypdf import PdfReader

from server.domain import inputs
from server.domain import minutes as rules
from server.domain.actors import Actor
from server.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.domain.grants import SessionRole
from server.services import eventlog, minutes, notices
from server.services.core import Core
from server.services.minutes import Editor, MinutesConflict
from tests.conftest import World

SCRIPT = "<script>alert(1)</script>&<b>"


def doc(**sections: Any) -> rules.MinutesIn:
    return inputs.parse(rules.MinutesIn, sections, "document")


async def mediator(core: Core, world: World) -> Editor:
    return await minutes.editor_for(core, world.principals["demo-mediator"], world.demo.session_id)


def participant(world: World, role: SessionRole, who: str = "inv-1") -> Editor:
    return minutes.editor_of_participant(
        world.demo.case_id, world.demo.session_id, role, Actor.invitation(who), f"{role.value} person"
    )


async def log_of(core: Core, world: World, kind: str) -> list[Any]:
    async with core.db.read() as tx:
        return await eventlog.entries(tx, world.demo.case_id, kinds=(kind,))


async def test_before_any_save_the_minutes_are_revision_0_with_the_header(core: Core, world: World) -> None:
    view = await minutes.current(core, await mediator(core, world))
    assert view.revision == 0 and view.actor is None
    h = view.document["header"]
    assert h["case_number"] == world.demo.case_number
    assert h["mode"] == "online" and h["place"] is None
    assert h["mediator"] == "王建国"
    assert [p["name"] for p in h["parties"]] == ["李秀英", "清水镇卫生院"]
    assert [p["name"] for p in view.document["parties"]] == ["李秀英", "清水镇卫生院"]


async def test_a_save_makes_a_revision_whose_sha256_is_in_the_case_log_with_its_actor(core: Core, world: World) -> None:
    ed = await mediator(core, world)
    saved = await minutes.save(core, ed, base_revision=0, save_id="s1", body=doc(result="达成协议"))
    assert saved.created and saved.minutes.revision == 1
    assert saved.minutes.sha256 == rules.sha256_of(saved.minutes.document)
    assert saved.changes["sections"] == ["result"]
    [entry] = await log_of(core, world, "minutes.saved")
    assert entry.actor == str(Actor.of(world.principals["demo-mediator"]))
    assert entry.data == {"revision": 1, "base_revision": 0, "sha256": saved.minutes.sha256, "save_id": "s1"}
    assert (await minutes.current(core, ed)).document["result"] == "达成协议"


async def test_a_resend_with_the_same_save_id_returns_the_first_result_and_makes_no_revision(
    core: Core, world: World
) -> None:
    ed = await mediator(core, world)
    first = await minutes.save(core, ed, base_revision=0, save_id="same", body=doc(result="一"))
    again = await minutes.save(core, ed, base_revision=0, save_id="same", body=doc(result="一"))
    assert not again.created and again.minutes.revision == first.minutes.revision == 1
    assert [r.revision for r in (await minutes.revisions(core, ed))[0]] == [1]
    assert len(await log_of(core, world, "minutes.saved")) == 1


async def test_the_same_save_sent_twice_at_once_makes_one_revision(core: Core, world: World) -> None:
    ed = await mediator(core, world)
    results = await asyncio.gather(
        *(minutes.save(core, ed, base_revision=0, save_id="dup", body=doc(result="一")) for _ in range(5))
    )
    assert {r.minutes.revision for r in results} == {1}
    assert sum(r.created for r in results) == 1
    assert len((await minutes.revisions(core, ed))[0]) == 1


async def test_a_save_that_changes_nothing_makes_no_revision(core: Core, world: World) -> None:
    ed = await mediator(core, world)
    await minutes.save(core, ed, base_revision=0, save_id="a", body=doc(result="一"))
    same = await minutes.save(core, ed, base_revision=1, save_id="b", body=doc(result="一"))
    assert not same.created and same.minutes.revision == 1


async def test_a_save_on_an_old_revision_is_a_conflict_with_the_current_revision_and_what_changed(
    core: Core, world: World
) -> None:
    ed = await mediator(core, world)
    entry = {"id": "e1", "speaker": "王建国", "text": "开始", "at": "2026-12-05T09:00:00.000000+00:00"}
    await minutes.save(core, ed, base_revision=0, save_id="a", body=doc(entries=[entry]))
    await minutes.save(core, ed, base_revision=1, save_id="b", body=doc(entries=[entry], result="r"))
    with pytest.raises(MinutesConflict) as e:
        await minutes.save(core, ed, base_revision=1, save_id="c", body=doc(result="mine"))
    body = e.value.body()
    assert body["code"] == "conflict" and body["current_revision"] == 2 and body["base_revision"] == 1
    assert body["changes"] == {"sections": ["result"], "entries": {"added": [], "removed": [], "changed": []}}
    assert body["current"]["document"]["result"] == "r"
    with pytest.raises(MinutesConflict) as e:
        await minutes.save(core, ed, base_revision=0, save_id="d", body=doc(result="mine"))
    assert e.value.body()["changes"]["entries"]["added"] == ["e1"]
    assert (await minutes.current(core, ed)).document["result"] == "r"  # never overwritten


async def test_of_100_concurrent_saves_on_one_revision_exactly_one_wins(core: Core, world: World) -> None:
    ed = await mediator(core, world)

    async def one(i: int) -> Any:
        try:
            return await minutes.save(core, ed, base_revision=0, save_id=f"race-{i}", body=doc(result=f"第{i}版"))
        except MinutesConflict as exc:
            return exc

    results = await asyncio.gather(*(one(i) for i in range(100)))
    won = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, MinutesConflict)]
    assert len(won) == 1 and len(lost) == 99
    assert all(c.current.revision == 1 for c in lost)
    assert [r.revision for r in (await minutes.revisions(core, ed))[0]] == [1]
    assert len(await log_of(core, world, "minutes.saved")) == 1
    async with core.db.read() as tx:
        assert (await eventlog.verify(tx, world.demo.case_id)).ok


async def test_the_expert_writes_only_their_opinion(core: Core, world: World) -> None:
    expert = await minutes.editor_for(core, world.principals["demo-expert"], world.demo.session_id)
    assert expert.role is SessionRole.expert
    saved = await minutes.save(core, expert, base_revision=0, save_id="x", body=doc(expert_opinion="护理记录完整"))
    assert saved.minutes.document["expert_opinion_by"]["name"] == "陈敏医生"
    with pytest.raises(Forbidden):
        await minutes.save(core, expert, base_revision=1, save_id="y", body=doc(result="我来写结果"))
    with pytest.raises(Forbidden):
        await minutes.save(
            core, await mediator(core, world), base_revision=1, save_id="z", body=doc(expert_opinion="改")
        )
    assert [r.revision for r in (await minutes.revisions(core, expert))[0]] == [1]


@pytest.mark.parametrize("role", [SessionRole.applicant, SessionRole.respondent, SessionRole.observer])
async def test_a_party_or_an_observer_reads_but_never_writes(core: Core, world: World, role: SessionRole) -> None:
    ed = participant(world, role)
    assert (await minutes.current(core, ed)).revision == 0
    with pytest.raises(Forbidden):
        await minutes.save(core, ed, base_revision=0, save_id="p", body=doc(result="我说了算"))
    assert (await minutes.revisions(core, ed))[0] == []
    assert await log_of(core, world, "minutes.saved") == []


async def test_a_clerk_writes_like_the_mediator(core: Core, world: World) -> None:
    saved = await minutes.save(
        core, participant(world, SessionRole.clerk), base_revision=0, save_id="c", body=doc(result="记录")
    )
    assert saved.minutes.revision == 1 and saved.minutes.actor == "invitation:inv-1"


async def test_staff_access_follows_the_case_rules(core: Core, world: World) -> None:
    reviewer = await minutes.editor_for(core, world.principals["demo-reviewer"], world.demo.session_id)
    assert reviewer.role is None
    assert (await minutes.current(core, reviewer)).revision == 0
    with pytest.raises(Forbidden):
        await minutes.save(core, reviewer, base_revision=0, save_id="r", body=doc(result="x"))
    admin = await minutes.editor_for(core, world.principals["demo-admin"], world.demo.session_id)
    assert admin.role is SessionRole.mediator
    for outsider in ("other-mediator", "other-reviewer"):
        with pytest.raises(NotFound):
            await minutes.editor_for(core, world.principals[outsider], world.demo.session_id)
    with pytest.raises(NotFound):
        await minutes.editor_for(core, world.principals["demo-mediator"], world.other_session_id)


async def test_an_oversized_document_is_refused_and_nothing_is_stored(core: Core, world: World) -> None:
    ed = await mediator(core, world)
    entries = [{"speaker": "王", "text": "字" * 9000} for _ in range(10)]
    with pytest.raises(rules.TooLarge):
        await minutes.save(core, ed, base_revision=0, save_id="big", body=doc(entries=entries))
    assert (await minutes.revisions(core, ed))[0] == []


async def test_html_is_stored_as_typed_and_printed_as_text_in_the_pdf(core: Core, world: World) -> None:
    ed = await mediator(core, world)
    entry = {"speaker": SCRIPT, "text": f"申请人称{SCRIPT}", "at": "2026-12-05T01:00:00Z"}
    await minutes.save(core, ed, base_revision=0, save_id="h", body=doc(entries=[entry], result=SCRIPT))
    view = await minutes.current(core, ed)
    assert view.document["result"] == SCRIPT and view.document["entries"][0]["speaker"] == SCRIPT
    html = minutes.minutes_html(core, view)
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&lt;b&gt;" in html
    _, data = await minutes.minutes_pdf(core, ed)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "调解笔录" in text and world.demo.case_number in text
    assert "<script>alert(1)</script>" in text  # printed as the characters typed, not as markup
    assert "申请人称" in text and "09:00:00" in text  # 01:00 UTC is 09:00 Beijing time


async def test_old_revisions_stay_readable(core: Core, world: World) -> None:
    ed = await mediator(core, world)
    await minutes.save(core, ed, base_revision=0, save_id="1", body=doc(result="一"))
    await minutes.save(core, ed, base_revision=1, save_id="2", body=doc(result="二"))
    assert (await minutes.revision(core, ed, 1)).document["result"] == "一"
    assert (await minutes.revision(core, ed, 2)).document["result"] == "二"
    with pytest.raises(NotFound):
        await minutes.revision(core, ed, 3)


# ---- the rights and obligations notice ------------------------------------------------------------


async def test_the_notice_is_chinese_first_then_english_and_names_the_law(core: Core) -> None:
    shown = notices.notice(core)
    assert shown.html.index("人民调解权利义务告知书") < shown.html.index("Notice of Rights and Obligations")
    for text in ("第二十三条", "第二十四条", "如实陈述", "自愿达成调解协议", "公开进行或者不公开进行"):
        assert text in shown.html
    assert len(shown.sha256) == 64


async def test_presented_then_acknowledged_once_by_each_party_with_their_actor(core: Core, world: World) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    mediator_actor = Actor.of(world.principals["demo-mediator"])
    common = {"case_id": case_id, "session_id": session_id}
    with pytest.raises(Conflict):  # not presented yet
        await notices.acknowledge(
            core,
            **common,
            pid="i:a",
            name="李秀英",
            role=SessionRole.applicant,
            actor=Actor.invitation("a"),
            notice_sha256=notices.notice(core).sha256,
            language="zh",
        )
    with pytest.raises(Forbidden):
        await notices.present(core, **common, role=SessionRole.applicant, actor=Actor.invitation("a"))
    shown = await notices.present(core, **common, role=SessionRole.mediator, actor=mediator_actor)
    ack, created = await notices.acknowledge(
        core,
        **common,
        pid="i:a",
        name="李秀英",
        role=SessionRole.applicant,
        actor=Actor.invitation("a"),
        notice_sha256=shown.sha256,
        language="zh",
    )
    assert created and ack.notice_sha256 == shown.sha256 and ack.language == "zh"
    again, created = await notices.acknowledge(
        core,
        **common,
        pid="i:a",
        name="李秀英",
        role=SessionRole.applicant,
        actor=Actor.invitation("a"),
        notice_sha256=shown.sha256,
        language="en",
    )
    assert not created and again.id == ack.id and again.language == "zh"
    with pytest.raises(ValidationFailed) as e:
        await notices.acknowledge(
            core,
            **common,
            pid="i:b",
            name="卫生院",
            role=SessionRole.respondent,
            actor=Actor.invitation("b"),
            notice_sha256="0" * 64,
            language="zh",
        )
    assert e.value.fields == {"notice_sha256": "not_current"}
    with pytest.raises(Forbidden):
        await notices.acknowledge(
            core,
            **common,
            pid="i:x",
            name="专家",
            role=SessionRole.expert,
            actor=Actor.invitation("x"),
            notice_sha256=shown.sha256,
            language="zh",
        )
    [presented] = await log_of(core, world, "session.notice_presented")
    assert presented.actor == str(mediator_actor) and presented.data == {"notice_sha256": shown.sha256}
    [acknowledged] = await log_of(core, world, "session.notice_acknowledged")
    assert acknowledged.actor == "invitation:a" and acknowledged.session_id == session_id
    assert acknowledged.data["notice_sha256"] == shown.sha256
    assert [a.pid for a in await notices.acknowledgements(core, session_id)] == ["i:a"]
