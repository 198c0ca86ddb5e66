"""Judicial confirmation (司法确认): the package for a signed agreement, and its delivery.

`request` puts the package together — the joint application (司法确认申请书), the agreement
and minutes PDFs, the signature records and a manifest with every file's SHA-256 — writes it
as one ZIP under the data directory, and queues a request row. `Deliveries`, one per node,
polls the database for due rows, posts each to the court endpoint of the case's org with the
HMAC headers of `server.domain.confirmation`, and writes every attempt to the row and to the
case log. Everything it needs is in the database and the data directory: a restart, or a
second node, picks up where it stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jinja2

from server.domain.access import Principal
from server.domain.actors import Actor, SystemReason
from server.domain.cases import PartySide
from server.domain.clock import LOCAL_TZ, wire_time
from server.domain.confirmation import (
    MANIFEST_NAME,
    FileKind,
    NextStep,
    PackageFile,
    RequestStatus,
    Window,
    after_attempt,
    can_list_confirmations,
    can_read_package,
    can_request_confirmation,
    delivery_headers,
    manifest,
    outcome_of,
    window,
)
from server.domain.errors import Conflict, Forbidden, NotFound
from server.storage import accounts as stored_accounts
from server.storage import agreements as stored_agreements
from server.storage import cases as stored_cases
from server.storage import confirmations as stored
from server.storage import signatures as stored_signatures
from server.storage.accounts import CourtRecord
from server.storage.base import Tx
from server.storage.cases import CaseRecord
from server.storage.confirmations import ConfirmationRecord

from . import agreements, cases, eventlog, jobs, minutes, pdf
from .core import Core
from .minutes import MinutesView

log = logging.getLogger("heshi.confirmations")

TEMPLATE = "documents/confirmation_application.html"
DEFAULT_COURT_NAME = "有管辖权的人民法院"
TERM_FIELDS = ("obligation", "obligor", "amount", "deadline", "manner")
SIDE_LABELS = {PartySide.applicant.value: "申请人", PartySide.respondent.value: "被申请人"}
# A ZIP's entries carry this time, so that the same files make the same bytes.
ZIP_TIME = (2000, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Listed:
    """A request as its case lists it: the row, and the 30 days of its agreement version."""

    request: ConfirmationRecord
    window: Window | None  # None when the version's lock time cannot be read (never for a real one)


def package_file(core: Core, case_id: str, request_id: str) -> Path:
    return core.settings.data_dir / relative_package_path(case_id, request_id)


def relative_package_path(case_id: str, request_id: str) -> str:
    return f"cases/{case_id}/confirmations/{request_id}.zip"


# ---- asking for it --------------------------------------------------------------------------


async def request(
    core: Core, p: Principal, case_id: str, agreement_id: str, *, version_sha256: str | None = None
) -> Listed:
    """Make the package for the agreement's latest locked version (or the one whose sha256 is
    given) and queue it for the court. Conflict when the version is not locked yet, the 30 days
    are over, no court endpoint is configured, or a request for it is pending or delivered."""
    now = core.clock.now()
    async with core.db.read() as tx:
        access = await cases.access_in(tx, core, p, case_id)
        if not can_request_confirmation(p, access.scope):
            raise Forbidden("only the case's mediators ask for judicial confirmation")
        parts = await _gather(tx, core, access.case, agreement_id, version_sha256, now)
    docs = await _documents_of(core, p, parts)
    request_id = stored.new_request_id()
    files = await _package_files(core, parts, docs, request_id, now)
    data = _zip(files)
    relative = relative_package_path(case_id, request_id)
    path = core.settings.data_dir / relative
    await asyncio.to_thread(_write_atomically, path, data)
    sha = hashlib.sha256(data).hexdigest()
    try:
        async with core.db.write() as tx:
            await eventlog.lock(tx, case_id)  # one request per version, also on PostgreSQL
            existing = await stored.open_for_version(tx, parts.version_id)
            if existing is not None:
                raise _already(existing)
            record = await stored.insert(
                tx,
                request_id=request_id,
                case_id=case_id,
                agreement_id=agreement_id,
                agreement_version_id=parts.version_id,
                endpoint=parts.court.endpoint,
                package_path=relative,
                package_sha256=sha,
                package_bytes=len(data),
                created_by=str(Actor.of(p)),
                now=now,
            )
            await eventlog.append(
                tx,
                case_id=case_id,
                kind="confirmation.requested",
                actor=Actor.of(p),
                at=now,
                session_id=parts.session_id,
                data={
                    "request_id": request_id,
                    "agreement_id": agreement_id,
                    "version": parts.version,
                    "version_sha256": parts.version_sha256,
                    "package_sha256": sha,
                    "package_bytes": len(data),
                    "files": [{"name": f.name, "sha256": f.sha256} for f in files],
                    "endpoint": parts.court.endpoint,
                },
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Listed(record, window(parts.took_effect, now))


def _already(existing: ConfirmationRecord) -> Conflict:
    what = "was delivered" if existing.status == RequestStatus.delivered else "is being delivered"
    return Conflict(
        f"a judicial-confirmation request for this agreement version {what} already: {existing.id}",
        fields={"agreement_id": "already_requested"},
    )


@dataclass(frozen=True)
class _Parts:
    """What the package is made of, read in one transaction."""

    case: CaseRecord
    court: CourtRecord
    court_name: str
    agreement_id: str
    session_id: str | None
    version_id: str
    version: int
    version_sha256: str
    content: dict[str, Any]
    took_effect: datetime
    signatures: list[dict[str, Any]]
    images: dict[str, bytes]  # by signer


@dataclass(frozen=True)
class _Documents:
    """The two PDFs the parties signed or watched being written."""

    agreement_pdf: bytes
    minutes: MinutesView | None  # the minutes of the agreement's session, when any were saved
    minutes_pdf: bytes | None


async def _gather(
    tx: Tx, core: Core, case: CaseRecord, agreement_id: str, version_sha256: str | None, now: datetime
) -> _Parts:
    agreement = await stored_agreements.load_agreement(tx, agreement_id)
    if agreement.case_id != case.id:
        raise NotFound("agreement not found", fields={"agreement_id": "not_found"})
    locked = [v for v in await stored_agreements.versions(tx, agreement_id) if v.locked_at is not None]
    if version_sha256 is not None:
        locked = [v for v in locked if v.sha256 == version_sha256]
        if not locked:
            raise Conflict(
                "no version of this agreement with that sha256 has been signed by everyone",
                fields={"version_sha256": "not_locked"},
            )
    if not locked:
        raise Conflict("the agreement has no version signed by every party and the mediator yet")
    version = locked[-1]
    assert version.locked_at is not None
    span = window(version.locked_at, now)
    if span.expired:
        raise Conflict(
            f"the 30 days to apply for judicial confirmation ended on {span.last_day.isoformat()}",
            last_day=span.last_day.isoformat(),
        )
    court = await court_for(tx, case.org.path)
    if court is None:
        raise Conflict(
            f"no court endpoint is configured for {case.org.name} or the orgs above it: an admin sets one "
            "first (nothing was sent, nothing is lost)",
            reason="no_court_endpoint",
        )
    existing = await stored.open_for_version(tx, version.id)
    if existing is not None:
        raise _already(existing)
    signatures = await stored_signatures.of_version(tx, version.id)
    return _Parts(
        case=case,
        court=court,
        court_name=court.name or DEFAULT_COURT_NAME,
        agreement_id=agreement.id,
        session_id=agreement.session_id,
        version_id=version.id,
        version=version.version,
        version_sha256=version.sha256,
        content=dict(version.content),
        took_effect=version.locked_at,
        signatures=[
            {
                "signer": s.signer,
                "signer_role": s.signer_role,
                "name": s.name,
                "at": wire_time(s.at),
                "ip": s.ip,
                "user_agent": s.user_agent,
                "image_sha256": s.image_sha256,
                "version_sha256": s.version_sha256,
                "actor": s.actor,
            }
            for s in signatures
        ],
        images=await stored_signatures.images_of_version(tx, version.id),
    )


async def court_for(tx: Tx, org_path: str) -> CourtRecord | None:
    """The court endpoint of the case's org, or of the nearest org above it that has one (a
    district bureau configures the court for every committee under it)."""
    for org_id in reversed([part for part in org_path.split("/") if part]):
        court = await stored_accounts.court_of(tx, org_id)
        if court is not None:
            return court
    return None


async def _documents_of(core: Core, p: Principal, parts: _Parts) -> _Documents:
    """The agreement as its PDF prints it (signatures drawn in, the org's seal), and the
    minutes of its session as their PDF prints them, if anything was written."""
    _, agreement_pdf = await agreements.pdf_of(core, p, parts.agreement_id, parts.version)
    if parts.session_id is None:
        return _Documents(agreement_pdf, None, None)
    view = await minutes.current(core, await minutes.editor_for(core, p, parts.session_id))
    if view.revision == 0:
        return _Documents(agreement_pdf, None, None)
    return _Documents(agreement_pdf, view, await pdf.render(minutes.minutes_html(core, view)))


async def _package_files(
    core: Core, parts: _Parts, docs: _Documents, request_id: str, now: datetime
) -> list[PackageFile]:
    application = await pdf.render(
        _application_html(core, parts, request_id, now, has_minutes=docs.minutes_pdf is not None)
    )
    files = [
        PackageFile("application.pdf", FileKind.application, application),
        PackageFile("agreement.pdf", FileKind.agreement, docs.agreement_pdf),
    ]
    if docs.minutes_pdf is not None:
        files.append(PackageFile("minutes.pdf", FileKind.minutes, docs.minutes_pdf))
    records = []
    for n, signature in enumerate(parts.signatures, start=1):
        image = parts.images.get(signature["signer"])
        name = f"signatures/{n}.png"
        if image is not None:
            files.append(PackageFile(name, FileKind.signature_image, image))
        records.append({**signature, "image": name if image is not None else None})
    doc = {"agreement_version_sha256": parts.version_sha256, "signatures": records}
    files.insert(
        len(files),  # after the PDFs, before the images
        PackageFile(
            "signatures.json",
            FileKind.signatures,
            json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n",
        ),
    )
    head = manifest(
        files,
        request_id=request_id,
        created_at=now,
        case={"id": parts.case.id, "number": parts.case.number, "org": parts.case.org.name},
        agreement={
            "id": parts.agreement_id,
            "version": parts.version,
            "version_sha256": parts.version_sha256,
            "took_effect": wire_time(parts.took_effect),
        },
        minutes=None
        if docs.minutes is None
        else {"session_id": docs.minutes.session_id, "revision": docs.minutes.revision, "sha256": docs.minutes.sha256},
    )
    return [PackageFile(MANIFEST_NAME, FileKind.manifest, head), *files]


def _documents(core: Core) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(core.settings.web_dir / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _chinese_date(at: datetime) -> str:
    local = at.astimezone(LOCAL_TZ)
    return f"{local.year}年{local.month}月{local.day}日"


def _application_html(core: Core, parts: _Parts, request_id: str, now: datetime, *, has_minutes: bool) -> str:
    signed = {s["signer"]: s["at"] for s in parts.signatures}
    parties = [
        {
            "name": party.name,
            "side_label": SIDE_LABELS.get(party.side, ""),
            "id_number": party.id_number or "",
            "phone": party.phone or "",
            "agent_name": party.agent_name or "",
            "agent_phone": party.agent_phone or "",
            "signed_at": _chinese_date(datetime.fromisoformat(signed[f"party:{party.id}"]))
            if f"party:{party.id}" in signed
            else "",
        }
        for party in parts.case.parties
    ]
    terms = [t for t in parts.content.get("terms") or [] if isinstance(t, dict)]
    return (
        _documents(core)
        .get_template(TEMPLATE)
        .render(
            case=parts.case,
            parties=parties,
            party_names="、".join(p["name"] for p in parties),
            org_name=parts.case.org.name,
            mediator_name=parts.case.mediator.display_name if parts.case.mediator else "",
            effective_date=_chinese_date(parts.took_effect),
            facts=str(parts.content.get("facts") or ""),
            terms=[
                {k: str(t.get(k) or "") for k in ("obligation", "obligor", "amount", "deadline", "manner")}
                for t in terms
            ],
            court_name=parts.court_name,
            version=parts.version,
            version_sha256=parts.version_sha256,
            has_minutes=has_minutes,
            today=_chinese_date(now),
            request_id=request_id,
        )
    )


def _zip(files: list[PackageFile]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            info = zipfile.ZipInfo(f.name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, f.data)
    return buf.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside it, flush it to disk, then rename it into place: a
    reader (or a crash) sees the whole package or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---- reading and retrying -------------------------------------------------------------------


async def list_for_case(core: Core, p: Principal, case_id: str) -> list[Listed]:
    """A case's requests, newest first, each with the 30 days of its agreement version."""
    now = core.clock.now()
    async with core.db.read() as tx:
        access = await cases.access_in(tx, core, p, case_id)
        if not can_list_confirmations(p, access.scope):
            raise Forbidden("your role may not see this case's judicial-confirmation requests")
        rows = await stored.for_case(tx, case_id)
        return [Listed(r, await _window_of(tx, r, now)) for r in rows]


async def _window_of(tx: Tx, r: ConfirmationRecord, now: datetime) -> Window | None:
    for v in await stored_agreements.versions(tx, r.agreement_id):
        if v.id == r.agreement_version_id and v.locked_at is not None:
            return window(v.locked_at, now)
    return None


async def _readable(tx: Tx, core: Core, p: Principal, request_id: str) -> ConfirmationRecord:
    """The request, for someone who may see its case's requests (else not found)."""
    record = await stored.load_request(tx, request_id)
    access = await cases.access_in(tx, core, p, record.case_id)
    if not can_list_confirmations(p, access.scope):
        raise NotFound("confirmation request not found")
    return record


async def package(core: Core, p: Principal, request_id: str) -> tuple[ConfirmationRecord, Path]:
    """The package's file, for the case's mediators, reviewers over its org and admins."""
    async with core.db.read() as tx:
        record = await _readable(tx, core, p, request_id)
        access = await cases.access_in(tx, core, p, record.case_id)
    if not can_read_package(p, access.scope):
        raise Forbidden(
            "the package carries the parties' identities and signatures: only the case's mediators, "
            "its reviewers and admins download it"
        )
    path = core.settings.data_dir / record.package_path
    if not path.is_file():
        raise NotFound("the package file is missing from the data directory")
    return record, path


async def retry(core: Core, p: Principal, request_id: str) -> Listed:
    """Queue a failed request again, due now, with a fresh 48 hours of retries."""
    now = core.clock.now()
    async with core.db.write() as tx:
        record = await _readable(tx, core, p, request_id)
        access = await cases.access_in(tx, core, p, record.case_id)
        if not can_request_confirmation(p, access.scope):
            raise Forbidden("only the case's mediators ask for judicial confirmation")
        if record.status != RequestStatus.failed:
            raise Conflict(f"only a failed request is retried; this one is {record.status}", status=record.status)
        if await court_for(tx, access.case.org.path) is None:
            raise Conflict("no court endpoint is configured for this case's org: an admin sets one first")
        requeued = await stored.requeue(tx, request_id, now)
        if requeued is None:
            raise Conflict("the request changed meanwhile; reload it")
        await eventlog.append(
            tx,
            case_id=record.case_id,
            kind="confirmation.requested",
            actor=Actor.of(p),
            at=now,
            data={
                "request_id": record.id,
                "retry": True,
                "package_sha256": record.package_sha256,
                "after_attempts": record.attempts,
            },
        )
        return Listed(requeued, await _window_of(tx, requeued, now))


# ---- delivering -------------------------------------------------------------------------------

DELIVERY_ACTOR = Actor.system(SystemReason.court_delivery)
DEFAULT_INTERVAL = 2.0  # seconds between polls of the database
DEFAULT_TIMEOUT = 30.0  # seconds an attempt may take, connection to last byte of the answer
LEASE_MARGIN = timedelta(seconds=60)  # on top of the timeout: reading the file, writing the result


@dataclass(frozen=True)
class Attempt:
    """What one attempt got: an HTTP status, or an error when there was no answer."""

    status: int | None
    error: str | None
    retry_after: timedelta | None = None
    hopeless: bool = False  # nothing to send, or nobody to send it to: trying again will not help


class Deliveries:
    """One node's delivery loop: polls for due requests, claims each with a lease, posts it.

    `interval` is how often it polls, `timeout` how long one attempt may take (both short in
    tests). Several nodes may run one each on the same database."""

    def __init__(self, core: Core, *, interval: float = DEFAULT_INTERVAL, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.core = core
        self.interval = interval
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._task is not None:
            return
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._task = asyncio.create_task(self._forever(), name="heshi-court-deliveries")

    async def stop(self) -> None:
        """Stop polling; an attempt in flight is abandoned (its lease runs out, and it is sent
        again: the receiver drops the repeat by its delivery id)."""
        task, self._task = self._task, None
        await jobs.cancel(task)
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def _forever(self) -> None:
        delay = self.interval
        while True:
            try:
                await self.run_once()
                delay = self.interval
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("court deliveries: a round failed")
                delay = min(max(delay, self.interval) * 2, 60.0)
            await asyncio.sleep(delay)

    async def run_once(self) -> int:
        """Claim and attempt every request due now; the number attempted."""
        done = 0
        while True:
            record = await self._claim()
            if record is None:
                return done
            await self.attempt(record)
            done += 1

    async def _claim(self) -> ConfirmationRecord | None:
        now = self.core.clock.now()
        async with self.core.db.read() as tx:
            due = await stored.due_ids(tx, now)
        if not due:
            return None
        lease = now + timedelta(seconds=self.timeout) + LEASE_MARGIN
        for request_id in due:
            async with self.core.db.write() as tx:
                record = await stored.claim(tx, request_id, now, lease)
            if record is not None:
                return record
        return None

    async def attempt(self, record: ConfirmationRecord) -> ConfirmationRecord | None:
        """Send a claimed request once and write what happened; None when the lease was lost."""
        assert record.lease_until is not None
        number = record.attempts + 1
        result = await self._send(record, number)
        now = self.core.clock.now()
        if result.hopeless:
            step = NextStep(RequestStatus.failed, None)
        else:
            step = after_attempt(outcome_of(result.status), number, record.queued_at, now, result.retry_after)
        error = None if step.status is RequestStatus.delivered else _describe(result)
        async with self.core.db.write() as tx:
            written = await stored.finish_attempt(
                tx,
                record.id,
                record.lease_until,
                status=step.status,
                attempts=number,
                next_attempt_at=step.next_attempt_at,
                error=error,
                now=now,
            )
            if written is None:
                log.warning("court delivery %s: the lease ran out during the attempt; another node has it", record.id)
                return None
            await eventlog.append(
                tx,
                case_id=record.case_id,
                kind="confirmation.attempted",
                actor=DELIVERY_ACTOR,
                at=now,
                data={
                    "request_id": record.id,
                    "attempt": number,
                    "status_code": result.status,
                    "error": result.error,
                    "next_attempt_at": wire_time(step.next_attempt_at) if step.next_attempt_at else None,
                },
            )
            if step.status is RequestStatus.delivered:
                await eventlog.append(
                    tx,
                    case_id=record.case_id,
                    kind="confirmation.delivered",
                    actor=DELIVERY_ACTOR,
                    at=now,
                    data={
                        "request_id": record.id,
                        "attempts": number,
                        "status_code": result.status,
                        "package_sha256": record.package_sha256,
                    },
                )
            elif step.status is RequestStatus.failed:
                await eventlog.append(
                    tx,
                    case_id=record.case_id,
                    kind="confirmation.failed",
                    actor=DELIVERY_ACTOR,
                    at=now,
                    data={"request_id": record.id, "attempts": number, "reason": error},
                )
        log.info("court delivery %s attempt %d: %s → %s", record.id, number, _describe(result), step.status)
        return written

    async def _send(self, record: ConfirmationRecord, number: int) -> Attempt:
        async with self.core.db.read() as tx:
            case = await stored_cases.load_case(tx, record.case_id)
            court = await court_for(tx, case.org.path)
        if court is None:
            return Attempt(None, "no court endpoint is configured any more for the case's org", hopeless=True)
        path = self.core.settings.data_dir / record.package_path
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            return Attempt(None, f"the package cannot be read: {exc.strerror or exc}", hopeless=True)
        if hashlib.sha256(body).hexdigest() != record.package_sha256:
            return Attempt(None, "the package changed on disk: its SHA-256 no longer matches", hopeless=True)
        headers = delivery_headers(court.secret, record.id, number, body, self.core.clock.now())
        assert self._http is not None, "Deliveries.start() first"
        try:
            async with self._http.post(record.endpoint, data=body, headers=headers) as resp:
                await resp.read()
                return Attempt(resp.status, None, _retry_after(resp.headers.get("Retry-After")))
        except TimeoutError:
            return Attempt(None, f"no answer within {self.timeout:g} s")
        except aiohttp.ClientError as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:300])


def _retry_after(value: str | None) -> timedelta | None:
    if value is None or not value.strip().isdigit():
        return None
    return timedelta(seconds=int(value.strip()))


def _describe(a: Attempt) -> str:
    if a.status is not None:
        return f"HTTP {a.status}"
    return a.error or "no answer"
