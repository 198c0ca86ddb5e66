"""The minutes over REST: ETag and If-Match, 428/409/413/422, who may read and write, the PDF."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from tests.api.conftest import V1, Caller, SignIn, expect_error, join_as
from tests.conftest import World


def url(world: World, tail: str = "") -> str:
    return f"{V1}/sessions/{world.demo.session_id}/minutes{tail}"


async def put(c: Caller, path: str, body: Any, **headers: str) -> Any:
    return await c.client.put(path, json=body, headers={"X-CSRF-Token": c.csrf, **headers})


async def test_get_gives_revision_0_with_its_etag(mediator: Caller, world: World) -> None:
    resp = await mediator.get(url(world))
    assert resp.status == 200 and resp.headers["ETag"] == '"0"'
    body = await resp.json()
    assert body["revision"] == 0 and body["document"]["header"]["case_number"] == world.demo.case_number


async def test_put_with_if_match_saves_and_get_returns_it(mediator: Caller, world: World) -> None:
    got = await (await mediator.get(url(world))).json()
    got["document"]["result"] = "达成协议"
    got["document"]["entries"] = [{"speaker": "王建国", "text": "开始", "at": "2026-12-05T09:00:00.000001+00:00"}]
    resp = await put(mediator, url(world), got, **{"If-Match": '"0"'})
    assert resp.status == 200, await resp.text()
    assert resp.headers["ETag"] == '"1"'
    now = await (await mediator.get(url(world))).json()
    assert now["revision"] == 1 and now["document"]["result"] == "达成协议"
    assert now["document"]["entries"][0]["at"] == "2026-12-05T09:00:00.000001+00:00"
    listed = await mediator.ok("GET", url(world, "/revisions"))
    assert [(r["revision"], r["sha256"]) for r in listed["revisions"]] == [(1, now["sha256"])]
    assert listed["revisions"][0]["actor"].startswith("account:")
    assert listed["revisions"][0]["actor_name"] == "王建国"  # for people: the name, beside the exact actor
    old = await mediator.ok("GET", url(world, "/revisions/1"))
    assert old["document"]["result"] == "达成协议"


async def test_each_revision_prints_as_it_was_saved(mediator: Caller, world: World) -> None:
    for base, result in ((0, "第一稿结果"), (1, "第二稿结果")):
        resp = await put(mediator, url(world), {"document": {"result": result}}, **{"If-Match": f'"{base}"'})
        assert resp.status == 200, await resp.text()

    async def text_of(query: str) -> tuple[str, str]:
        resp = await mediator.get(url(world, ".pdf" + query))
        assert resp.status == 200 and resp.content_type == "application/pdf", await resp.text()
        reader = PdfReader(io.BytesIO(await resp.read()))
        return "".join("".join(p.extract_text() for p in reader.pages).split()), resp.headers["ETag"]

    assert await text_of("") == (await text_of("?revision=2"))
    first, etag = await text_of("?revision=1")
    assert "第一稿结果" in first and "第二稿结果" not in first and etag == '"1"'
    await expect_error(await mediator.get(url(world, ".pdf?revision=9")), 404, "not_found")
    for bad in ("x", "-1", "1.5"):
        await expect_error(await mediator.get(url(world, f".pdf?revision={bad}")), 422, "invalid_input")
    await expect_error(await mediator.get(url(world, ".pdf?version=1")), 422, "invalid_input")


async def test_a_bare_document_and_a_bare_revision_number_are_taken_too(mediator: Caller, world: World) -> None:
    resp = await put(mediator, url(world), {"result": "一"}, **{"If-Match": "0"})
    assert resp.status == 200, await resp.text()


async def test_put_without_if_match_is_428(mediator: Caller, world: World) -> None:
    await expect_error(await put(mediator, url(world), {"document": {"result": "x"}}), 428, "precondition_required")


async def test_a_stale_if_match_is_409_with_the_current_revision_and_what_changed(
    mediator: Caller, world: World
) -> None:
    assert (await put(mediator, url(world), {"document": {"result": "一"}}, **{"If-Match": '"0"'})).status == 200
    resp = await put(mediator, url(world), {"document": {"result": "二"}}, **{"If-Match": '"0"'})
    assert resp.status == 409 and resp.headers["ETag"] == '"1"'
    err = (await resp.json())["error"]
    assert err["code"] == "conflict" and err["current_revision"] == 1
    assert err["changes"]["sections"] == ["result"]
    assert err["current"]["document"]["result"] == "一"


async def test_the_same_idempotency_key_saves_once(mediator: Caller, world: World) -> None:
    for _ in range(2):
        resp = await put(
            mediator, url(world), {"document": {"result": "一"}}, **{"If-Match": '"0"', "Idempotency-Key": "k1"}
        )
        assert resp.status == 200 and resp.headers["ETag"] == '"1"'
    assert len((await mediator.ok("GET", url(world, "/revisions")))["revisions"]) == 1


async def test_bad_input_is_4xx(mediator: Caller, world: World) -> None:
    await expect_error(
        await put(mediator, url(world), {"document": {"result": "a\x00"}}, **{"If-Match": "0"}), 422, "invalid_input"
    )
    await expect_error(
        await put(mediator, url(world), {"document": {"reslt": "x"}}, **{"If-Match": "0"}), 422, "invalid_input"
    )
    await expect_error(
        await put(mediator, url(world), {"document": {"result": "x" * 10_001}}, **{"If-Match": "0"}),
        422,
        "invalid_input",
    )
    big = {"document": {"entries": [{"text": "字" * 9000} for _ in range(10)]}}
    await expect_error(await put(mediator, url(world), big, **{"If-Match": "0"}), 413, "payload_too_large")
    await expect_error(await put(mediator, url(world), {"document": {}}, **{"If-Match": "abc"}), 400, "bad_request")
    await expect_error(await mediator.get(url(world, "/revisions/7")), 404, "not_found")
    await expect_error(await mediator.get(url(world, "/revisions/x")), 422, "invalid_input")
    assert (await mediator.ok("GET", url(world, "/revisions")))["revisions"] == []


async def test_without_sign_in_401_and_without_csrf_403(client: Any, mediator: Caller, world: World) -> None:
    await expect_error(await client.get(url(world)), 401, "unauthenticated")
    await expect_error(await client.get(url(world, ".pdf")), 401, "unauthenticated")
    resp = await mediator.client.put(url(world), json={"document": {}}, headers={"If-Match": "0"})
    await expect_error(resp, 403, "forbidden")


async def test_reviewers_read_but_do_not_write_and_other_districts_see_nothing(sign_in: SignIn, world: World) -> None:
    reviewer = await sign_in("demo-reviewer")
    assert (await reviewer.get(url(world))).status == 200
    await expect_error(
        await put(reviewer, url(world), {"document": {"result": "x"}}, **{"If-Match": "0"}), 403, "forbidden"
    )
    other = await sign_in("other-mediator")
    await expect_error(await other.get(url(world)), 404, "not_found")
    await expect_error(
        await put(other, url(world), {"document": {"result": "x"}}, **{"If-Match": "0"}), 404, "not_found"
    )


async def test_the_expert_writes_their_opinion_only(sign_in: SignIn, world: World) -> None:
    expert = await sign_in("demo-expert")
    resp = await put(expert, url(world), {"document": {"expert_opinion": "意见"}}, **{"If-Match": "0"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["document"]["expert_opinion_by"]["name"] == "陈敏医生"
    err = await expect_error(
        await put(expert, url(world), {"document": {"result": "x"}}, **{"If-Match": "1"}),
        403,
        "forbidden",
        fields=("result",),
    )
    assert err["fields"] == {"result": "not_your_section"}


async def test_a_party_with_a_join_link_reads_and_may_not_write(aiohttp_client: Any, client: Any, world: World) -> None:
    party = await aiohttp_client(client.server)
    await join_as(party, world, "applicant")
    assert (await party.get(url(world))).status == 200
    csrf = (
        next(c.value for c in party.session.cookie_jar if c.key == "heshi_csrf")
        if any(c.key == "heshi_csrf" for c in party.session.cookie_jar)
        else ""
    )
    resp = await party.put(
        url(world), json={"document": {"result": "x"}}, headers={"If-Match": "0", "X-CSRF-Token": csrf}
    )
    assert resp.status == 403  # a party may not write (and without the page's CSRF token may not try)
    assert (await (await party.get(url(world))).json())["revision"] == 0
    await expect_error(await party.get(f"{V1}/sessions/{world.other_session_id}/minutes"), 404, "not_found")


async def test_the_pdf_is_chinese_text_with_html_escaped(mediator: Caller, world: World) -> None:
    body = {"document": {"result": "<script>alert('x')</script>双方达成协议"}}
    assert (await put(mediator, url(world), body, **{"If-Match": "0"})).status == 200
    resp = await mediator.get(url(world, ".pdf"))
    assert resp.status == 200 and resp.content_type == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(await resp.read())).pages)
    assert "调解结果" in text and "<script>alert('x')</script>双方达成协议" in text
