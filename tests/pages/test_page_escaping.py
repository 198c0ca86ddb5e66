"""Whatever people type is shown as text: no page lets it become markup."""

from __future__ import annotations

from tests.conftest import api_login
from tests.pages.helpers import enter_link, path_of

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = "\"'><img src=x onerror=alert(1)>"
SQL = "'; DROP TABLE cases; --"
PAYLOAD = f"{SCRIPT}{ATTRIBUTE}{SQL}"
# Jinja's autoescape: & < > " ' become entities.
ESCAPED = [
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#34;&#39;&gt;&lt;img src=x onerror=alert(1)&gt;",
    "&#39;; DROP TABLE cases; --",
]
RAW = [SCRIPT, "<img src=x", "onerror=alert(1)>", "\"'>"]


def _assert_escaped(page: str, where: str, times: int = 1) -> None:
    for raw in RAW:
        assert raw not in page, f"{where}: raw {raw!r} in the page"
    for escaped in ESCAPED:
        assert page.count(escaped) >= times, f"{where}: {escaped!r} shown fewer than {times} times"


async def _hostile_case(client, world):
    """Create the case, a session and invitations through the REST API, as a mediator would."""
    csrf = await api_login(client, "demo-mediator", world.passwords["demo-mediator"])
    headers = {"X-CSRF-Token": csrf}
    resp = await client.post(
        "/api/v1/cases",
        headers=headers,
        json={
            "title": f"标题{PAYLOAD}"[:200],
            "summary": f"概要{PAYLOAD}",
            "dispute_type": "other",
            "source": "on_site",
            "parties": [
                {"side": "applicant", "name": f"甲{PAYLOAD}", "agent_name": f"代{PAYLOAD}"},
                {"side": "respondent", "name": f"乙{PAYLOAD}"},
            ],
        },
    )
    assert resp.status == 201, await resp.text()
    case = await resp.json()
    resp = await client.post(
        f"/api/v1/cases/{case['id']}/sessions",
        headers=headers,
        json={"scheduled_at": "2026-12-01T09:30:00+08:00", "title": f"会{PAYLOAD}"},
    )
    assert resp.status == 201, await resp.text()
    session = await resp.json()
    links = {}
    for key, body in (
        ("observer", {"role": "observer", "display_name": f"旁{PAYLOAD}"}),
        ("agent", {"role": "agent", "party_id": case["parties"][0]["id"]}),
        ("applicant", {"role": "applicant", "party_id": case["parties"][0]["id"]}),
    ):
        resp = await client.post(f"/api/v1/sessions/{session['id']}/invitations", headers=headers, json=body)
        assert resp.status == 201, await resp.text()
        links[key] = (await resp.json())["link"]
    return case, session, links


async def test_hostile_text_is_escaped_on_every_staff_page(client, world):
    case, session, _ = await _hostile_case(client, world)
    listing = await client.get("/cases")
    assert listing.status == 200
    # The list shows the title and both party names.
    _assert_escaped(await listing.text(), "case list", times=3)
    found = await client.get("/cases", params={"q": "DROP TABLE"})
    _assert_escaped(await found.text(), "case list search", times=3)
    detail = await client.get(f"/cases/{case['id']}")
    assert detail.status == 200
    # Title, summary, both names, the agent, the session title, three invitations (and their labels).
    _assert_escaped(await detail.text(), "case page", times=8)
    staff_view = await client.get(f"/s/{session['id']}")
    assert staff_view.status == 200
    _assert_escaped(await staff_view.text(), "session page as staff", times=2)


async def test_hostile_text_is_escaped_on_the_session_page_of_an_invitation_holder(client, world):
    case, session, links = await _hostile_case(client, world)
    for key in ("observer", "agent", "applicant"):
        client.session.cookie_jar.clear()
        opened = await enter_link(client, path_of(links[key]), allow_redirects=False)
        assert opened.status == 302
        resp = await client.get(opened.headers["Location"])
        assert resp.status == 200
        # The session title, the case title and the holder's own name.
        _assert_escaped(await resp.text(), f"session page of the {key}", times=3)


async def test_hostile_text_in_a_query_or_path_is_escaped_too(client, world):
    await api_login(client, "demo-mediator", world.passwords["demo-mediator"])
    resp = await client.get("/cases", params={"q": PAYLOAD[:100]})
    page = await resp.text()
    assert resp.status == 200
    for raw in RAW:
        assert raw not in page
    resp = await client.get(f"/lang/{ATTRIBUTE}")
    assert resp.status == 404
    page = await resp.text()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerro" in page  # the message names (the start of) the language asked for
    resp = await client.get("/login", params={"next": f"/cases?{PAYLOAD}"})
    assert SCRIPT not in await resp.text()
