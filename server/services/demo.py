"""`heshi demo`: a small, realistic demo — an org tree, staff, a case, a session, invitations;
`create_recorded_session`, an earlier session of that case, held and recorded (synthetic media);
and `create_concluded_case`, a second case whose mediation is over and whose documents are signed."""

from __future__ import annotations

import base64
import math
import random
import secrets
import struct
import uuid
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from recordings import evidence, files, synthetic
from recordings.worker import file_stem
from server.auth.passwords import generate_password
from server.domain.access import Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.actors import Actor, SystemReason
from server.domain.cases import CaseSource, CaseStatus, DisputeType, PartyInput, PartySide
from server.domain.clock import LOCAL_TZ, FrozenClock, wire_time
from server.domain.errors import NotFound
from server.domain.grants import SessionRole
from server.domain.minutes import MinutesIn
from server.domain.orgs import OrgKind, OrgLevel
from server.domain.sessions import SessionStatus
from server.domain.signatures import DATA_URL_PREFIX, PNG_MAGIC, SignatureInput
from server.storage import accounts as stored
from server.storage import chat as stored_chat
from server.storage.accounts import AccountRecord, OrgRecord
from server.storage.invitations import InvitationRecord

from . import (
    accounts,
    agreements,
    cases,
    confirmations,
    eventlog,
    invitations,
    minutes,
    notices,
    orgs,
    sessions,
    signatures,
    signin,
)
from .core import Core

ORGS = [  # code, name, level, kind, parent code
    ("DEMO", "示范区司法局", OrgLevel.district, OrgKind.justice_bureau, None),
    ("DEMO-QS", "示范区清水镇人民调解委员会", OrgLevel.town, OrgKind.people, "DEMO"),
    ("DEMO-QS-TH", "清水镇桃花村人民调解委员会", OrgLevel.village, OrgKind.people, "DEMO-QS"),
    ("DEMO-YT", "示范区医疗纠纷人民调解委员会", OrgLevel.district, OrgKind.professional, "DEMO"),
]
ACCOUNTS = [  # username, display name, role, org code
    ("demo-admin", "系统管理员", StaffRole.admin, "DEMO"),
    ("demo-mediator", "王建国", StaffRole.mediator, "DEMO-QS"),
    ("demo-expert", "陈敏医生", StaffRole.expert, "DEMO-YT"),
    ("demo-reviewer", "刘芳", StaffRole.reviewer, "DEMO"),
]


@dataclass
class DemoResult:
    case_id: str
    case_number: str
    session_id: str
    links: dict[str, str]
    accounts: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "case_number": self.case_number,
            "session_id": self.session_id,
            "links": self.links,
            "accounts": self.accounts,
        }


async def _ensure_org(
    core: Core, code: str, name: str, level: OrgLevel, kind: OrgKind, parent: OrgRecord | None
) -> OrgRecord:
    async with core.db.read() as tx:
        existing = await stored.org_by_code(tx, code)
    if existing is not None:
        return existing
    return await orgs.create_org(
        core, None, name=name, code=code, kind=kind, level=level, parent_id=parent.id if parent else None
    )


async def _ensure_account(
    core: Core, username: str, name: str, role: StaffRole, org: OrgRecord, password: str
) -> AccountRecord:
    """Create the account, or give an existing demo account this run's password."""
    async with core.db.read() as tx:
        existing = await stored.account_by_username(tx, username)
    if existing is None:
        return await accounts.create_account(
            core, None, username=username, display_name=name, role=role, org_id=org.id, password=password
        )
    password_hash = await core.passwords.hash(password)
    async with core.db.write() as tx:
        await stored.set_password(tx, existing.id, password_hash)
        return await stored.set_active(tx, existing.id, True)


