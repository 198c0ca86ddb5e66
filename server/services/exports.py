"""Evidence exports of a case (issue 12; docs/evidence.md): one ZIP a court can check offline.

`request` queues an export (a row, and `export.requested` in the case log by whoever asked);
`Exports`, one loop per node, claims queued rows and builds each:

1. a fresh checkpoint of every case log's head (`checkpoints.make`, reason `export`, with its
   timestamp where a TSA is configured): the package is the case as of that checkpoint, and
   its case log ends exactly at the head the checkpoint signed;
2. the files the case log vouches for, each checked against the SHA-256 the log recorded:
   every recording segment (one deleted by retention is listed as deleted, never silently
   left out), the session's download, each session's minutes as PDF at the last revision the
   log holds, each agreement version as PDF, every signature image and signature record;
3. the case log itself, every entry in full, in the form docs/api.md documents for verifying
   the chain; the checkpoints that cover it (the fresh one, and each earlier one that first
   signed a head of this case), each with the proof of this case's head and its timestamp
   token; the server's public key;
4. `manifest.json`, listing every file with its SHA-256 and size, and `manifest.sig`, the
   Ed25519 signature of the manifest's exact bytes.

The ZIP goes to `DATA_DIR/exports/<case>/<export>.zip` (written beside, synced, renamed into
place), and `export.built` (or `export.failed`, with why) goes into the case log by
`system:evidence-export`. A download is logged as `export.downloaded` by whoever fetched it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import stat
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from server.domain.access import Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.actors import Actor, SystemReason
from server.domain.clock import wire_time
from server.domain.errors import Conflict, DomainError, Forbidden, NotFound
from server.domain.evidence import (
    CASE_LOG_FORMAT,
    CASE_LOG_NAME,
    EXPORT_FORMAT,
    MANIFEST_NAME,
    PUBLIC_KEY_NAME,
    SIGNATURE_NAME,
    SIGNATURES_NAME,
    TSA_CERTS_NAME,
    CheckpointReason,
    ExportStatus,
    FileKind,
    HeadsTree,
    can_export_case,
    checkpoint_body,
)
from server.domain.evidence_verify import unsafe_name
from server.storage import caselog
from server.storage import cases as stored_cases
from server.storage import checkpoints as stored_checkpoints
from server.storage import exports as stored
from server.storage.caselog import LogEntry
from server.storage.checkpoints import CheckpointRecord
from server.storage.exports import ExportRecord

from . import agreements, cases, checkpoints, eventlog, jobs, minutes
from .core import Core
from .evidence_keys import ServerKey, server_key

log = logging.getLogger("heshi.evidence")

EXPORT_ACTOR = Actor.system(SystemReason.evidence_export)
# The builder reads the agreements with an admin's reach, as the system, never as a person.
BUILDER = Principal(
    kind=PrincipalKind.staff,
    display_name="evidence export",
    staff_role=StaffRole.admin,
    system_reason=SystemReason.evidence_export.value,
)
EXPORTS_FOLDER = "exports"
# Seconds between looks for queued exports. An export asked for on this node wakes its builder
# at once (`Exports.wake`); the look is for those asked for on other nodes, and for the sweep.
DEFAULT_INTERVAL = 10.0
# A build still running this long after it was asked for was cut off (its node stopped).
STALE_AFTER = timedelta(hours=2)
ZIP_TIME = (2000, 1, 1, 0, 0, 0)  # every entry's time, so that the same files make the same bytes
ZIP64_FROM = 2**31  # bytes: a member this large needs ZIP64 headers from the start
CHUNK = 1 << 20
STORED = (FileKind.segment, FileKind.track, FileKind.composite, FileKind.signature_image, FileKind.timestamp)


class ExportFailed(DomainError):
    """The package cannot be made as the case log says it should be: the message says why."""


def relative_path(case_id: str, export_id: str) -> str:
    return f"{EXPORTS_FOLDER}/{case_id}/{export_id}.zip"


# ---- asking, listing, downloading ---------------------------------------------------------------


async def request(core: Core, p: Principal, case_id: str) -> ExportRecord:
    """Queue an export of the case. Forbidden for those who see the case but not all of its
    log; Conflict while another export of it is queued or being built."""
    now = core.clock.now()
    async with core.db.write() as tx:
        access = await cases.access_in(tx, core, p, case_id)
        if not can_export_case(p, access.scope):
            _refused(p, "export case", case_id)
            raise Forbidden(
                "an evidence export holds the whole case log, the recordings and the signatures: only the "
                "case's mediators, reviewers over its org and admins export it"
            )
        await eventlog.lock(tx, case_id)  # one open export per case, also on PostgreSQL
        existing = await stored.open_for_case(tx, case_id)
        if existing is not None:
            raise Conflict(f"an export of this case is being built already: {existing.id}", export_id=existing.id)
        record = await stored.insert(tx, case_id=case_id, created_by=str(Actor.of(p)), now=now)
        await eventlog.append(
            tx, case_id=case_id, kind="export.requested", actor=Actor.of(p), at=now, data={"export_id": record.id}
        )
    return record


async def list_for_case(core: Core, p: Principal, case_id: str) -> list[ExportRecord]:
    """A case's exports, newest first."""
    async with core.db.read() as tx:
        access = await cases.access_in(tx, core, p, case_id)
        if not can_export_case(p, access.scope):
            _refused(p, "list the exports of case", case_id)
            raise Forbidden("only the case's mediators, reviewers over its org and admins see its evidence exports")
        return await stored.for_case(tx, case_id)


