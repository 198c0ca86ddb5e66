"""Helpers for the REST API tests: signed-in callers, the error-shape check, database snapshots.

Every test here runs against the real app through aiohttp's test client, on SQLite and on
PostgreSQL (the `client` and `core` fixtures of tests/conftest.py are parametrised).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from yarl import URL

from server.services.core import Core
from server.storage import models as M
from tests.conftest import World, api_login

V1 = "/api/v1"
SQL_INJECTION = "'; DROP TABLE cases; --"
HTML_INJECTION = "<script>alert(1)</script>"

# Every table an API call may write. A refused request must leave all of them as they were.
WRITTEN_TABLES = (
    M.Org,
    M.Account,
    M.Case,
    M.Party,
    M.MediationSession,
    M.Invitation,
    M.CaseEvent,
    M.WebSession,
    M.LoginFailure,
    # The documents of issue 11: minutes, the notice, agreements, signatures, judicial confirmation.
    M.MinutesRevision,
    M.NoticeAcknowledgement,
    M.Agreement,
    M.AgreementVersion,
    M.Signature,
    M.ConfirmationRequest,
    # Issue 12: evidence exports and checkpoints.
    M.CaseExport,
    M.EvidenceCheckpoint,
)


@dataclass
class Caller:
    """One signed-in browser: its own cookie jar, and the CSRF token that goes with it."""

    client: Any
    username: str
    csrf: str

    async def get(self, path: str | URL, **kw: Any) -> Any:
        return await self.client.get(path, **kw)

    async def send(
        self, method: str, path: str | URL, body: Any = None, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        """Any unsafe method with the CSRF header; a body that is not raw `data` goes as JSON."""
        if body is not None:
            kw["json"] = body
        return await self.client.request(method, path, headers={"X-CSRF-Token": self.csrf, **(headers or {})}, **kw)

    async def post(self, path: str | URL, body: Any = None, *, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        """POST with the CSRF header; a body that is not raw `data` goes as JSON."""
        return await self.send("POST", path, body, headers=headers, **kw)

    async def send_raw(
        self,
        method: str,
        path: str,
        data: bytes | str,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send raw bytes with `method`; `content_type=None` sends no Content-Type header at all."""
        h = {"X-CSRF-Token": self.csrf, **(headers or {})}
        if content_type is not None:
            h["Content-Type"] = content_type
        return await self.client.request(
            method,
            path,
            data=data,
            headers=h,
            skip_auto_headers=() if content_type is not None else ("Content-Type",),
        )

    async def post_raw(
        self, path: str, data: bytes | str, content_type: str | None = "application/json", **headers: str
    ) -> Any:
        """POST raw bytes; `content_type=None` sends no Content-Type header at all."""
        return await self.send_raw("POST", path, data, content_type, headers)

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Make a call that must succeed with `status`; return its JSON."""
        resp = await (self.get(path) if method == "GET" else self.post(path, body))
        assert resp.status == status, f"{method} {path}: {resp.status} {await resp.text()}"
        return await resp.json()


SignIn = Callable[[str], Awaitable[Caller]]


@pytest.fixture
def sign_in(aiohttp_client: Any, client: Any, world: World) -> SignIn:
    """Sign a demo account in on a fresh client (own cookie jar) of the same running app."""

    async def go(username: str) -> Caller:
        c = await aiohttp_client(client.server)
        csrf = await api_login(c, username, world.passwords[username])
        return Caller(c, username, csrf)

    return go


@pytest.fixture
async def admin(sign_in: SignIn) -> Caller:
    return await sign_in("demo-admin")


@pytest.fixture
async def mediator(sign_in: SignIn) -> Caller:
    return await sign_in("demo-mediator")


async def expect_error(resp: Any, status: int, code: str, *, fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """Assert the one error shape: {"error": {"code", "message", "fields"?}}; return the inner object."""
    text = await resp.text()
    assert resp.status == status, f"{resp.method} {resp.url.path}: expected {status} {code}, got {resp.status}: {text}"
    assert resp.content_type == "application/json", text
    body = await resp.json()
    assert list(body) == ["error"], body
    err = body["error"]
    assert set(err) <= {"code", "message", "fields"}, err
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"].strip(), err
    if fields:
        assert isinstance(err.get("fields"), dict), err
        for name in fields:
            assert name in err["fields"], (name, err)
    if "fields" in err:
        assert err["fields"] and all(isinstance(k, str) and isinstance(v, str) for k, v in err["fields"].items())
    assert "Traceback" not in text
    return err


async def db_state(core: Core) -> dict[str, Any]:
    """Row counts of every written table, and the fields of cases, invitations, orgs' document
    settings, agreements and their versions that calls change in place."""
    async with core.db.read() as s:
        state: dict[str, Any] = {
            m.__tablename__: (await s.execute(select(func.count()).select_from(m))).scalar_one() for m in WRITTEN_TABLES
        }
        state["case_rows"] = sorted(
            tuple(r)
            for r in (
                await s.execute(
                    select(M.Case.id, M.Case.status, M.Case.title, M.Case.summary, M.Case.updated_at, M.Case.legal_hold)
                )
            ).all()
        )
        state["invitation_rows"] = sorted(
            tuple(r) for r in (await s.execute(select(M.Invitation.id, M.Invitation.revoked_at))).all()
        )
        state["last_event_seq"] = sorted(
            tuple(r)
            for r in (
                await s.execute(select(M.CaseEvent.case_id, func.max(M.CaseEvent.seq)).group_by(M.CaseEvent.case_id))
            ).all()
        )
        state["org_document_rows"] = sorted(
            tuple(r)
            for r in (
                await s.execute(
                    select(
                        M.Org.id,
                        M.Org.seal_png,
                        M.Org.court_endpoint,
                        M.Org.court_secret,
                        M.Org.court_name,
                        M.Org.recording_retention_days,
                        M.Org.parties_see_recordings,
                    )
                )
            ).all()
        )
        state["agreement_rows"] = sorted(
            tuple(r) for r in (await s.execute(select(M.Agreement.id, M.Agreement.current_version))).all()
        )
        state["agreement_version_rows"] = sorted(
            tuple(r) for r in (await s.execute(select(M.AgreementVersion.id, M.AgreementVersion.locked_at))).all()
        )
    return state


async def invitation_ids(core: Core, session_id: str) -> dict[str, str]:
    """The demo session's invitations by role."""
    async with core.db.read() as s:
        rows = (
            await s.execute(select(M.Invitation.role, M.Invitation.id).where(M.Invitation.session_id == session_id))
        ).all()
    return {role: inv_id for role, inv_id in rows}


