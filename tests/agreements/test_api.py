"""Agreements over REST: made by the mediator, signed by both parties on their own devices
(join cookies) and by the mediator signed in, locked, revised, refused when they should be,
and every step in the case log with the right actor. On SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pypdf

from server.domain.actors import Actor
from server.services import agreements
from tests.api.conftest import V1, Caller, account_id, expect_error, invitation_ids, party_ids
from tests.conftest import World

from .conftest import LinkIn
from .helpers import SIGNATURE, data_url, png, term

HOSTILE = "<script>alert('x')</script>"


def image_names(reader: pypdf.PdfReader) -> set[str]:
    """The images a PDF draws (WeasyPrint shares one resource dictionary between pages)."""
    return {image.name for page in reader.pages for image in page.images}


async def make(mediator: Caller, world: World, **body: Any) -> dict[str, Any]:
    payload = {"template": "medical", "terms": [term()], "matters": "护理是否存在过错及赔偿数额", **body}
    return await mediator.ok("POST", f"{V1}/cases/{world.demo.case_id}/agreements", payload, status=201)


def sign_body(agreement: dict[str, Any], name: str, image: str = SIGNATURE) -> dict[str, Any]:
    return {"version_sha256": agreement["sha256"], "name": name, "image": image}


async def events(admin: Caller, case_id: str, prefix: str) -> list[dict[str, Any]]:
    log = await admin.ok("GET", f"{V1}/cases/{case_id}/events")
    return [e for e in log["events"] if e["kind"].startswith(prefix)]


async def test_templates_are_listed_with_id_names_and_dispute_types(mediator):
    out = await mediator.ok("GET", f"{V1}/agreement-templates")
    ids = [t["id"] for t in out["templates"]]
    assert ids[0] == "general" and {"neighbour", "family", "labour", "medical"} <= set(ids)
    medical = next(t for t in out["templates"] if t["id"] == "medical")
    assert medical["name"]["zh"] == "医疗纠纷人民调解协议书" and medical["dispute_types"] == ["medical"]
    assert out["problems"] == []


async def test_the_whole_flow_two_parties_and_the_mediator_sign_and_the_version_locks(
    mediator, admin, link_in: LinkIn, world, core
):
    made = await make(mediator, world)
    assert made["version"] == 1 and made["locked"] is False and made["signatures"] == []
    assert [m["role"] for m in made["missing"]] == ["applicant", "respondent", "mediator"]
    assert made["terms"][0]["amount"] == "12000.00"
    assert made["parties"][0]["id_number"] == "500***********123X"  # masked, as everywhere

    applicant, respondent = await link_in("applicant"), await link_in("respondent")
    # The party reads the exact text it signs: the preview's bytes are what sha256 names.
    preview = await applicant.get(f"{V1}/agreements/{made['id']}/preview")
    assert preview.status == 200 and preview.content_type == "text/html"
    body = await preview.read()
    assert hashlib.sha256(body).hexdigest() == made["sha256"] == preview.headers["X-Heshi-Sha256"]
    assert "人民调解协议书" in body.decode() and "李秀英" in body.decode()

    seen = await applicant.ok("GET", f"{V1}/agreements/{made['id']}")
    assert seen["sha256"] == made["sha256"]
    first = await applicant.ok(
        "POST",
        f"{V1}/agreements/{made['id']}/signatures",
        sign_body(made, "李秀英"),
        status=201,
    )
    assert first["locked"] is False and [m["role"] for m in first["missing"]] == ["respondent", "mediator"]
    assert "ip" not in first["signature"]  # a party is not shown where others signed from
    second = await respondent.ok(
        "POST", f"{V1}/agreements/{made['id']}/signatures", sign_body(made, "赵院长", data_url(png(41))), status=201
    )
    assert second["signature"]["signer_role"] == "respondent"
    last = await mediator.ok(
        "POST", f"{V1}/agreements/{made['id']}/signatures", sign_body(made, "王建国", data_url(png(42))), status=201
    )
    assert last["locked"] is True and last["missing"] == []
    final = await mediator.ok("GET", f"{V1}/agreements/{made['id']}")
    assert final["locked"] and final["locked_at"] and len(final["signatures"]) == 3
    assert {s["ip"] for s in final["signatures"]} == {"127.0.0.1"}
    assert all(s["user_agent"] for s in final["signatures"])

    # Signing twice is refused, and so is signing a locked version.
    again = await applicant.post(f"{V1}/agreements/{made['id']}/signatures", sign_body(made, "李秀英"))
    await expect_error(again, 409, "conflict")

    # The case log has every step, each with who caused it.
    log = await events(admin, world.demo.case_id, "agreement.")
    invs = await invitation_ids(core, world.demo.session_id)
    mediator_id = await account_id(core, "demo-mediator")
    parties = await party_ids(core, world.demo.case_id)
    assert [(e["kind"], e["actor"]) for e in log] == [
        ("agreement.created", str(Actor.account(mediator_id))),
        ("agreement.signed", str(Actor.invitation(invs["applicant"]))),
        ("agreement.signed", str(Actor.invitation(invs["respondent"]))),
        ("agreement.signed", str(Actor.account(mediator_id))),
        ("agreement.locked", str(Actor.account(mediator_id))),
    ]
    signed = log[1]["data"]
    assert signed["signer"] == f"party:{parties['applicant']}" and signed["name"] == "李秀英"
    assert signed["version"] == 1 and signed["version_sha256"] == made["sha256"]
    assert signed["image_sha256"] == hashlib.sha256(png()).hexdigest()
    assert signed["ip"] == "127.0.0.1" and signed["user_agent"]
    assert log[0]["data"]["sha256"] == made["sha256"] and log[4]["data"]["sha256"] == made["sha256"]

    # The PDF: real Chinese text, the parties, the terms, the signatures drawn.
    resp = await respondent.get(f"{V1}/agreements/{made['id']}.pdf")
    assert resp.status == 200 and resp.content_type == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(await resp.read()))
    text = "".join(page.extract_text() for page in reader.pages)
    for expected in (
        "人民调解协议书",
        "李秀英",
        "清水镇卫生院",
        "银行转账至申请人账户",
        "人民币12000.00元",
        "三十日内",
    ):
        assert expected in text, expected
    assert len(image_names(reader)) == 3  # one drawn signature each


async def test_a_change_makes_a_new_version_and_old_signatures_stay_with_the_old_one(
    mediator, admin, link_in: LinkIn, world
):
    made = await make(mediator, world)
    applicant = await link_in("applicant")
    await applicant.ok("POST", f"{V1}/agreements/{made['id']}/signatures", sign_body(made, "李秀英"), status=201)
    changed = await mediator.ok(
        "POST",
        f"{V1}/agreements/{made['id']}/versions",
        {"terms": [term(amount="15000")], "based_on": 1},
        status=201,
    )
    assert changed["version"] == 2 and changed["sha256"] != made["sha256"] and changed["signatures"] == []
    assert changed["matters"] == made["matters"]  # left out: kept
    assert [v["version"] for v in changed["earlier_versions"]] == [1]
    assert len(changed["earlier_versions"][0]["signatures"]) == 1

    # Signing the old version is refused, and the refusal names the current one.
    stale = await applicant.post(f"{V1}/agreements/{made['id']}/signatures", sign_body(made, "李秀英"))
    err = await expect_error(stale, 409, "conflict")
    assert "version 2" in err["message"] and changed["sha256"] in err["message"]
    ok = await applicant.ok(
        "POST", f"{V1}/agreements/{made['id']}/signatures", sign_body(changed, "李秀英"), status=201
    )
    assert ok["signature"]["version"] == 2

    # A change based on a stale version is refused too.
    resp = await mediator.post(f"{V1}/agreements/{made['id']}/versions", {"terms": [term()], "based_on": 1})
    await expect_error(resp, 409, "conflict")

    old = await applicant.get(f"{V1}/agreements/{made['id']}/preview?version=1")
    assert hashlib.sha256(await old.read()).hexdigest() == made["sha256"]
    revised = [e for e in await events(admin, world.demo.case_id, "agreement.") if e["kind"] == "agreement.revised"]
    assert revised[0]["data"]["version"] == 2 and revised[0]["data"]["sha256"] == changed["sha256"]


async def test_html_and_script_in_every_field_are_text_in_the_preview_and_in_the_pdf(mediator, world):
    made = await make(
        mediator,
        world,
        facts=HOSTILE,
        matters=HOSTILE,
        terms=[term(obligation=HOSTILE, obligor=HOSTILE, manner=HOSTILE)],
    )
    html = await (await mediator.get(f"{V1}/agreements/{made['id']}/preview")).text()
    assert "<script" not in html and html.count("&lt;script&gt;") >= 5
    pdf = await mediator.get(f"{V1}/agreements/{made['id']}.pdf")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(await pdf.read())).pages)
    assert "<script>alert('x')</script>" in text or "<script>alert(’x’)</script>" in text.replace("'", "’")


async def test_bad_signatures_are_refused_and_nothing_is_stored(mediator, admin, link_in: LinkIn, world):
    made = await make(mediator, world)
    applicant = await link_in("applicant")
    url = f"{V1}/agreements/{made['id']}/signatures"
    for image, code in (
        (data_url(b"GIF89a" + b"\x00" * 64), "not_png"),
        ("data:image/svg+xml;base64,PHN2Zy8+", "not_png"),
        (data_url(png(pad=210_000)), None),  # over 200 KB: refused by the body schema or the check
        (data_url(png(5000, 2)), "bad_size"),
    ):
        err = await expect_error(await applicant.post(url, sign_body(made, "李秀英", image)), 422, "invalid_input")
        if code:
            assert err["fields"]["image"] == code
    await expect_error(await applicant.post(url, sign_body(made, "  ")), 422, "invalid_input", fields=("name",))
    await expect_error(
        await applicant.post(url, {**sign_body(made, "李秀英"), "version_sha256": "x" * 64}),
        422,
        "invalid_input",
        fields=("version_sha256",),
    )
    no_csrf = await applicant.client.post(url, json=sign_body(made, "李秀英"))
    await expect_error(no_csrf, 403, "forbidden")
    assert (await applicant.ok("GET", f"{V1}/agreements/{made['id']}"))["signatures"] == []
    assert [e["kind"] for e in await events(admin, world.demo.case_id, "agreement.")] == ["agreement.created"]


async def test_experts_observers_other_mediators_and_other_cases_may_not_sign(
    mediator, sign_in, link_in: LinkIn, world, core, aiohttp_client, client
):
    made = await make(mediator, world)
    url = f"{V1}/agreements/{made['id']}/signatures"
    for role in ("expert", "observer"):
        caller = await link_in(role)
        await expect_error(await caller.post(url, sign_body(made, "某人")), 403, "forbidden")
        await expect_error(await caller.get(f"{V1}/agreements/{made['id']}"), 403, "forbidden")
    expert = await sign_in("demo-expert")
    await expect_error(await expert.post(url, sign_body(made, "陈敏")), 403, "forbidden")
    reviewer = await sign_in("demo-reviewer")
    assert (await reviewer.ok("GET", f"{V1}/agreements/{made['id']}"))["id"] == made["id"]  # reviewers read
    await expect_error(await reviewer.post(url, sign_body(made, "刘芳")), 403, "forbidden")
    admin = await sign_in("demo-admin")
    await expect_error(await admin.post(url, sign_body(made, "管理员")), 403, "forbidden")
    other = await sign_in("other-mediator")
    await expect_error(await other.get(f"{V1}/agreements/{made['id']}"), 404, "not_found")
    await expect_error(await other.post(url, sign_body(made, "甲")), 404, "not_found")

    # A party's link of another case neither reads nor signs this one.
    from server.domain.grants import SessionRole
    from server.services import cases, invitations

    other_case = await cases.get_case(core, world.principals["other-mediator"], world.other_case_id)
    inv = await invitations.issue(
        core,
        world.principals["other-mediator"],
        world.other_session_id,
        role=SessionRole.applicant,
        party_id=other_case.parties[0].id,
    )
    from .conftest import open_link

    stranger = await open_link(aiohttp_client, client, core, invitations.link_for(core, inv), "stranger")
    await expect_error(await stranger.get(f"{V1}/agreements/{made['id']}"), 404, "not_found")
    await expect_error(await stranger.post(url, sign_body(made, "甲")), 404, "not_found")
    await expect_error(await stranger.get(f"{V1}/cases/{world.demo.case_id}/agreements"), 404, "not_found")

    # Parties never write agreements.
    applicant = await link_in("applicant")
    resp = await applicant.post(f"{V1}/agreements/{made['id']}/versions", {"terms": [term()]})
    await expect_error(resp, 403, "forbidden")


async def test_an_agent_signs_for_the_party_it_represents(mediator, link_in: LinkIn, world, core):
    made = await make(mediator, world)
    agent = await link_in("agent")
    out = await agent.ok("POST", f"{V1}/agreements/{made['id']}/signatures", sign_body(made, "赵院长"), status=201)
    parties = await party_ids(core, world.demo.case_id)
    assert out["signature"]["signer"] == f"party:{parties['respondent']}"
    assert out["signature"]["signer_role"] == "agent"
    respondent = await link_in("respondent")  # the party it represents has signed already
    resp = await respondent.post(f"{V1}/agreements/{made['id']}/signatures", sign_body(made, "赵院长"))
    await expect_error(resp, 409, "conflict")


async def test_the_mediators_own_link_signs_as_the_mediator(mediator, link_in: LinkIn, world, core):
    made = await make(mediator, world)
    link = await link_in("mediator")
    out = await link.ok("POST", f"{V1}/agreements/{made['id']}/signatures", sign_body(made, "王建国"), status=201)
    assert out["signature"]["signer"] == f"account:{await account_id(core, 'demo-mediator')}"


async def test_bad_agreement_input_is_refused(mediator, sign_in, world):
    url = f"{V1}/cases/{world.demo.case_id}/agreements"
    for body, field in (
        ({"template": "nope", "terms": [term()]}, "template"),
        ({"template": "labour", "terms": [term()]}, "template"),  # a labour template for a medical case
        ({"template": "medical", "terms": []}, "terms"),
        ({"template": "medical", "terms": [term(amount="-5")]}, "terms.0.amount"),
        ({"template": "medical", "terms": [term(amount=1.5)]}, "terms.0.amount"),
        ({"template": "medical", "terms": [term(deadline="2026-13-01")]}, "terms.0.deadline"),
        ({"template": "medical", "terms": [term(obligor="")]}, "terms.0.obligor"),
        ({"template": "medical", "terms": [term(manner="a\x00")]}, "terms.0.manner"),
        ({"template": "medical", "terms": [term()], "session_id": world.other_session_id}, "session_id"),
        ({"template": "medical", "terms": [term()], "extra": 1}, "extra"),
    ):
        resp = await mediator.post(url, body)
        err = await expect_error(resp, 422, "invalid_input")
        assert any(k.startswith(field) for k in err.get("fields", {})), (body, err)
    expert = await sign_in("demo-expert")
    await expect_error(await expert.post(url, {"template": "medical", "terms": [term()]}), 403, "forbidden")
    await expect_error(await mediator.get(f"{V1}/agreements/00000000-0000-0000-0000-000000000000"), 404, "not_found")
    await expect_error(
        await mediator.get(f"{V1}/agreements/00000000-0000-0000-0000-000000000000.pdf"), 404, "not_found"
    )


async def test_a_case_lists_its_agreements_for_staff_and_for_its_parties(mediator, link_in: LinkIn, world):
    made = await make(mediator, world)
    await make(mediator, world, template="general")
    applicant = await link_in("applicant")
    for caller in (mediator, applicant):
        out = await caller.ok("GET", f"{V1}/cases/{world.demo.case_id}/agreements")
        assert [a["id"] for a in out["agreements"]][0] == made["id"] and len(out["agreements"]) == 2
        assert out["agreements"][0]["missing"][0]["role"] == "applicant"


async def test_the_org_seal_is_set_by_an_admin_and_printed_on_the_pdf(mediator, admin, world, core):
    from tests.api.conftest import org_id

    org = await org_id(core, "DEMO-QS")
    url = f"{V1}/orgs/{org}/seal"
    resp = await mediator.client.put(
        url, json={"image": data_url(png(80, 80))}, headers={"X-CSRF-Token": mediator.csrf}
    )
    await expect_error(resp, 403, "forbidden")
    bad = await admin.client.put(
        url, data=b"GIF89a....", headers={"X-CSRF-Token": admin.csrf, "Content-Type": "image/png"}
    )
    await expect_error(bad, 422, "invalid_input", fields=("image",))
    ok = await admin.client.put(
        url, data=png(80, 80), headers={"X-CSRF-Token": admin.csrf, "Content-Type": "image/png"}
    )
    assert ok.status == 200, await ok.text()
    assert (await ok.json())["has_seal"] is True
    made = await make(mediator, world)
    pdf = await mediator.get(f"{V1}/agreements/{made['id']}.pdf")
    reader = pypdf.PdfReader(io.BytesIO(await pdf.read()))
    assert len(image_names(reader)) == 1  # the seal; nobody has signed yet
    cleared = await admin.client.delete(url, headers={"X-CSRF-Token": admin.csrf})
    assert (await cleared.json())["has_seal"] is False


async def test_the_court_endpoint_is_set_by_an_admin_and_its_secret_never_returned(mediator, admin, core):
    from tests.api.conftest import org_id

    org = await org_id(core, "DEMO-QS")
    url = f"{V1}/orgs/{org}/court"
    h = {"X-CSRF-Token": admin.csrf}
    secret = "s3cret-shared-with-the-court"
    resp = await admin.client.put(
        url, json={"endpoint": "https://court.example.cn/confirm", "secret": secret}, headers=h
    )
    assert resp.status == 200
    text = await resp.text()
    assert secret not in text and (await resp.json())["court_endpoint"] == "https://court.example.cn/confirm"
    for body, field in (
        ({"endpoint": "ftp://court", "secret": secret}, "endpoint"),
        ({"endpoint": "https://court.example.cn", "secret": "short"}, "secret"),
    ):
        await expect_error(await admin.client.put(url, json=body, headers=h), 422, "invalid_input", fields=(field,))
    await expect_error(
        await mediator.client.put(url, json={"endpoint": None}, headers={"X-CSRF-Token": mediator.csrf}),
        403,
        "forbidden",
    )
    got = await admin.ok("GET", f"{V1}/orgs/{org}/documents")
    assert got["has_court_secret"] is True and secret not in str(got) and got["court_name"] is None
    named = {"endpoint": "https://court.example.cn/confirm", "secret": secret, "name": "  示范区人民法院 "}
    assert (await (await admin.client.put(url, json=named, headers=h)).json())["court_name"] == "示范区人民法院"
    for name in ("院" * 101, "法\x00院"):
        resp = await admin.client.put(url, json={**named, "name": name}, headers=h)
        await expect_error(resp, 422, "invalid_input", fields=("name",))
    assert (await admin.ok("GET", f"{V1}/orgs/{org}/documents"))["court_name"] == "示范区人民法院"
    rotated = {"endpoint": "https://court.example.cn/confirm", "secret": "a-new-shared-secret-2027"}
    assert (await (await admin.client.put(url, json=rotated, headers=h)).json())["court_name"] == "示范区人民法院"
    unnamed = await admin.client.put(url, json={**rotated, "name": None}, headers=h)
    assert (await unnamed.json())["court_name"] is None
    await admin.client.put(url, json=named, headers=h)
    cleared = await admin.client.put(url, json={"endpoint": None}, headers=h)
    assert (await cleared.json())["court_endpoint"] is None and (await cleared.json())["court_name"] is None


async def test_the_service_refuses_a_case_without_a_mediator(core, world):
    from server.domain.cases import CaseSource, DisputeType, PartyInput, PartySide
    from server.domain.errors import Conflict
    from server.services import cases

    case = await cases.create_case(
        core,
        world.principals["demo-admin"],
        title="无调解员的案件",
        dispute_type=DisputeType.other,
        source=CaseSource.on_site,
        org_id=(await cases.get_case(core, world.principals["demo-admin"], world.demo.case_id)).org_id,
        parties=[PartyInput(side=PartySide.applicant, name="甲"), PartyInput(side=PartySide.respondent, name="乙")],
    )
    import pytest

    with pytest.raises(Conflict):
        await agreements.create(core, world.principals["demo-admin"], case.id, template="general", terms=[term()])