async def download(core: Core, p: Principal, export_id: str, byte_range: str | None) -> tuple[ExportRecord, Path]:
    """A built export's file. The download is logged (`export.downloaded`) once per fetch: a
    request for a later part of the file (a resumed download) is not a new one."""
    async with core.db.read() as tx:
        record = await stored.load_export(tx, export_id)
        try:
            access = await cases.access_in(tx, core, p, record.case_id)
        except NotFound:
            _refused(p, "download export (of a case outside their reach)", export_id)
            raise NotFound("export not found") from None
    if not can_export_case(p, access.scope):
        _refused(p, "download export", export_id)
        raise Forbidden("only the case's mediators, reviewers over its org and admins download its evidence exports")
    if record.status != ExportStatus.done or record.path is None:
        state = {
            ExportStatus.queued: "is waiting to be built",
            ExportStatus.running: "is being built",
            ExportStatus.failed: f"failed ({record.error})",
        }.get(ExportStatus(record.status), record.status)
        raise Conflict(f"this export {state}: there is no package to download", status=record.status)
    path = _inside(core, record.path, EXPORTS_FOLDER)
    if path is None or not path.is_file():
        raise NotFound("the export's file is missing from the data directory")
    if _from_the_start(byte_range):
        async with core.db.write() as tx:
            await eventlog.append(
                tx,
                case_id=record.case_id,
                kind="export.downloaded",
                actor=Actor.of(p),
                at=core.clock.now(),
                data={"export_id": record.id, "sha256": record.sha256, "bytes": record.bytes},
            )
    return record, path


def _refused(p: Principal, what: str, subject: str) -> None:
    """A refusal, for the operator: who tried what (the case log records what was done)."""
    log.warning("evidence: refused %s to %s %s", Actor.of(p), what, subject)


def _from_the_start(byte_range: str | None) -> bool:
    if byte_range is None:
        return True
    spec = byte_range.strip().lower()
    return spec.startswith("bytes=0-") and "," not in spec


def _inside(core: Core, relative: str, folder: str) -> Path | None:
    """`relative` under the data directory, only when it stays inside `folder` there (a path from
    the database is still not trusted to point anywhere else)."""
    root = (core.settings.data_dir / folder).resolve()
    path = (core.settings.data_dir / relative).resolve()
    return path if path.is_relative_to(root) else None


# ---- building ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One file of the package: its bytes, or a file on disk that must have the logged hash."""

    name: str
    kind: FileKind
    meta: dict[str, Any]
    data: bytes | None = None
    path: Path | None = None
    expected: tuple[str, int] | None = None  # (sha256, bytes) the case log recorded
    what: str = ""  # how the failure message names it

    def __post_init__(self) -> None:
        reason = unsafe_name(self.name)
        if reason is not None:
            raise ValueError(f"{self.name!r}: {reason}")


