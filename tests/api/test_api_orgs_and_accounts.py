"""Orgs and staff accounts through the REST API."""

from __future__ import annotations

import uuid

from tests.api.conftest import HTML_INJECTION, SQL_INJECTION, V1, Caller, SignIn, db_state, expect_error, org_id


async def test_an_admin_lists_the_whole_org_tree_in_path_order(admin: Caller):
    orgs = (await admin.ok("GET", f"{V1}/orgs"))["orgs"]
    codes = [o["code"] for o in orgs]
    assert {"DEMO", "DEMO-QS", "DEMO-QS-TH", "DEMO-YT", "OTHER", "OTHER-T"} <= set(codes)
    by_code = {o["code"]: o for o in orgs}
    assert by_code["DEMO-QS"]["parent_id"] == by_code["DEMO"]["id"]
    assert by_code["DEMO"]["parent_id"] is None
    assert codes.index("DEMO") < codes.index("DEMO-QS") < codes.index("DEMO-QS-TH")


async def test_other_staff_list_and_read_only_the_orgs_of_their_own_subtree(sign_in: SignIn, core):
    """Orgs are scoped like cases (issue 9, item 3): another district's org tree is not theirs
    to list, and reading one of its orgs by id looks like reading one that does not exist."""
    seen = {
        "demo-mediator": {"DEMO-QS", "DEMO-QS-TH"},
        "demo-expert": {"DEMO-YT"},
        "demo-reviewer": {"DEMO", "DEMO-QS", "DEMO-QS-TH", "DEMO-YT"},
        "other-reviewer": {"OTHER", "OTHER-T"},
    }
    all_codes = set().union(*seen.values())
    for username, codes in seen.items():
        caller = await sign_in(username)
        listed = {o["code"] for o in (await caller.ok("GET", f"{V1}/orgs"))["orgs"]} & all_codes
        assert listed == codes, username
        for code in all_codes:
            resp = await caller.get(f"{V1}/orgs/{await org_id(core, code)}")
            if code in codes:
                assert resp.status == 200, (username, code)
            else:
                hidden = await expect_error(resp, 404, "not_found")
                assert hidden == await expect_error(await caller.get(f"{V1}/orgs/{uuid.uuid4()}"), 404, "not_found")


async def test_an_admin_creates_an_org_under_a_parent_and_reads_it_back(admin: Caller, core):
    parent = await org_id(core, "DEMO-QS")
    created = await admin.ok(
        "POST",
        f"{V1}/orgs",
        {
            "name": "清水镇梨树村人民调解委员会",
            "code": "demo-qs-ls",
            "kind": "people",
            "level": "village",
            "parent_id": parent,
        },
        201,
    )
    assert created["code"] == "DEMO-QS-LS"  # codes are upper-case: they prefix case numbers
    assert created["parent_id"] == parent
    assert created["level"] == "village" and created["kind"] == "people"
    read = await admin.ok("GET", f"{V1}/orgs/{created['id']}")
    assert read == created
    listed = (await admin.ok("GET", f"{V1}/orgs"))["orgs"]
    assert created in listed


async def test_only_an_admin_may_create_an_org(sign_in: SignIn, core):
    before = await db_state(core)
    for username in ("demo-mediator", "demo-reviewer", "demo-expert"):
        caller = await sign_in(username)
        resp = await caller.post(f"{V1}/orgs", {"name": "私设调委会", "code": "ROGUE", "kind": "people"})
        await expect_error(resp, 403, "forbidden")
    after = await db_state(core)
    assert after["orgs"] == before["orgs"]