async def create_demo(core: Core) -> DemoResult:
    by_code: dict[str, OrgRecord] = {}
    for code, name, level, kind, parent in ORGS:
        by_code[code] = await _ensure_org(core, code, name, level, kind, by_code.get(parent) if parent else None)
    made: dict[StaffRole, AccountRecord] = {}
    account_rows = []
    for username, name, role, org_code in ACCOUNTS:
        password = generate_password()
        made[role] = await _ensure_account(core, username, name, role, by_code[org_code], password)
        account_rows.append(
            {
                "username": username,
                "password": password,
                "role": role.value,
                "display_name": name,
                "org": by_code[org_code].name,
            }
        )
    mediator = made[StaffRole.mediator]
    acting = Principal(
        kind=PrincipalKind.staff,
        display_name=mediator.display_name,
        account_id=mediator.id,
        staff_role=StaffRole.mediator,
        org_id=mediator.org_id,
        org_path=by_code["DEMO-QS"].path,
        system_reason=SystemReason.cli.value,
    )  # only `heshi demo` makes the demo
    case = await cases.create_case(
        core,
        acting,
        title="李秀英与清水镇卫生院医疗纠纷",
        dispute_type=DisputeType.medical,
        source=CaseSource.self_applied,
        summary="申请人之母于2026年10月在被申请人处住院期间摔伤，申请人认为护理存在过错，要求赔偿医疗费及护理费。"
        "被申请人认为已尽到护理义务。双方同意通过视频调解，并请医疗纠纷调委会专家提供意见。",
        parties=[
            PartyInput(side=PartySide.applicant, name="李秀英", phone="13800138000", id_number="50010119900101123X"),
            PartyInput(side=PartySide.respondent, name="清水镇卫生院", phone="023-65550000", agent_name="赵院长"),
        ],
    )
    await cases.transition(core, acting, case.id, CaseStatus.accepted, "双方同意调解")
    session = await sessions.schedule_session(
        core, acting, case.id, scheduled_at=core.clock.now() + timedelta(hours=1), title="第一次视频调解"
    )
    applicant = next(p for p in case.parties if p.side == PartySide.applicant.value)
    respondent = next(p for p in case.parties if p.side == PartySide.respondent.value)
    invites = {
        "mediator": await invitations.issue(
            core, acting, session.id, role=SessionRole.mediator, account_id=mediator.id
        ),
        "applicant": await invitations.issue(
            core, acting, session.id, role=SessionRole.applicant, party_id=applicant.id
        ),
        "respondent": await invitations.issue(
            core, acting, session.id, role=SessionRole.respondent, party_id=respondent.id
        ),
        "expert": await invitations.issue(
            core, acting, session.id, role=SessionRole.expert, account_id=made[StaffRole.expert].id, direct_entry=True
        ),
    }
    return DemoResult(
        case_id=case.id,
        case_number=case.number,
        session_id=session.id,
        links={role: invitations.link_for(core, inv) for role, inv in invites.items()},
        accounts=account_rows,
    )


# ---- the recorded session: an earlier session of the demo case, held and recorded -----------

RECORDED_SECONDS = 6.0  # how long the recorded session's media last


@dataclass
class RecordedSession:
    """The demo case's earlier session: held yesterday, recorded, ended."""

    session_id: str
    recording_id: str
    segment_ids: list[str]
    started_at: datetime  # the first packet of the recording
    review_path: str  # the review page, for staff who may review the case

    def as_json(self) -> dict[str, Any]:
        return {"recorded_session_id": self.session_id}