async def party_ids(core: Core, case_id: str) -> dict[str, str]:
    """The case's first party of each side."""
    async with core.db.read() as s:
        rows = (
            await s.execute(
                select(M.Party.side, M.Party.id).where(M.Party.case_id == case_id).order_by(M.Party.position.desc())
            )
        ).all()
    return {side: party_id for side, party_id in rows}


async def account_id(core: Core, username: str) -> str:
    async with core.db.read() as s:
        return (await s.execute(select(M.Account.id).where(M.Account.username == username))).scalar_one()


async def org_id(core: Core, code: str) -> str:
    async with core.db.read() as s:
        return (await s.execute(select(M.Org.id).where(M.Org.code == code))).scalar_one()


async def other_invitation_id(core: Core, world: World) -> str:
    """An invitation in the other district, issued by its own mediator."""
    from server.domain.grants import SessionRole
    from server.services import invitations

    inv = await invitations.issue(
        core,
        world.principals["other-mediator"],
        world.other_session_id,
        role=SessionRole.observer,
        display_name="村干部",
    )
    return inv.id


async def join_as(client: Any, world: World, role: str = "applicant") -> None:
    """Open a demo join link on `client`, which then holds that invitation's cookie (and no staff one)."""
    from tests.pages.helpers import enter_link

    resp = await enter_link(client, URL(world.demo.links[role]).path, allow_redirects=False)  # page, then its form
    assert resp.status == 302, await resp.text()
    assert any(c.key == "heshi_join" for c in client.session.cookie_jar), "join link set no cookie"


def case_body(**overrides: Any) -> dict[str, Any]:
    """A valid case, as a mediator would submit it."""
    body: dict[str, Any] = {
        "title": "张三与李四相邻关系纠纷",
        "summary": "院墙排水",
        "dispute_type": "neighbour",
        "source": "self_applied",
        "parties": [
            {"side": "applicant", "name": "张三", "phone": "13912345678", "id_number": "11010519491231002X"},
            {"side": "respondent", "name": "李四"},
        ],
    }
    body.update(overrides)
    return body


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def raw_request(client: Any, head: bytes) -> tuple[int, bytes]:
    """Send hand-made request bytes (headers aiohttp's client would refuse to send); return status and body."""
    import asyncio

    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def cookie_value(client: Any, name: str) -> str:
    return next(c.value for c in client.session.cookie_jar if c.key == name)