@dataclass
class _Package:
    files: list[Planned] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    def add(self, f: Planned) -> None:
        if any(g.name == f.name for g in self.files):
            raise ExportFailed(f"two files of the case would be {f.name} in the package")
        self.files.append(f)


async def build(core: Core, record: ExportRecord) -> ExportRecord | None:
    """Build a claimed (running) export, and write what came of it to its row and the case log."""
    now = core.clock.now
    target = core.settings.data_dir / relative_path(record.case_id, record.id)
    abandoned = threading.Event()  # the worker thread writing the ZIP stops, and renames nothing
    try:
        built = await _build(core, record, target, abandoned)
    except asyncio.CancelledError:
        abandoned.set()
        target.unlink(missing_ok=True)
        raise
    except Exception as exc:
        target.unlink(missing_ok=True)
        if isinstance(exc, DomainError):
            reason = exc.message
            log.warning("evidence export %s failed: %s", record.id, reason)
        else:  # the case log is forever: it gets what happened, the server's log the details
            reason = f"an internal error ({type(exc).__name__}); the server's log has the details"
            log.exception("evidence export %s failed", record.id)
        async with core.db.write() as tx:
            failed = await stored.finish(tx, record.id, status=ExportStatus.failed, now=now(), error=reason)
            if failed is not None:
                await eventlog.append(
                    tx,
                    case_id=record.case_id,
                    kind="export.failed",
                    actor=EXPORT_ACTOR,
                    at=now(),
                    data={"export_id": record.id, "reason": reason[:400]},
                )
        return failed
    async with core.db.write() as tx:
        done = await stored.finish(
            tx,
            record.id,
            status=ExportStatus.done,
            now=now(),
            path=relative_path(record.case_id, record.id),
            sha256=built.sha256,
            bytes=built.bytes,
            manifest_sha256=built.manifest_sha256,
            checkpoint_seq=built.checkpoint_seq,
        )
        if done is None:  # a sweep gave up on it meanwhile: its file is not the export of record
            target.unlink(missing_ok=True)
            return None
        await eventlog.append(
            tx,
            case_id=record.case_id,
            kind="export.built",
            actor=EXPORT_ACTOR,
            at=now(),
            data={
                "export_id": record.id,
                "sha256": built.sha256,
                "bytes": built.bytes,
                "manifest_sha256": built.manifest_sha256,
                "checkpoint_seq": built.checkpoint_seq,
                "files": built.files,
                "deleted_segments": built.deleted,
            },
        )
    log.info("evidence export %s of case %s: %d files, %d bytes", record.id, record.case_id, built.files, built.bytes)
    return done


@dataclass(frozen=True)
class _Built:
    sha256: str
    bytes: int
    manifest_sha256: str
    checkpoint_seq: int
    files: int
    deleted: int