async def create_recorded_session(core: Core, demo: DemoResult) -> RecordedSession:
    """After `create_demo`: an earlier session of the demo case, held yesterday 15:00–15:03 Beijing
    time with the mediator 王建国, the applicant and the respondent's agent, and recorded for
    `RECORDED_SECONDS`: the mediator's and the applicant's video and audio, the respondent's audio
    only (they joined by phone). A few chat messages and the minutes' entries fall inside the
    recording, so the review page shows them in step with the media.

    The media are synthetic (recordings/synthetic.py): a VP8 test pattern and an Opus tone,
    written by the recorder's own segment writer with the session's wall clock and reported to
    the evidence log as a recorder worker reports them, so each `recording.segment` entry names
    `recorder:<run id>`. No peer, browser or recorder worker was involved. Everything else (the
    scheduling, the links, who joined, the run's start and stop, the parties' consents, the chat,
    the minutes, the end) is written as `system:cli`, as in `create_concluded_case`: the staff act
    through principals that carry `SystemReason.cli`, and what the live room would have written
    is written here with the CLI as its actor. It runs on a `FrozenClock` set back to yesterday;
    the case itself was registered today by `create_demo`, so these entries come after its
    `case.created` in the log although their times are earlier.
    """
    async with core.db.read() as tx:
        mediator = await stored.account_by_username(tx, "demo-mediator")
    if mediator is None:
        raise NotFound("the demo accounts are missing: run create_demo first")
    as_mediator = _cli_principal(mediator)
    day = core.clock.now().astimezone(LOCAL_TZ).date() - timedelta(days=1)

    def at(hour: int, minute: int, second: float = 0.0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ).astimezone(UTC) + timedelta(seconds=second)

    clock = FrozenClock(at(14, 40))
    then = replace(core, clock=clock)
    case_id = demo.case_id
    session = await sessions.schedule_session(
        then, as_mediator, case_id, scheduled_at=at(15, 0), title="视频调解预备会谈"
    )
    case = await cases.get_case(then, as_mediator, case_id)
    applicant = next(p for p in case.parties if p.side == PartySide.applicant.value)
    respondent = next(p for p in case.parties if p.side == PartySide.respondent.value)
    clock.set(at(14, 45))
    inv_applicant = await invitations.issue(
        then, as_mediator, session.id, role=SessionRole.applicant, party_id=applicant.id
    )
    inv_respondent = await invitations.issue(
        then, as_mediator, session.id, role=SessionRole.respondent, party_id=respondent.id
    )
    m_pid, a_pid, r_pid = f"a:{mediator.id}", f"i:{inv_applicant.id}", f"i:{inv_respondent.id}"
    r_name = f"{respondent.name}（{respondent.agent_name}）" if respondent.agent_name else respondent.name
    log = _RoomLog(then, case_id, session.id)

    clock.set(at(15, 0))
    await log.write("session.join", pid=m_pid, name=mediator.display_name, role="mediator", state="admitted")
    await sessions.set_session_status(then, as_mediator, session.id, SessionStatus.live)
    clock.set(at(15, 0, 20))
    await log.write("session.join", pid=a_pid, name=applicant.name, role="applicant", state="lobby")
    await log.write("session.join", pid=r_pid, name=r_name, role="respondent", state="lobby")
    clock.set(at(15, 0, 40))
    await log.write("session.admit", pid=a_pid)
    await log.write("session.admit", pid=r_pid)

    # The mediator starts the recording; each party agrees on their screen.
    clock.set(at(15, 1))
    run = await evidence.start_run(then, case_id=case_id, session_id=session.id, actor=CLI, node_id=None)
    for pid, name, role, inv_id in (
        (a_pid, applicant.name, "applicant", inv_applicant.id),
        (r_pid, r_name, "respondent", inv_respondent.id),
    ):
        clock.advance(seconds=5)
        await evidence.save_consent(then, run.id, evidence.Person(pid, name, role, inv_id, None), CLI, "granted", "zh")

    # The media, from t0 (the recorder's first packet), and what happens while they run.
    t0 = at(15, 1, 15)
    data_dir = Path(core.settings.data_dir)
    folder = files.session_dir(data_dir, case_id, session.id)
    folder.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    tracks = [(m_pid, "video"), (m_pid, "audio"), (a_pid, "video"), (a_pid, "audio"), (r_pid, "audio")]
    written = {
        (pid, kind): await synthetic.write_track(
            folder,
            file_stem(pid, tag, 1, kind),
            kind,
            t0,
            RECORDED_SECONDS,
            segment_seconds=2.0,
            track_id=f"{pid}-{kind}",
        )
        for pid, kind in tracks
    }
    chat = [
        (1.5, m_pid, mediator.display_name, "mediator", "今天先核对双方信息和调解安排，本次会谈全程录像。"),
        (3.0, a_pid, applicant.name, "applicant", "好的，住院费用清单我已经准备好了。"),
        (4.5, r_pid, r_name, "respondent", "护理记录我们也会带到下次调解。"),
    ]
    for offset, pid, name, role, text in chat:
        clock.set(t0 + timedelta(seconds=offset))
        await _chat(then, case_id, session.id, pid, name, role, text)
    segment_ids: list[str] = []
    clock.set(t0 + timedelta(seconds=RECORDED_SECONDS + 0.5))
    for (pid, _kind), segments in written.items():
        segment_ids += await synthetic.log_segments(then, run.id, pid, data_dir, segments)
    clock.set(t0 + timedelta(seconds=RECORDED_SECONDS + 1))
    await evidence.stop_run(then, run.id, actor=CLI, reason="预备会谈结束")

    # The minutes, whose entries point into the recording; then everyone leaves.
    editor = await minutes.editor_for(then, as_mediator, session.id)
    entries = [
        (t0 + timedelta(seconds=1), "调解员 王建国", "说明本次预备会谈的安排和录像，双方同意录像。"),
        (t0 + timedelta(seconds=3), "申请人 李秀英", "表示已准备好住院费用清单。"),
        (t0 + timedelta(seconds=4.5), "被申请人 清水镇卫生院", "表示将提交护理记录。"),
    ]
    clock.set(at(15, 2, 30))
    await _save_minutes(then, editor, 0, [], entries, None)
    clock.set(at(15, 2, 50))
    await log.write("session.leave", pid=a_pid)
    await log.write("session.leave", pid=r_pid)
    clock.set(at(15, 3))
    await sessions.set_session_status(then, as_mediator, session.id, SessionStatus.ended, "预备会谈结束")
    await log.write("session.end", reason="预备会谈结束")
    return RecordedSession(
        session_id=session.id,
        recording_id=run.id,
        segment_ids=segment_ids,
        started_at=t0,
        review_path=f"/s/{session.id}/review",
    )


