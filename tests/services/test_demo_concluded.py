"""`create_concluded_case`: the demo's second case, a mediation already held and its documents
signed, made through the real services on SQLite and on PostgreSQL. The tests read back what
it made the way the product reads it, and check the case log names `system:cli` throughout."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import datetime, timedelta

import pypdf
import pytest

from server.domain.accounts import StaffRole
from server.domain.clock import LOCAL_TZ, FrozenClock
from server.domain.confirmation import RequestStatus, check_package
from server.domain.errors import NotFound, ValidationFailed
from server.domain.signatures import check_png
from server.services import agreements, cases, confirmations, minutes, notices, orgs, sessions, signatures
from server.services.core import Core
from server.services.demo import (
    DEFAULT_COURT_URL,
    DEMO_IP,
    DEMO_USER_AGENT,
    ConcludedCase,
    create_concluded_case,
    create_demo,
    signature_png,
)
from server.storage import accounts as stored_accounts
from server.storage import caselog
from server.storage import cases as stored_cases
from tests.conftest import principal_for

COURT = "http://127.0.0.1:8090/court/confirmations"


@pytest.fixture
async def concluded(core: Core) -> ConcludedCase:
    await create_demo(core)
    return await create_concluded_case(core, court_url=COURT)


def beijing(at: datetime | None) -> str:
    assert at is not None
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


async def test_the_session_was_held_two_days_ago_and_has_ended(core: Core, clock: FrozenClock, concluded) -> None:
    session = await sessions.load_session(core, concluded.session_id)
    day = (clock.now().astimezone(LOCAL_TZ) - timedelta(days=2)).strftime("%Y-%m-%d")
    assert session.status == "ended"
    assert (beijing(session.started_at), beijing(session.ended_at)) == (f"{day} 09:30", f"{day} 10:40")
    async with core.db.read() as tx:
        case = await stored_cases.load_case(tx, concluded.case_id)
    assert case.status == "settled" and case.number == concluded.case_number
    assert case.org.code == "DEMO-QS-TH" and case.dispute_type == "neighbour"
    assert case.mediator is not None and case.mediator.display_name == "王建国"


async def test_the_minutes_have_claims_entries_in_the_session_and_a_result_and_are_locked(core, concluded) -> None:
    mediator = await principal_for(core, "demo-mediator")
    view = await minutes.current(core, await minutes.editor_for(core, mediator, concluded.session_id))
    session = await sessions.load_session(core, concluded.session_id)
    doc = view.document
    assert view.revision >= 1 and view.actor == "system:cli"
    assert all(p["claims"] and p["facts"] for p in doc["parties"]) and len(doc["parties"]) == 2
    assert 5 <= len(doc["entries"]) <= 8 and doc["result"].startswith("经调解")
    assert session.started_at is not None and session.ended_at is not None
    for entry in doc["entries"]:
        assert entry["speaker"] and entry["text"]
        assert session.started_at <= datetime.fromisoformat(entry["at"]) <= session.ended_at
    assert doc["header"]["ended_at"] is not None  # the last save came after the end
    assert [(p["name"], p["role"]) for p in doc["header"]["participants"]] == [
        ("王建国", "mediator"),
        ("周桂兰", "applicant"),
        ("张德顺", "respondent"),
    ]
    signed = await signatures.minutes_signatures(core, mediator, concluded.session_id)
    assert signed.locked and signed.revision == view.revision and signed.sha256 == view.sha256
    assert [s.signer_role for s in signed.signatures] == ["applicant", "respondent", "mediator"]


async def test_the_agreement_is_locked_with_three_signatures_each_naming_its_signer(core, concluded) -> None:
    mediator = await principal_for(core, "demo-mediator")
    state = await agreements.get(core, mediator, concluded.agreement_id)
    current = state.current
    assert state.agreement.template == "neighbour" and state.agreement.session_id == concluded.session_id
    assert current.locked and current.missing == () and len(current.record.content["terms"]) == 2
    async with core.db.read() as tx:
        case = await stored_cases.load_case(tx, concluded.case_id)
    parties = {p.side: p for p in case.parties}
    assert [(s.signer, s.name) for s in current.signatures] == [
        (f"party:{parties['applicant'].id}", "周桂兰"),
        (f"party:{parties['respondent'].id}", "张德顺"),
        (f"account:{mediator.account_id}", "王建国"),
    ]
    for s in current.signatures:
        # The record names the party who signs; the actor is who did it, the command line.
        assert (s.actor, s.ip, s.user_agent) == ("system:cli", DEMO_IP, DEMO_USER_AGENT)
        assert s.version_sha256 == current.record.sha256
    assert len({s.image_sha256 for s in current.signatures}) == 3  # three different drawings


async def test_both_parties_acknowledged_the_notice(core, concluded) -> None:
    acks = await notices.acknowledgements(core, concluded.session_id)
    assert [(a.role, a.name, a.actor, a.language) for a in acks] == [
        ("applicant", "周桂兰", "system:cli", "zh"),
        ("respondent", "张德顺", "system:cli", "zh"),
    ]
    assert {a.notice_sha256 for a in acks} == {notices.notice(core).sha256}


async def test_the_confirmation_request_is_pending_for_the_configured_court(core, clock, concluded) -> None:
    mediator = await principal_for(core, "demo-mediator")
    listed = await confirmations.list_for_case(core, mediator, concluded.case_id)
    assert [x.request.id for x in listed] == [concluded.confirmation_request_id]
    request, window = listed[0].request, listed[0].window
    assert request.status == RequestStatus.pending and request.endpoint == COURT and request.attempts == 0
    assert request.created_by == "system:cli" and request.queued_at == clock.now()  # asked today
    assert window is not None and window.days_left == 29 and not window.expired
    admin = await principal_for(core, "demo-admin")
    district = await orgs.find_org_by_code(core, "DEMO")
    configured = await orgs.document_settings(core, admin, district.id)
    assert configured.court_endpoint == COURT and configured.has_court_secret
    async with core.db.read() as tx:
        court = await stored_accounts.court_of(tx, district.id)
    assert court is not None and court.secret == concluded.court_secret and len(court.secret) >= 32
    assert court.name == configured.court_name == "示范区人民法院"
    package = (core.settings.data_dir / request.package_path).read_bytes()
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        files = {name: z.read(name) for name in z.namelist()}
    assert check_package(files) == []
    application = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(files["application.pdf"])).pages)
    assert "示范区人民法院" in application and "周桂兰" in application and "张德顺" in application
    assert "相邻排水纠纷" in "".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(files["minutes.pdf"])).pages
    ).replace("\n", "")


async def test_every_entry_of_the_case_log_is_the_cli_in_time_order_and_the_chain_verifies(core, concluded) -> None:
    async with core.db.read() as tx:
        log = await caselog.entries(tx, concluded.case_id)
        check = await caselog.verify(tx, concluded.case_id)
    assert check.ok, check
    assert {e.actor for e in log} == {"system:cli"}
    assert [e.at for e in log] == sorted(e.at for e in log)
    kinds = [e.kind for e in log]
    for kind in (
        "session.join",
        "session.live",
        "session.notice_presented",
        "session.notice_acknowledged",
        "minutes.saved",
        "session.ended",
        "agreement.locked",
        "minutes.locked",
        "confirmation.requested",
    ):
        assert kind in kinds, kind
    assert kinds.index("agreement.locked") < kinds.index("minutes.locked") < kinds.index("confirmation.requested")


async def test_the_first_demo_case_is_left_as_create_demo_made_it(core) -> None:
    demo = await create_demo(core)
    async with core.db.read() as tx:
        before = await caselog.entries(tx, demo.case_id)
    await create_concluded_case(core)
    async with core.db.read() as tx:
        after = await caselog.entries(tx, demo.case_id)
        case = await stored_cases.load_case(tx, demo.case_id)
    assert after == before and case.number.startswith("DEMO-QS-2026-")
    # Its district now has the court endpoint too, so it can be sent once it is signed.
    admin = await principal_for(core, "demo-admin")
    settings = await orgs.document_settings(core, admin, (await orgs.find_org_by_code(core, "DEMO")).id)
    assert settings.court_endpoint == DEFAULT_COURT_URL


async def test_run_twice_it_makes_a_second_case_and_a_fresh_secret(core) -> None:
    await create_demo(core)
    first = await create_concluded_case(core)
    second = await create_concluded_case(core)
    assert first.case_number.endswith("-0001") and second.case_number.endswith("-0002")
    assert first.court_secret != second.court_secret
    reviewer = await principal_for(core, "demo-reviewer")
    village = await orgs.find_org_by_code(core, "DEMO-QS-TH")
    _, total = await cases.list_cases(core, reviewer, cases.CaseFilters(org_id=village.id))
    assert total == 2


async def test_without_the_demo_orgs_it_refuses_and_makes_nothing(core) -> None:
    with pytest.raises(NotFound, match="create_demo"):
        await create_concluded_case(core)


async def test_a_bad_court_url_is_refused_before_any_case_is_made(core) -> None:
    await create_demo(core)
    with pytest.raises(ValidationFailed):
        await create_concluded_case(core, court_url="ftp://court.example/in")
    reviewer = await principal_for(core, "demo-reviewer")
    assert reviewer.staff_role is StaffRole.reviewer
    village = await orgs.find_org_by_code(core, "DEMO-QS-TH")
    _, total = await cases.list_cases(core, reviewer, cases.CaseFilters(org_id=village.id))
    assert total == 0


async def test_it_runs_on_a_real_clock_too(core: Core) -> None:
    """`heshi demo` runs on the system clock, not on the tests' frozen one."""
    from server.domain.clock import SystemClock

    real = replace(core, clock=SystemClock())
    await create_demo(real)
    made = await create_concluded_case(real)
    session = await sessions.load_session(real, made.session_id)
    assert session.ended_at is not None and session.ended_at < real.clock.now() - timedelta(days=1)


def test_the_signature_images_are_real_pngs_that_differ_per_signer() -> None:
    images = [check_png(signature_png(seed)) for seed in (1, 2, 3)]
    assert {(i.width, i.height) for i in images} == {(240, 80)}
    assert len({i.sha256 for i in images}) == 3
    assert signature_png(1) == signature_png(1)