async def _build(core: Core, record: ExportRecord, target: Path, abandoned: threading.Event) -> _Built:
    key = await server_key(core)
    checkpoint = await checkpoints.make(core, CheckpointReason.export)
    assert checkpoint is not None  # only the interval job skips
    head = checkpoint.heads.get(record.case_id)
    if head is None:
        raise ExportFailed("the checkpoint made for the export does not cover the case")
    async with core.db.read() as tx:
        case = await stored_cases.load_case(tx, record.case_id)
        entries = [e for e in await caselog.entries(tx, case.id) if e.seq <= int(head["seq"])]
        segments = await stored.segments_of_case(tx, case.id)
        composites = await stored.composites_of_case(tx, case.id)
        signatures = await stored.signatures_of_case(tx, case.id)
        history = await stored_checkpoints.case_heads(tx, case.id, since=case.created_at)
        covering = await stored_checkpoints.of_seqs(tx, _covering(history, checkpoint.seq))
    if len(entries) != head["seq"] or entries[-1].hash != head["hash"]:
        raise ExportFailed("the case log in the database does not match the checkpoint just made of it")

    pkg = _Package()
    _plan_segments(core, pkg, entries, segments)
    _plan_composites(core, pkg, entries, composites)
    await _plan_documents(core, pkg, case.id, entries)
    _plan_signatures(pkg, entries, signatures)
    pkg.add(Planned(CASE_LOG_NAME, FileKind.case_log, {}, data=_case_log(case.id, entries)))
    await _plan_checkpoints(core, pkg, key, case.id, covering)
    pkg.add(Planned(PUBLIC_KEY_NAME, FileKind.public_key, {"algorithm": "Ed25519"}, data=key.public_pem))

    now = core.clock.now()
    head_doc = {
        "format": EXPORT_FORMAT,
        "export_id": record.id,
        "created_at": wire_time(now),
        "requested_by": record.created_by,
        "case": {"id": case.id, "number": case.number, "title": case.title, "org": case.org.name},
        "key": {"algorithm": "Ed25519", "fingerprint_sha256": key.fingerprint, "file": PUBLIC_KEY_NAME},
        "case_log": {"file": CASE_LOG_NAME, "entries": len(entries), "head_hash": entries[-1].hash},
        "checkpoint_seq": checkpoint.seq,
        "checkpoints": pkg.checkpoints,
        "deleted": pkg.deleted,
    }

    def manifest(files: list[dict[str, Any]]) -> bytes:
        doc = {**head_doc, "files": files}
        return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n"

    manifest_bytes = await asyncio.to_thread(_write_package, target, pkg.files, manifest, key.sign, abandoned)
    sha, size = await asyncio.to_thread(_sha256_of, target)
    return _Built(
        sha256=sha,
        bytes=size,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        checkpoint_seq=checkpoint.seq,
        files=len(pkg.files),
        deleted=len(pkg.deleted),
    )


def _covering(history: list[tuple[int, dict[str, Any] | None]], export_seq: int) -> list[int]:
    """The checkpoints a package carries: each that first signed a head of the case (a later
    one with the same head adds nothing a rewrite could contradict), and the export's own."""
    chosen: list[int] = []
    last_head: int | None = None
    for seq, head in history:
        if head is None or seq >= export_seq:
            continue
        if head.get("seq") != last_head:
            chosen.append(seq)
            last_head = head.get("seq")
    return [*chosen, export_seq]


def _segment_entries(entries: list[LogEntry]) -> dict[str, LogEntry]:
    return {
        str(e.data["segment_id"]): e
        for e in entries
        if e.kind == "recording.segment" and isinstance(e.data.get("segment_id"), str)
    }


def _names(data: Any, wanted: set[str]) -> bool:
    if isinstance(data, str):
        return data in wanted
    if isinstance(data, dict):
        return any(_names(v, wanted) for v in data.values())
    if isinstance(data, list):
        return any(_names(v, wanted) for v in data)
    return False


def _plan_segments(core: Core, pkg: _Package, entries: list[LogEntry], segments: list[stored.SegmentFile]) -> None:
    """Every segment the log recorded: its file, or its place in `deleted` when retention
    deleted it and the log says so. A file missing or changed fails the export, naming it."""
    logged = _segment_entries(entries)
    deletions = [e for e in entries if e.kind == "recording.deleted"]
    for g in segments:
        if g.id not in logged:
            continue  # written after the checkpoint: the next export has it
        if g.deleted_at is not None:
            if not any(_names(e.data, {g.id, g.path}) for e in deletions):
                raise ExportFailed(
                    f"the segment {g.path} was deleted after the checkpoint of this export; request a new export"
                )
            pkg.deleted.append(
                {
                    "segment_id": g.id,
                    "session_id": g.session_id,
                    "path": g.path,
                    "sha256": g.sha256,
                    "bytes": g.bytes,
                    "deleted_at": wire_time(g.deleted_at),
                }
            )
            continue
        path = _inside(core, g.path, "recordings")
        if path is None:
            raise ExportFailed(f"the segment {g.path} lies outside the recordings directory")
        pkg.add(
            Planned(
                f"media/{g.session_id}/{PurePosixPath(g.path).name}",
                FileKind.segment,
                {
                    "session_id": g.session_id,
                    "segment_id": g.id,
                    "recording_id": g.recording_id,
                    "pid": g.pid,
                    "media": g.kind,
                    "index": g.index,
                },
                path=path,
                expected=(g.sha256, g.bytes),
                what=f"the segment file {g.path}",
            )
        )