async def _chat(core: Core, case_id: str, session_id: str, pid: str, name: str, role: str, text: str) -> None:
    """A public chat message, stored and logged as the live room does (signaling/persistence.py),
    with `system:cli` as the log's actor."""
    now = core.clock.now()
    async with core.db.write() as tx:
        msg = await stored_chat.insert_message(
            tx,
            case_id=case_id,
            session_id=session_id,
            sender_pid=pid,
            sender_name=name,
            sender_role=role,
            recipient_pid=None,
            client_id=uuid.uuid4().hex,
            text=text,
            at=now,
        )
        await eventlog.append(
            tx,
            case_id=case_id,
            session_id=session_id,
            kind="chat.message",
            actor=CLI,
            at=now,
            data={"message_id": msg.id, "to": None, "text": text},
        )


# ---- the concluded case: minutes, agreement, signatures, judicial confirmation ---------------

DEFAULT_COURT_URL = "http://127.0.0.1:8090/court/confirmations"
DEMO_IP = "127.0.0.1"  # the CLI signs on the operator's machine; no party's device was involved
DEMO_USER_AGENT = "heshi demo (sample data)"
DEMO_COURT_NAME = "示范区人民法院"  # the application for judicial confirmation is addressed to it
DAYS_BACK = 2  # the session was held this many days before `heshi demo` runs
CLI = Actor.system(SystemReason.cli)


@dataclass
class ConcludedCase:
    """The second demo case: a mediation already held, its documents signed and locked, and a
    judicial-confirmation request waiting for the court endpoint configured on the demo district."""

    case_id: str
    case_number: str
    session_id: str
    agreement_id: str
    confirmation_request_id: str
    court_url: str
    court_secret: str

    def as_json(self) -> dict[str, Any]:
        return {
            "concluded_case_id": self.case_id,
            "concluded_case_number": self.case_number,
            "concluded_session_id": self.session_id,
            "agreement_id": self.agreement_id,
            "confirmation_request_id": self.confirmation_request_id,
            "court_url": self.court_url,
            "court_secret": self.court_secret,
        }