async def test_an_org_code_already_in_use_is_409_and_a_bad_code_is_422(admin: Caller, core):
    before = await db_state(core)
    await expect_error(
        await admin.post(f"{V1}/orgs", {"name": "重复", "code": "demo", "kind": "people"}),
        409,
        "conflict",
        fields=("code",),
    )
    for code in ("-X", "A B", "中文", "A/B"):
        resp = await admin.post(f"{V1}/orgs", {"name": "坏代码", "code": code, "kind": "people"})
        await expect_error(resp, 422, "invalid_input", fields=("code",))
    await expect_error(
        await admin.post(f"{V1}/orgs", {"name": "x", "code": "X" * 33, "kind": "people"}),
        422,
        "invalid_input",
        fields=("code",),
    )
    await expect_error(
        await admin.post(f"{V1}/orgs", {"name": "  ", "code": "BLANK", "kind": "people"}),
        422,
        "invalid_input",
        fields=("name",),
    )
    await expect_error(
        await admin.post(f"{V1}/orgs", {"name": "x", "code": "KIND", "kind": "bank"}),
        422,
        "invalid_input",
        fields=("kind",),
    )
    await expect_error(
        await admin.post(f"{V1}/orgs", {"name": "x", "code": "LVL", "kind": "people", "level": "province"}),
        422,
        "invalid_input",
        fields=("level",),
    )
    await expect_error(
        await admin.post(
            f"{V1}/orgs", {"name": "x", "code": "ORPHAN", "kind": "people", "parent_id": str(uuid.uuid4())}
        ),
        404,
        "not_found",
        fields=("parent_id",),
    )
    assert await db_state(core) == before


async def test_an_unknown_or_malformed_org_id_is_404(admin: Caller):
    for bad in (str(uuid.uuid4()), "not-an-id", "x" * 300, "%E4%B8%AD"):
        await expect_error(await admin.get(f"{V1}/orgs/{bad}"), 404, "not_found")


async def test_org_names_with_sql_and_html_are_stored_and_returned_verbatim(admin: Caller):
    for i, name in enumerate((SQL_INJECTION, HTML_INJECTION)):
        created = await admin.ok("POST", f"{V1}/orgs", {"name": name, "code": f"INJ-{i}", "kind": "people"}, 201)
        assert created["name"] == name
        assert (await admin.ok("GET", f"{V1}/orgs/{created['id']}"))["name"] == name
    names = [o["name"] for o in (await admin.ok("GET", f"{V1}/orgs"))["orgs"]]
    assert SQL_INJECTION in names and HTML_INJECTION in names


async def test_an_admin_creates_an_account_with_a_password_and_it_can_sign_in(admin: Caller, client, core):
    org = await org_id(core, "DEMO-QS-TH")
    created = await admin.ok(
        "POST",
        f"{V1}/accounts",
        {
            "username": "Li.Mediator",
            "display_name": "李调解",
            "role": "mediator",
            "org_id": org,
            "password": "a-long-password-1",
            "phone": "13700001111",
        },
        201,
    )
    assert created["username"] == "li.mediator"
    assert created["org_id"] == org and created["org_name"] == "清水镇桃花村人民调解委员会"
    assert created["phone"] == "137****1111"
    assert created["active"] is True
    assert "generated_password" not in created and "password" not in created and "password_hash" not in created
    resp = await client.post(f"{V1}/auth/login", json={"username": "li.mediator", "password": "a-long-password-1"})
    assert resp.status == 200
    assert (await resp.json())["org_id"] == org


async def test_an_account_created_without_a_password_gets_one_generated_and_shown_once(admin: Caller, client, core):
    org = await org_id(core, "DEMO-YT")
    created = await admin.ok(
        "POST",
        f"{V1}/accounts",
        {"username": "dr-zhou", "display_name": "周医生", "role": "expert", "org_id": org},
        201,
    )
    password = created["generated_password"]
    assert len(password) >= 12
    resp = await client.post(f"{V1}/auth/login", json={"username": "dr-zhou", "password": password})
    assert resp.status == 200
    listed = (await admin.ok("GET", f"{V1}/accounts"))["accounts"]
    mine = next(a for a in listed if a["username"] == "dr-zhou")
    assert mine["id"] == created["id"]
    assert "generated_password" not in mine and password not in str(listed)


async def test_account_creation_is_for_admins_only(sign_in: SignIn, core):
    org = await org_id(core, "DEMO-QS")
    before = await db_state(core)
    for username in ("demo-mediator", "demo-reviewer", "demo-expert"):
        caller = await sign_in(username)
        resp = await caller.post(
            f"{V1}/accounts",
            {
                "username": f"made-by-{username}",
                "display_name": "x",
                "role": "admin",
                "org_id": org,
                "password": "x" * 12,
            },
        )
        await expect_error(resp, 403, "forbidden")
    assert (await db_state(core))["accounts"] == before["accounts"]