def _plan_composites(core: Core, pkg: _Package, entries: list[LogEntry], composites: list[Any]) -> None:
    """Each session's download, when it is made and the log recorded it."""
    for c in composites:
        if c.status != "done" or not c.path or not c.sha256 or c.bytes is None:
            continue
        if not any(
            e.kind == "recording.composite" and e.session_id == c.session_id and e.data.get("sha256") == c.sha256
            for e in entries
        ):
            continue  # made after the checkpoint
        path = _inside(core, c.path, "recordings")
        if path is None:
            raise ExportFailed(f"the recording download {c.path} lies outside the recordings directory")
        pkg.add(
            Planned(
                f"media/{c.session_id}/composite.webm",
                FileKind.composite,
                {"session_id": c.session_id},
                path=path,
                expected=(c.sha256, c.bytes),
                what=f"the recording download {c.path}",
            )
        )


async def _plan_documents(core: Core, pkg: _Package, case_id: str, entries: list[LogEntry]) -> None:
    """Each session's minutes at the last revision the log holds, each agreement version the
    log made, as PDFs; the stored text must still have the SHA-256 the log recorded."""
    latest: dict[str, tuple[int, str]] = {}
    for e in entries:
        revision, sha = e.data.get("revision"), e.data.get("sha256")
        if e.kind == "minutes.saved" and e.session_id and isinstance(revision, int) and isinstance(sha, str):
            if revision >= latest.get(e.session_id, (0, ""))[0]:
                latest[e.session_id] = (revision, sha)
    for session_id, (revision, sha) in latest.items():
        editor = minutes.Editor(case_id, session_id, None, EXPORT_ACTOR, "")
        view, pdf = await minutes.minutes_pdf(core, editor, revision)
        if view.sha256 != sha:
            raise ExportFailed(
                f"revision {revision} of the minutes of session {session_id} no longer has the SHA-256 "
                "the case log recorded"
            )
        pkg.add(
            Planned(
                f"documents/{session_id}/minutes-r{revision}.pdf",
                FileKind.minutes,
                {"session_id": session_id, "revision": revision, "document_sha256": sha},
                data=pdf,
            )
        )
    for e in entries:
        if e.kind not in ("agreement.created", "agreement.revised"):
            continue
        agreement_id, number, sha = e.data.get("agreement_id"), e.data.get("version"), e.data.get("sha256")
        if not (isinstance(agreement_id, str) and isinstance(number, int) and isinstance(sha, str)):
            raise ExportFailed(f"case log entry {e.seq} ({e.kind}) does not name its agreement version")
        version, pdf = await agreements.pdf_of(core, BUILDER, agreement_id, number)
        if version.sha256 != sha:
            raise ExportFailed(
                f"version {number} of agreement {agreement_id} no longer has the SHA-256 the case log recorded"
            )
        pkg.add(
            Planned(
                f"documents/agreements/{agreement_id}/v{number}.pdf",
                FileKind.agreement,
                {"agreement_id": agreement_id, "version": number, "document_sha256": sha, "session_id": e.session_id},
                data=pdf,
            )
        )


def _plan_signatures(pkg: _Package, entries: list[LogEntry], signatures: list[tuple[Any, bytes]]) -> None:
    """The signatures the log recorded: each image, and one file of every signature's record."""
    logged = {e.data.get("image_sha256") for e in entries if e.kind in ("agreement.signed", "minutes.signed")}
    records = []
    for s, image in signatures:
        if s.image_sha256 not in logged:
            continue  # signed after the checkpoint
        if hashlib.sha256(image).hexdigest() != s.image_sha256:
            raise ExportFailed(f"the image of signature {s.id} no longer has the SHA-256 the case log recorded")
        name = f"signatures/{s.id}.png"
        meta = {"signature_id": s.id, "document": s.document, "document_id": s.document_id, "signer": s.signer}
        pkg.add(Planned(name, FileKind.signature_image, meta, data=image))
        records.append(
            {
                "id": s.id,
                "document": s.document,
                "document_id": s.document_id,
                "version_sha256": s.version_sha256,
                "signer": s.signer,
                "signer_role": s.signer_role,
                "name": s.name,
                "at": wire_time(s.at),
                "ip": s.ip,
                "user_agent": s.user_agent,
                "image_sha256": s.image_sha256,
                "actor": s.actor,
                "image": name,
            }
        )
    doc = {"signatures": records}
    pkg.add(
        Planned(
            SIGNATURES_NAME,
            FileKind.signatures,
            {},
            data=json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n",
        )
    )