async def create_concluded_case(
    core: Core, *, court_url: str = DEFAULT_COURT_URL, court_secret: str | None = None
) -> ConcludedCase:
    """After `create_demo`: a neighbour dispute in 桃花村, mediated online two days ago, 09:30–10:40
    Beijing time, and everything that follows, done through the services as the product does it.

    - The demo district (DEMO) gets `court_url` and a fresh secret as its court endpoint, so the
      request below goes there (and so would one for the first demo case).
    - The case belongs to the village committee (DEMO-QS-TH), where a dispute between two
      villagers is brought, with the town's mediator 王建国 assigned; so `create_demo`'s cases
      in DEMO-QS keep their numbers. It is registered with the demo admin's rights (a mediator
      registers cases in their own org only), the afternoon before. On the day, the mediator
      sends the two parties their links, holds the session, presents the rights notice, which
      both parties acknowledge, and writes the minutes (each party's claims and facts, the
      process with the time of each entry, the result) over several saves. No expert is
      invited: a drainage dispute needs none, so the minutes have no expert opinion.
    - The agreement (the neighbour template, two terms) and then the final minutes are signed by
      both parties and the mediator, which locks both; the case is settled.
    - The judicial-confirmation request is made now, not two days ago: the mediator sends it
      today, so its 48 hours of delivery retries start now and the 30 days show 29 left.

    Everything before the request runs on a `FrozenClock` moved step by step through those two
    days, so the case log, the minutes header and every signature carry times that read like a
    real morning. Each entry's actor is `system:cli`, the honest name of who wrote it: the
    staff and the parties act through principals that carry `SystemReason.cli`. A party signs
    with their own invitation's principal, so that the signature record names the party as
    signer (and `system:cli` as its actor), with IP address 127.0.0.1 and user agent
    `heshi demo (sample data)`.

    The minutes header lists who took part from `session.join` entries, which in a real
    session the live room writes with each participant's own actor. Nobody joined here, so
    the demo writes those entries itself, with the same data (pid, name, role, seat state),
    with `session.admit`, `session.leave` and the room's `session.end` beside them, all as
    `system:cli`: the log says the command line wrote them, and the header still reads like
    that of a held session.
    """
    async with core.db.read() as tx:
        district = await stored.org_by_code(tx, "DEMO")
        village = await stored.org_by_code(tx, "DEMO-QS-TH")
        admin = await stored.account_by_username(tx, "demo-admin")
        mediator = await stored.account_by_username(tx, "demo-mediator")
    if district is None or village is None or admin is None or mediator is None:
        raise NotFound("the demo orgs and accounts are missing: run create_demo first")
    as_admin = _cli_principal(admin)
    as_mediator = _cli_principal(mediator)
    secret = court_secret or secrets.token_urlsafe(32)
    await orgs.set_court(core, as_admin, district.id, endpoint=court_url, secret=secret, name=DEMO_COURT_NAME)

    day = core.clock.now().astimezone(LOCAL_TZ).date() - timedelta(days=DAYS_BACK)

    def at(hour: int, minute: int, *, days: int = 0) -> datetime:
        return datetime.combine(day + timedelta(days=days), time(hour, minute), tzinfo=LOCAL_TZ).astimezone(UTC)

    clock = FrozenClock(at(16, 5, days=-1))
    then = replace(core, clock=clock)  # the same database and settings, on the demo's clock
    deadline = (day + timedelta(days=15)).isoformat()

    # The afternoon before: the applicant comes to the village committee.
    case = await cases.create_case(
        then,
        as_admin,
        title="周桂兰与张德顺相邻排水纠纷",
        dispute_type=DisputeType.neighbour,
        source=CaseSource.self_applied,
        org_id=village.id,
        mediator_id=mediator.id,
        summary="申请人与被申请人系桃花村三组相邻住户。被申请人今年翻建住房时，将屋檐排水管改向申请人院墙一侧，"
        "雨季积水渗入申请人房屋东墙，致墙面霉变、墙皮脱落。申请人要求被申请人改回排水管并赔偿墙面修复费用，"
        "被申请人认为渗水与申请人墙体老旧也有关系。双方同意由镇调委会调解员在线调解。",
        parties=[
            PartyInput(side=PartySide.applicant, name="周桂兰", phone="13908260317", id_number="500112196305142023"),
            PartyInput(side=PartySide.respondent, name="张德顺", phone="13527451208", id_number="500112195809224511"),
        ],
    )
    clock.set(at(16, 12, days=-1))
    await cases.transition(then, as_mediator, case.id, CaseStatus.accepted, "双方同意调解")
    clock.set(at(16, 15, days=-1))
    session = await sessions.schedule_session(
        then, as_mediator, case.id, scheduled_at=at(9, 30), title="相邻排水纠纷视频调解"
    )
    applicant = next(p for p in case.parties if p.side == PartySide.applicant.value)
    respondent = next(p for p in case.parties if p.side == PartySide.respondent.value)

    # The morning of the session: the links go out, everyone comes in.
    clock.set(at(9, 0))
    inv_applicant = await invitations.issue(
        then, as_mediator, session.id, role=SessionRole.applicant, party_id=applicant.id
    )
    clock.advance(minutes=1)
    inv_respondent = await invitations.issue(
        then, as_mediator, session.id, role=SessionRole.respondent, party_id=respondent.id
    )
    pid_mediator = f"a:{mediator.id}"  # signed in, as the room names staff (actors.Actor.pid)
    pid_applicant = f"i:{inv_applicant.id}"
    pid_respondent = f"i:{inv_respondent.id}"
    log = _RoomLog(then, case.id, session.id)
    clock.set(at(9, 28))
    await cases.transition(then, as_mediator, case.id, CaseStatus.mediating, "开始视频调解")
    clock.set(at(9, 30))
    await log.write("session.join", pid=pid_mediator, name=mediator.display_name, role="mediator", state="admitted")
    await sessions.set_session_status(then, as_mediator, session.id, SessionStatus.live)
    clock.set(at(9, 31))
    await log.write("session.join", pid=pid_applicant, name=applicant.name, role="applicant", state="lobby")
    await log.write("session.join", pid=pid_respondent, name=respondent.name, role="respondent", state="lobby")
    clock.set(at(9, 32))
    await log.write("session.admit", pid=pid_applicant)
    await log.write("session.admit", pid=pid_respondent)

    # The rights notice, presented by the mediator and acknowledged by each party on their phone.
    clock.set(at(9, 33))
    shown = await notices.present(then, case_id=case.id, session_id=session.id, role=SessionRole.mediator, actor=CLI)
    for minute, inv, pid, party in (
        (35, inv_applicant, pid_applicant, applicant),
        (36, inv_respondent, pid_respondent, respondent),
    ):
        clock.set(at(9, minute))
        await notices.acknowledge(
            then,
            case_id=case.id,
            session_id=session.id,
            pid=pid,
            name=party.name,
            role=SessionRole(inv.role),
            actor=CLI,
            notice_sha256=shown.sha256,
            language="zh",
        )

    # The minutes, written as the session goes, in three saves.
    editor = await minutes.editor_for(then, as_mediator, session.id)
    entries = [
        (
            at(9, 37),
            "调解员 王建国",
            "宣布调解开始，核对双方身份，说明调解遵循自愿、平等原则；双方均已阅读并确认权利义务告知书。",
        ),
        (
            at(9, 41),
            "申请人 周桂兰",
            "今年六月以来每逢下雨，被申请人屋檐排水管的水直冲我家院墙，东墙渗水发霉、墙皮成片脱落。"
            "要求把排水管改回去，并赔偿墙面修复费用3000元。",
        ),
        (
            at(9, 49),
            "被申请人 张德顺",
            "翻建时确实改了排水管的走向，同意改管；但申请人东墙是老房子，墙根本来就返潮，3000元太多。",
        ),
        (
            at(9, 58),
            "调解员 王建国",
            "出示村委会九月现场查看时拍摄的照片，积水点正位于排水管出口下方；随后与双方分别单独沟通（背对背调解）。",
        ),
        (at(10, 12), "申请人 周桂兰", "只要十五日内改好排水管，赔偿金额可以适当降低。"),
        (
            at(10, 21),
            "被申请人 张德顺",
            "同意十五日内自费将排水管改至自家院内排水沟，同意一次性赔偿墙面修复费用2600元。",
        ),
        (at(10, 30), "调解员 王建国", "归纳双方达成的协议内容，双方确认无异议；当场制作调解协议书，待双方阅读后签名。"),
        (at(10, 38), "调解员 王建国", "当场宣读本笔录，双方确认记录无误，同意在笔录上签名。"),
    ]
    result = (
        f"经调解，双方自愿达成协议：一、被申请人张德顺于{_cn_day(deadline)}前自费将屋檐排水管改至其院内排水沟，"
        f"不再向申请人院墙一侧排水；二、被申请人于{_cn_day(deadline)}前一次性支付申请人墙面修复费用人民币2600元。"
        "双方签署人民调解协议书。"
    )
    parties_section = [
        {
            "party_id": applicant.id,
            "side": applicant.side,
            "name": applicant.name,
            "claims": "要求被申请人将屋檐排水管改回原走向，并赔偿东墙墙面修复费用3000元。",
            "facts": "被申请人今年翻建住房时将排水管改向申请人院墙一侧，"
            "雨季积水渗入申请人房屋东墙，致墙面霉变、墙皮脱落。",
        },
        {
            "party_id": respondent.id,
            "side": respondent.side,
            "name": respondent.name,
            "claims": "同意改管，认为赔偿金额过高。",
            "facts": "承认翻建时改变了排水管走向；认为申请人东墙系老旧墙体，渗水与墙体本身返潮也有关系。",
        },
    ]
    revision = 0
    for saved_at, upto, with_result in ((at(9, 45), 2, False), (at(10, 6), 4, False), (at(10, 36), 7, True)):
        clock.set(saved_at)
        revision = await _save_minutes(
            then, editor, revision, parties_section, entries[:upto], result if with_result else None
        )

    # The agreement, made from the neighbour template before the session ends.
    clock.set(at(10, 37))
    made = await agreements.create(
        then,
        as_mediator,
        case.id,
        template="neighbour",
        session_id=session.id,
        facts=case.summary,
        matters="一、被申请人屋檐排水管的走向；二、申请人东墙墙面修复费用的承担及数额。",
        terms=[
            {
                "obligation": "自费将其屋檐排水管改至其院内排水沟，不再向申请人院墙一侧排水",
                "obligor": respondent.name,
                "deadline": deadline,
                "manner": "由被申请人自行施工，完工后通知申请人及村调委会查看",
            },
            {
                "obligation": "一次性支付申请人墙面修复费用",
                "obligor": respondent.name,
                "amount": "2600.00",
                "deadline": deadline,
                "manner": "微信转账或现金当面交付，申请人出具收条",
            },
        ],
    )

    # The end of the session, then the last save of the minutes (its header now has the end).
    clock.set(at(10, 39))
    await log.write("session.leave", pid=pid_applicant)
    await log.write("session.leave", pid=pid_respondent)
    clock.set(at(10, 40))
    await sessions.set_session_status(then, as_mediator, session.id, SessionStatus.ended, "调解结束")
    await log.write("session.end", reason="调解结束")
    clock.set(at(10, 43))
    revision = await _save_minutes(then, editor, revision, parties_section, entries, result)

    # Signatures: each party through their own link, then the mediator, who locks each document.
    signers = [
        (_cli_invitation_principal(inv_applicant), applicant.name, 1),
        (_cli_invitation_principal(inv_respondent), respondent.name, 2),
        (as_mediator, mediator.display_name, 3),
    ]
    agreement_sha = made.current.record.sha256
    clock.set(at(10, 45))
    for p, name, seed in signers:
        clock.advance(minutes=1)
        await agreements.sign(
            then, p, made.agreement.id, _signature(agreement_sha, name, seed), ip=DEMO_IP, user_agent=DEMO_USER_AGENT
        )
    minutes_now = await minutes.current(then, editor)
    for p, name, seed in signers:
        clock.advance(minutes=1)
        await signatures.sign_minutes(
            then, p, session.id, _signature(minutes_now.sha256, name, seed), ip=DEMO_IP, user_agent=DEMO_USER_AGENT
        )
    clock.set(at(10, 55))
    await cases.transition(then, as_mediator, case.id, CaseStatus.settled, "双方达成调解协议并签署")

    # Today: the mediator asks for judicial confirmation; the server's delivery loop sends it.
    requested = await confirmations.request(core, as_mediator, case.id, made.agreement.id)
    return ConcludedCase(
        case_id=case.id,
        case_number=case.number,
        session_id=session.id,
        agreement_id=made.agreement.id,
        confirmation_request_id=requested.request.id,
        court_url=court_url,
        court_secret=secret,
    )