async def test_a_bad_account_is_refused_with_the_field_named_and_nothing_stored(admin: Caller, core):
    org = await org_id(core, "DEMO-QS")
    good = {
        "username": "new-person",
        "display_name": "新人",
        "role": "mediator",
        "org_id": org,
        "password": "long-enough-1",
    }
    before = await db_state(core)
    cases = [
        ({"username": "demo-mediator"}, 409, "conflict", "username"),
        ({"username": "has space"}, 422, "invalid_input", "username"),
        ({"username": "中文名"}, 422, "invalid_input", "username"),
        ({"username": "x" * 49}, 422, "invalid_input", "username"),
        ({"password": "short"}, 422, "invalid_input", "password"),
        ({"password": "p" * 257}, 422, "invalid_input", "password"),
        ({"role": "superuser"}, 422, "invalid_input", "role"),
        ({"display_name": "名" * 101}, 422, "invalid_input", "display_name"),
        ({"display_name": "   "}, 422, "invalid_input", "display_name"),
        ({"phone": "call me"}, 422, "invalid_input", "phone"),
        ({"org_id": str(uuid.uuid4())}, 404, "not_found", "org_id"),
    ]
    for change, status, code, field in cases:
        resp = await admin.post(f"{V1}/accounts", {**good, **change})
        await expect_error(resp, status, code, fields=(field,))
    assert await db_state(core) == before


async def test_a_reviewer_lists_the_accounts_of_their_subtree_only(sign_in: SignIn):
    demo = await sign_in("demo-reviewer")
    names = {a["username"] for a in (await demo.ok("GET", f"{V1}/accounts"))["accounts"]}
    assert names == {"demo-admin", "demo-mediator", "demo-expert", "demo-reviewer"}
    other = await sign_in("other-reviewer")
    names = {a["username"] for a in (await other.ok("GET", f"{V1}/accounts"))["accounts"]}
    assert names == {"other-mediator", "other-reviewer"}


async def test_a_mediator_lists_their_own_orgs_accounts_and_the_experts_of_their_org_tree(mediator: Caller):
    """The district's expert pool serves every committee under it, so its experts are invitable."""
    names = {a["username"] for a in (await mediator.ok("GET", f"{V1}/accounts"))["accounts"]}
    assert names == {"demo-mediator", "demo-expert"}


async def test_an_admin_lists_every_account_and_filters_by_role_and_org(admin: Caller, core):
    everyone = (await admin.ok("GET", f"{V1}/accounts"))["accounts"]
    assert {a["username"] for a in everyone} >= {"demo-admin", "demo-mediator", "other-mediator", "other-reviewer"}
    mediators = (await admin.ok("GET", f"{V1}/accounts?role=mediator"))["accounts"]
    assert {a["username"] for a in mediators} == {"demo-mediator", "other-mediator"}
    assert all(a["role"] == "mediator" for a in mediators)
    yt = await org_id(core, "DEMO-YT")
    in_yt = (await admin.ok("GET", f"{V1}/accounts?org_id={yt}"))["accounts"]
    assert [a["username"] for a in in_yt] == ["demo-expert"]
    await expect_error(await admin.get(f"{V1}/accounts?role=boss"), 422, "invalid_input", fields=("role",))
    await expect_error(await admin.get(f"{V1}/accounts?colour=red"), 422, "invalid_input", fields=("colour",))


async def test_account_display_names_with_sql_and_html_are_stored_and_returned_verbatim(admin: Caller, core):
    org = await org_id(core, "DEMO-QS")
    for i, name in enumerate((SQL_INJECTION, HTML_INJECTION)):
        created = await admin.ok(
            "POST",
            f"{V1}/accounts",
            {"username": f"odd-name-{i}", "display_name": name, "role": "reviewer", "org_id": org},
            201,
        )
        assert created["display_name"] == name
    listed = {a["username"]: a["display_name"] for a in (await admin.ok("GET", f"{V1}/accounts"))["accounts"]}
    assert listed["odd-name-0"] == SQL_INJECTION and listed["odd-name-1"] == HTML_INJECTION