def _case_log(case_id: str, entries: list[LogEntry]) -> bytes:
    """Every entry in full, each exactly as the API serves an entry its reader may read."""
    events = [
        {
            "case_id": e.case_id,
            "seq": e.seq,
            "at": eventlog.entry_time(e.at),
            "kind": e.kind,
            "actor": e.actor,
            "session_id": e.session_id,
            "data": e.data,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
            "redacted": False,
        }
        for e in entries
    ]
    doc = {"format": CASE_LOG_FORMAT, "case_id": case_id, "events": events}
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


async def _plan_checkpoints(
    core: Core, pkg: _Package, key: ServerKey, case_id: str, covering: list[CheckpointRecord]
) -> None:
    ca_file = core.settings.tsa_ca_file
    tsa_certs = await asyncio.to_thread(ca_file.read_bytes) if ca_file is not None else None
    stamped = False
    for cp in covering:
        body = checkpoint_body(
            seq=cp.seq,
            at=cp.at,
            reason=cp.reason,
            heads=cp.heads,
            prev_hash=cp.prev_hash,
            key_fingerprint=cp.key_fingerprint,
        )
        if body.hash != cp.hash:
            raise ExportFailed(f"checkpoint {cp.seq} in the database no longer matches its hash")
        if cp.key_fingerprint != key.fingerprint:
            raise ExportFailed(f"checkpoint {cp.seq} was signed by another key ({cp.key_fingerprint})")
        head, index, proof = HeadsTree.of(cp.heads).proof(case_id)
        name = f"checkpoints/{cp.seq:08d}.json"
        token_name: str | None = None
        error = cp.tsa_error
        if cp.tsa_token is not None and tsa_certs is not None:
            token_name = f"checkpoints/{cp.seq:08d}.tst"
            pkg.add(Planned(token_name, FileKind.timestamp, {"checkpoint_seq": cp.seq}, data=cp.tsa_token))
            stamped = True
        elif cp.tsa_token is not None:
            error = "not packaged: no TSA certificates are configured (HESHI_TSA_CA_FILE) to check it with"
        doc = {
            **body.doc(),
            "hash": cp.hash,
            "signature": cp.signature,
            "timestamp": {"url": cp.tsa_url, "token": token_name, "error": error},
            "inclusion": {"case_id": case_id, "seq": head.seq, "hash": head.hash, "index": index, "proof": proof},
        }
        data = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        pkg.add(Planned(name, FileKind.checkpoint, {"checkpoint_seq": cp.seq}, data=data))
        pkg.checkpoints.append({"seq": cp.seq, "file": name, "reason": cp.reason, "at": body.at})
    if stamped and tsa_certs is not None:
        pkg.add(Planned(TSA_CERTS_NAME, FileKind.tsa_certificates, {}, data=tsa_certs))


# ---- the ZIP (in a worker thread: media can be large) -------------------------------------------


def _write_package(
    target: Path,
    files: list[Planned],
    manifest: Callable[[list[dict[str, Any]]], bytes],
    sign: Callable[[bytes], bytes],
    abandoned: threading.Event,
) -> bytes:
    """Write the package beside `target`, check each file on disk against the hash the log
    recorded as it is copied, add the manifest and its signature, sync, and rename it into
    place; the manifest's bytes."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            with zipfile.ZipFile(out, "w") as z:
                listed = []
                for f in files:
                    if abandoned.is_set():
                        raise ExportFailed("the build was stopped")
                    sha, size = _add(z, f.name, f.kind in STORED, data=f.data, path=f.path, what=f.what)
                    if f.expected is not None and (sha, size) != f.expected:
                        raise ExportFailed(
                            f"{f.what or f.name} no longer matches the SHA-256 and size the case log recorded"
                        )
                    listed.append({"name": f.name, "kind": f.kind.value, "sha256": sha, "bytes": size, **f.meta})
                head = manifest(listed)
                for name, data in ((MANIFEST_NAME, head), (SIGNATURE_NAME, sign(head))):
                    _add(z, name, False, data=data)
            out.flush()
            os.fsync(out.fileno())
        if abandoned.is_set():
            raise ExportFailed("the build was stopped")
        os.replace(tmp, target)
        return head
    finally:
        tmp.unlink(missing_ok=True)


def _add(
    z: zipfile.ZipFile, name: str, store: bool, *, data: bytes | None = None, path: Path | None = None, what: str = ""
) -> tuple[str, int]:
    """Add one file (already compressed media is stored as it is), hashing exactly the bytes
    that go into the archive."""
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED if store else zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    digest = hashlib.sha256()
    size = 0
    if data is not None:
        digest.update(data)
        z.writestr(info, data)
        return digest.hexdigest(), len(data)
    assert path is not None
    try:
        source = open(path, "rb")  # closed below, after the member is written
    except OSError:
        raise ExportFailed(f"{what or name} is missing from the data directory") from None
    with source, z.open(info, "w", force_zip64=os.fstat(source.fileno()).st_size >= ZIP64_FROM) as member:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            member.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# ---- the builder loop ----------------------------------------------------------------------------


class Exports:
    """One node's export builder: polls for queued exports, claims each, builds it. Several
    nodes may run one each on the same database and data directory."""

    def __init__(self, core: Core, *, interval: float = DEFAULT_INTERVAL) -> None:
        self.core = core
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._building: str | None = None  # the export this builder is working on
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for queued exports now (one was just asked for on this node)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._forever(), name="heshi-evidence-exports")

    async def stop(self) -> None:
        """Stop; an export it was building goes back to the queue, for this or another node.
        (Should the node die instead, the sweep fails that export after STALE_AFTER.)"""
        task, self._task = self._task, None
        await jobs.cancel(task)
        building, self._building = self._building, None
        if building is None:
            return
        try:
            async with self.core.db.write() as tx:
                if await stored.requeue(tx, building):
                    log.info("evidence export %s: back in the queue, its build was stopped", building)
        except Exception as exc:  # a node going down may have lost its database already
            log.warning("evidence export %s stays running until the sweep fails it: %s", building, exc)

    async def _forever(self) -> None:
        delay = self.interval
        while True:
            self._wake.clear()
            try:
                await self.run_once()
                delay = self.interval
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("evidence exports: a round failed")
                delay = min(max(delay, self.interval) * 2, 60.0)
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def run_once(self) -> int:
        """Fail the builds that were cut off, then build every queued export; how many were built."""
        await self.sweep()
        done = 0
        while True:
            record = await self._claim()
            if record is None:
                return done
            self._building = record.id
            await build(self.core, record)
            self._building = None
            done += 1

    async def _claim(self) -> ExportRecord | None:
        async with self.core.db.read() as tx:
            queued = await stored.queued_ids(tx)
        for export_id in queued:
            async with self.core.db.write() as tx:
                record = await stored.claim(tx, export_id)
            if record is not None:
                return record
        return None

    async def sweep(self) -> int:
        """Fail the exports still running STALE_AFTER after they were asked for."""
        now = self.core.clock.now()
        failed = 0
        async with self.core.db.read() as tx:
            stale = await stored.stale_running(tx, now - STALE_AFTER)
        for record in stale:
            reason = "the build was cut off (the node building it stopped); request a new export"
            async with self.core.db.write() as tx:
                if await stored.finish(tx, record.id, status=ExportStatus.failed, now=now, error=reason) is None:
                    continue
                await eventlog.append(
                    tx,
                    case_id=record.case_id,
                    kind="export.failed",
                    actor=EXPORT_ACTOR,
                    at=now,
                    data={"export_id": record.id, "reason": reason},
                )
            failed += 1
        return failed