def _cli_principal(account: AccountRecord) -> Principal:
    """A demo staff account, acting at the command line: the log names `system:cli`."""
    return replace(signin.staff_principal(account), system_reason=SystemReason.cli.value)


def _cli_invitation_principal(inv: InvitationRecord) -> Principal:
    """A party's own link, used by the command line: they sign as that party, logged as `system:cli`."""
    return replace(signin.invitation_principal(inv), system_reason=SystemReason.cli.value)


@dataclass
class _RoomLog:
    """Writes what the live room would have written about people in the session (see above)."""

    core: Core
    case_id: str
    session_id: str

    async def write(self, kind: str, **data: Any) -> None:
        async with self.core.db.write() as tx:
            await eventlog.append(
                tx,
                case_id=self.case_id,
                session_id=self.session_id,
                kind=kind,
                actor=CLI,
                at=self.core.clock.now(),
                data=data,
            )


async def _save_minutes(
    core: Core,
    editor: minutes.Editor,
    base: int,
    parties: list[dict[str, Any]],
    entries: list[tuple[datetime, str, str]],
    result: str | None,
) -> int:
    """One save of the minutes on revision `base`; the revision it made."""
    body = MinutesIn.model_validate(
        {
            "parties": parties,
            "entries": [{"speaker": speaker, "text": text, "at": wire_time(when)} for when, speaker, text in entries],
            **({"result": result} if result is not None else {}),
        }
    )
    saved = await minutes.save(core, editor, base_revision=base, save_id=uuid.uuid4().hex, body=body)
    return saved.minutes.revision


def _cn_day(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def _signature(version_sha256: str, name: str, seed: int) -> SignatureInput:
    """A signature as a party's phone would send it: the typed name and a drawn PNG."""
    return SignatureInput.parse(version_sha256, name, DATA_URL_PREFIX + base64.b64encode(signature_png(seed)).decode())


def signature_png(seed: int, width: int = 240, height: int = 80) -> bytes:
    """A small PNG of a hand-drawn-looking scribble (grey and alpha, black ink on transparent),
    the same for the same seed: a few looping strokes and an underline."""
    rnd = random.Random(seed)
    alpha = bytearray(width * height)

    def dot(x: float, y: float) -> None:
        cx, cy = round(x), round(y)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                px, py = cx + dx, cy + dy
                if 0 <= px < width and 0 <= py < height and (dx == 0 or dy == 0):
                    alpha[py * width + px] = 255

    def stroke(points: list[tuple[float, float]]) -> None:
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            steps = max(1, int(max(abs(x1 - x0), abs(y1 - y0))))
            for i in range(steps + 1):
                dot(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)

    for k in range(3):  # three "characters"
        cx = 38 + k * 62 + rnd.uniform(-6, 6)
        a, b, phase = rnd.uniform(1.5, 2.5), rnd.uniform(0.8, 1.6), rnd.uniform(0, math.pi)
        stroke(
            [
                (cx + 16 * math.sin(a * t + phase) + 4 * t, 36 + 20 * math.cos(b * t) * (1 - t / 12))
                for t in (i / 8 for i in range(0, 9 * 8))
            ]
        )
    lift = rnd.uniform(-4, 4)
    stroke([(20 + x, 66 + lift + 3 * math.sin(x / 25 + seed)) for x in range(0, 200, 4)])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"".join(bytes((0, alpha[y * width + x])) for x in range(width)) for y in range(height))
    return (
        PNG_MAGIC
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 4, 0, 0, 0))  # 8-bit grey + alpha
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )
