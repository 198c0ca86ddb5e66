"""Checking an evidence export offline: what `heshi verify` does, as a pure function.

`verify_package` reads the package through `PackageReader` (the command line opens the ZIP)
and checks, in this order, stopping at the first item that does not match:

1. every name in the archive is a plain relative path, once (no `../`, absolute paths,
   backslashes, NUL, links);
2. `manifest.json` is there and is an export manifest;
3. the packaged public key is the one the manifest names (and the one given with
   `--public-key`, when given), and `manifest.sig` is its Ed25519 signature of the manifest's
   exact bytes;
4. every file the manifest lists is there with its SHA-256 and size, and nothing else is;
5. the case log: every entry present, in order, unredacted, its `prev_hash` the hash before it
   and its `hash` recomputed from its content (docs/api.md, "Verifying the chain");
6. the files against the log: each segment, the download, each minutes and agreement PDF and
   each signature image is the one the log recorded, and every segment the log recorded is
   in the package or listed as deleted with its deletion in the log;
7. the checkpoints: each one's hash, its signature by the same key, the proof that it signed
   this case's head, the entry it signed still being in the log with that hash, the chain
   between consecutive checkpoints, each RFC 3161 timestamp token (through
   `TimestampChecker`, which runs `openssl ts -verify`), and the log's last entry covered by
   one of them.

It imports nothing of the database, the network or the file system.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .evidence import (
    CASE_LOG_FORMAT,
    CASE_LOG_NAME,
    CHECKPOINT_FORMAT,
    EXPORT_FORMAT,
    GENESIS,
    MANIFEST_NAME,
    PUBLIC_KEY_NAME,
    SIGNATURE_NAME,
    TSA_CERTS_NAME,
    UNLISTED,
    CheckpointBody,
    FileKind,
    canonical_json,
    key_fingerprint,
    leaf_hash,
    root_from_proof,
    sha256_hex,
    signature_ok,
)

# The most a JSON file of a package may hold before it is read into memory.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_CASE_LOG_BYTES = 1024 * 1024 * 1024
MAX_CHECKPOINT_BYTES = 1024 * 1024
MAX_SMALL_BYTES = 1024 * 1024  # the key, the signature, a timestamp token, the TSA certificates

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_KEYS = ("case_id", "seq", "at", "kind", "actor", "session_id", "data", "prev_hash", "hash")


class Mismatch(Exception):
    """The first item of a package that does not match, and why."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


class PackageReader(Protocol):
    """The files of a package, as the archive holds them."""

    def names(self) -> Sequence[str]:
        """Every entry's name, in the archive's order (a repeated name appears twice)."""
        ...

    def is_regular(self, name: str) -> bool:
        """False for a directory, a symbolic link or any other special entry."""
        ...

    def size(self, name: str) -> int:
        """The size the archive declares for the file, before reading it."""
        ...

    def read(self, name: str) -> bytes:
        """The whole file; Mismatch when the archive is damaged there."""
        ...

    def digest(self, name: str) -> tuple[str, int]:
        """SHA-256 (hex) and size of the file, read as a stream; Mismatch when damaged."""
        ...


@dataclass(frozen=True)
class TimestampCheck:
    ok: bool
    time: str | None  # the TSA's time, as it states it
    message: str


# (DER timestamp token, the hex digest it must be of, the TSA certificates in PEM) -> the check
TimestampChecker = Callable[[bytes, str, bytes], TimestampCheck]


@dataclass(frozen=True)
class Summary:
    """What an intact package holds, for the command's report."""

    case_id: str
    case_number: str
    export_id: str
    created_at: str
    key_fingerprint: str
    key_given: bool
    files: int
    bytes: int
    kinds: dict[str, int]
    deleted: int
    entries: int
    head_hash: str
    checkpoints: list[int]
    covering: int
    stamped: list[tuple[int, str]] = field(default_factory=list)  # (checkpoint seq, TSA time)

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.kinds.items()))
        key = "the key given with --public-key" if self.key_given else "the key packaged with it"
        out = [
            "intact: every check passed",
            f"  case         {self.case_number} ({self.case_id})",
            f"  export       {self.export_id}, made {self.created_at}",
            f"  signed by    Ed25519 key, SHA-256 fingerprint {self.key_fingerprint} ({key})",
            f"  files        {self.files} files, {self.bytes} bytes, each with the SHA-256 and size of the manifest",
            f"               ({kinds})",
            f"  case log     {self.entries} entries, chain intact, last entry {self.entries} hash {self.head_hash}",
        ]
        if self.deleted:
            out.append(f"  deleted      {self.deleted} segment(s) listed as deleted, each deletion in the case log")
        seqs = ", ".join(str(s) for s in self.checkpoints)
        out.append(
            f"  checkpoints  {len(self.checkpoints)} ({seqs}), each signed by the key, each signed head still in "
            f"the log; the last entry is covered by checkpoint {self.covering}"
        )
        if self.stamped:
            stamps = "; ".join(f"checkpoint {s}: {t}" for s, t in self.stamped)
            out.append(f"  timestamps   {len(self.stamped)} RFC 3161 token(s) verified ({stamps})")
        else:
            out.append("  timestamps   none in this package")
        return out


# ---- names -----------------------------------------------------------------------------------


def unsafe_name(name: str) -> str | None:
    """Why a name inside a package is not a plain relative path, or None when it is one."""
    if not name:
        return "an empty name"
    if "\x00" in name:
        return "a NUL character in the name"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "a control character in the name"
    if "\\" in name:
        return "a backslash in the name (a Windows path separator)"
    if name.startswith("/"):
        return "an absolute path"
    if re.match(r"^[A-Za-z]:", name):
        return "a drive letter"
    parts = name.split("/")
    if ".." in parts:
        return "a '..' segment (path traversal)"
    if any(p in ("", ".") for p in parts):
        return "an empty or '.' path segment"
    if len(name) > 1000:
        return "a name longer than 1000 characters"
    return None


# ---- the check -------------------------------------------------------------------------------


def _json(pkg: PackageReader, name: str, limit: int) -> Any:
    size = pkg.size(name)
    if size > limit:
        raise Mismatch(name, f"{size} bytes, more than a file of its kind may hold ({limit})")
    return _parse(name, pkg.read(name))


def _parse(name: str, raw: bytes) -> Any:
    def no_constants(text: str) -> Any:
        raise ValueError(f"{text} is not a JSON number")

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Mismatch(name, f"not valid JSON ({' '.join(str(exc).split())[:200]})") from None


def _get(doc: Any, key: str, kind: type | tuple[type, ...], item: str) -> Any:
    if not isinstance(doc, dict) or key not in doc:
        raise Mismatch(item, f"has no '{key}'")
    value = doc[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise Mismatch(item, f"'{key}' is not of the expected type")
    return value


def _hex64(doc: Any, key: str, item: str) -> str:
    value = _get(doc, key, str, item)
    if not _HEX64.match(value):
        raise Mismatch(item, f"'{key}' is not 64 lower-case hex digits")
    return str(value)


def _small(pkg: PackageReader, name: str) -> bytes:
    if name not in pkg.names():
        raise Mismatch(name, "missing from the package")
    if pkg.size(name) > MAX_SMALL_BYTES:
        raise Mismatch(name, "too large for a file of its kind")
    return pkg.read(name)


def _public_key(pem: bytes, item: str) -> bytes:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise Mismatch(item, "not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise Mismatch(item, "not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class _Listed:
    name: str
    kind: FileKind
    sha256: str
    bytes: int
    meta: dict[str, Any]


def verify_package(
    pkg: PackageReader,
    *,
    public_key_pem: bytes | None = None,
    timestamps: TimestampChecker | None = None,
) -> Summary:
    """Check the whole package; Mismatch names the first item that does not match."""
    names = list(pkg.names())
    seen: set[str] = set()
    for name in names:
        reason = unsafe_name(name)
        if reason is not None:
            raise Mismatch(repr(name), f"unsafe name in the archive: {reason}")
        if name in seen:
            raise Mismatch(name, "appears twice in the archive")
        seen.add(name)
        if not pkg.is_regular(name):
            raise Mismatch(name, "not a regular file (a directory, a link or a device)")

    # ---- the manifest, the key and the signature
    if MANIFEST_NAME not in seen:
        raise Mismatch(MANIFEST_NAME, "missing: this is not a Heshi evidence export, or its manifest was removed")
    if pkg.size(MANIFEST_NAME) > MAX_MANIFEST_BYTES:
        raise Mismatch(MANIFEST_NAME, "too large for a manifest")
    manifest_bytes = pkg.read(MANIFEST_NAME)
    manifest = _parse(MANIFEST_NAME, manifest_bytes)
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise Mismatch(MANIFEST_NAME, f"not an evidence export manifest (format {EXPORT_FORMAT})")
    case = _get(manifest, "case", dict, MANIFEST_NAME)
    case_id = _get(case, "id", str, MANIFEST_NAME)
    key_doc = _get(manifest, "key", dict, MANIFEST_NAME)
    named_fingerprint = _hex64(key_doc, "fingerprint_sha256", MANIFEST_NAME)

    raw_key = _public_key(_small(pkg, PUBLIC_KEY_NAME), PUBLIC_KEY_NAME)
    fingerprint = key_fingerprint(raw_key)
    if public_key_pem is not None:
        given = _public_key(public_key_pem, "--public-key")
        if given != raw_key:
            raise Mismatch(
                PUBLIC_KEY_NAME,
                f"the packaged key (fingerprint {fingerprint}) is not the key given with --public-key "
                f"(fingerprint {key_fingerprint(given)})",
            )
    if fingerprint != named_fingerprint:
        raise Mismatch(
            PUBLIC_KEY_NAME, f"its fingerprint {fingerprint} is not the one the manifest names ({named_fingerprint})"
        )
    if SIGNATURE_NAME not in seen:
        raise Mismatch(SIGNATURE_NAME, "missing: the manifest is not signed")
    signature = _small(pkg, SIGNATURE_NAME)
    if not signature_ok(raw_key, signature, manifest_bytes):
        raise Mismatch(SIGNATURE_NAME, f"not a signature of manifest.json by the key with fingerprint {fingerprint}")

    # ---- every file, as listed
    listed = _listed_files(manifest)
    by_name = {f.name: f for f in listed}
    for f in listed:
        if f.name not in seen:
            raise Mismatch(f.name, "listed in the manifest but missing from the package")
        declared = pkg.size(f.name)
        if declared != f.bytes:
            raise Mismatch(f.name, f"its size ({declared} bytes) does not match the manifest's ({f.bytes} bytes)")
        digest, size = pkg.digest(f.name)
        if size != f.bytes:
            raise Mismatch(f.name, f"its size ({size} bytes) does not match the manifest's ({f.bytes} bytes)")
        if digest != f.sha256:
            raise Mismatch(f.name, f"its SHA-256 {digest} does not match the manifest's {f.sha256}")
    for name in names:
        if name not in by_name and name not in UNLISTED:
            raise Mismatch(name, "in the package but not listed in the manifest")
    for required, kind in ((CASE_LOG_NAME, FileKind.case_log), (PUBLIC_KEY_NAME, FileKind.public_key)):
        if required not in by_name or by_name[required].kind is not kind:
            raise Mismatch(required, f"the manifest does not list it as its {kind.value}")

    # ---- the case log
    events = _case_log(pkg, case_id)
    log_doc = _get(manifest, "case_log", dict, MANIFEST_NAME)
    if _get(log_doc, "entries", int, MANIFEST_NAME) != len(events) or (
        events and _get(log_doc, "head_hash", str, MANIFEST_NAME) != events[-1]["hash"]
    ):
        raise Mismatch(CASE_LOG_NAME, "its entries are not the ones the manifest counts")
    if not events:
        raise Mismatch(CASE_LOG_NAME, "no entries: a case's log starts with its creation")

    # ---- the files against the log
    deleted = _check_files_against_log(manifest, listed, events)

    # ---- the checkpoints
    checkpoint_seqs, covering, stamped = _check_checkpoints(
        pkg, manifest, by_name, events, case_id, fingerprint, raw_key, timestamps
    )

    kinds: dict[str, int] = {}
    for f in listed:
        kinds[f.kind.value] = kinds.get(f.kind.value, 0) + 1
    return Summary(
        case_id=case_id,
        case_number=str(case.get("number", "")),
        export_id=str(manifest.get("export_id", "")),
        created_at=str(manifest.get("created_at", "")),
        key_fingerprint=fingerprint,
        key_given=public_key_pem is not None,
        files=len(listed),
        bytes=sum(f.bytes for f in listed),
        kinds=kinds,
        deleted=deleted,
        entries=len(events),
        head_hash=str(events[-1]["hash"]),
        checkpoints=checkpoint_seqs,
        covering=covering,
        stamped=stamped,
    )


def _listed_files(manifest: dict[str, Any]) -> list[_Listed]:
    files = _get(manifest, "files", list, MANIFEST_NAME)
    out: list[_Listed] = []
    names: set[str] = set()
    for n, f in enumerate(files):
        item = f"{MANIFEST_NAME} files[{n}]"
        name = _get(f, "name", str, item)
        reason = unsafe_name(name)
        if reason is not None:
            raise Mismatch(repr(name), f"unsafe name in the manifest: {reason}")
        if name in UNLISTED or name in names:
            raise Mismatch(name, "listed twice, or a name the manifest cannot list")
        names.add(name)
        try:
            kind = FileKind(_get(f, "kind", str, item))
        except ValueError:
            raise Mismatch(name, f"unknown kind {f.get('kind')!r} in the manifest") from None
        size = _get(f, "bytes", int, item)
        if size < 0:
            raise Mismatch(name, "a negative size in the manifest")
        meta = {k: v for k, v in f.items() if k not in ("name", "kind", "sha256", "bytes")}
        out.append(_Listed(name, kind, _hex64(f, "sha256", item), size, meta))
    return out


def served_entry_hash(e: Mapping[str, Any]) -> str:
    """An entry's hash recomputed from its fields exactly as served (docs/api.md)."""
    return sha256_hex(canonical_json({k: e[k] for k in _ENTRY_KEYS if k != "hash"}))


def _entry_item(n: int, e: Any) -> str:
    kind = e.get("kind") if isinstance(e, dict) else None
    return f"case log entry {n}" + (f" ({kind})" if isinstance(kind, str) else "")


def _case_log(pkg: PackageReader, case_id: str) -> list[dict[str, Any]]:
    doc = _json(pkg, CASE_LOG_NAME, MAX_CASE_LOG_BYTES)
    if not isinstance(doc, dict) or doc.get("format") != CASE_LOG_FORMAT:
        raise Mismatch(CASE_LOG_NAME, f"not a case log (format {CASE_LOG_FORMAT})")
    if doc.get("case_id") != case_id:
        raise Mismatch(CASE_LOG_NAME, "the log of another case than the manifest's")
    events = _get(doc, "events", list, CASE_LOG_NAME)
    prev = GENESIS
    for n, e in enumerate(events, start=1):
        item = _entry_item(n, e)
        if not isinstance(e, dict):
            raise Mismatch(item, "not an entry")
        if e.get("redacted") is not False:
            raise Mismatch(item, "redacted or without 'redacted': an export carries every entry in full")
        for key in _ENTRY_KEYS:
            if key not in e:
                raise Mismatch(item, f"has no '{key}'")
        if e["case_id"] != case_id:
            raise Mismatch(item, "belongs to another case")
        if e["seq"] != n or isinstance(e["seq"], bool):
            raise Mismatch(item, f"entry {e['seq']} stands in its place: entries are missing or out of order")
        if e["prev_hash"] != prev:
            raise Mismatch(item, f"its prev_hash is not the hash of entry {n - 1}: the chain is broken here")
        if served_entry_hash(e) != e["hash"]:
            raise Mismatch(item, "its content does not match its hash: the entry was changed")
        prev = e["hash"]
    checked: list[dict[str, Any]] = events
    return checked


def _deletion_named(data: Any, wanted: set[str]) -> bool:
    """Whether a `recording.deleted` entry's data names one of `wanted` anywhere in it."""
    if isinstance(data, str):
        return data in wanted
    if isinstance(data, dict):
        return any(_deletion_named(v, wanted) for v in data.values())
    if isinstance(data, list):
        return any(_deletion_named(v, wanted) for v in data)
    return False


def _key(*values: Any) -> tuple[str, ...]:
    """Values from JSON as a comparable key (a list or an object where a name belongs matches nothing)."""
    return tuple(json.dumps(v, sort_keys=True) for v in values)


def _check_files_against_log(manifest: dict[str, Any], listed: list[_Listed], events: list[dict[str, Any]]) -> int:
    """Each file the log vouches for is the one it recorded; returns the number of deleted segments."""
    logged_segments: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["kind"] == "recording.segment" and isinstance(e["data"], dict):
            seg = e["data"].get("segment_id")
            if isinstance(seg, str):
                logged_segments[seg] = e

    def data_of(kinds: tuple[str, ...]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(e, e["data"]) for e in events if e["kind"] in kinds and isinstance(e["data"], dict)]

    composites = {_key(e["session_id"], d.get("sha256")) for e, d in data_of(("recording.composite",))}
    revisions = {_key(e["session_id"], d.get("revision"), d.get("sha256")) for e, d in data_of(("minutes.saved",))}
    versions = {
        _key(d.get("agreement_id"), d.get("version"), d.get("sha256"))
        for _, d in data_of(("agreement.created", "agreement.revised"))
    }
    images = {_key(d.get("image_sha256")) for _, d in data_of(("agreement.signed", "minutes.signed"))}

    packaged: set[str] = set()
    for f in listed:
        m = f.meta
        if f.kind is FileKind.segment:
            seg_id = m.get("segment_id")
            entry = logged_segments.get(seg_id) if isinstance(seg_id, str) else None
            if entry is None:
                raise Mismatch(f.name, "no recording.segment entry of the case log names this segment")
            if entry["data"].get("sha256") != f.sha256 or entry["data"].get("bytes") != f.bytes:
                raise Mismatch(
                    f.name,
                    f"not the segment case log entry {entry['seq']} recorded (SHA-256 {entry['data'].get('sha256')})",
                )
            packaged.add(str(seg_id))
        elif f.kind is FileKind.track:
            made_of = m.get("segments")
            if not isinstance(made_of, list) or not all(isinstance(g, str) and g in logged_segments for g in made_of):
                raise Mismatch(f.name, "a track must name the logged segments it was made of")
        elif f.kind is FileKind.composite:
            if _key(m.get("session_id"), f.sha256) not in composites:
                raise Mismatch(f.name, "no recording.composite entry of the case log has this file's SHA-256")
        elif f.kind is FileKind.minutes:
            if _key(m.get("session_id"), m.get("revision"), m.get("document_sha256")) not in revisions:
                raise Mismatch(f.name, "the case log has no minutes.saved entry for this revision and its SHA-256")
        elif f.kind is FileKind.agreement:
            if _key(m.get("agreement_id"), m.get("version"), m.get("document_sha256")) not in versions:
                raise Mismatch(f.name, "the case log has no entry making this agreement version with its SHA-256")
        elif f.kind is FileKind.signature_image and _key(f.sha256) not in images:
            raise Mismatch(f.name, "no signature in the case log has this image's SHA-256")

    deleted = _get(manifest, "deleted", list, MANIFEST_NAME)
    deleted_ids: set[str] = set()
    deletions = [e for e in events if e["kind"] == "recording.deleted"]
    for n, d in enumerate(deleted):
        item = f"{MANIFEST_NAME} deleted[{n}]"
        seg_id = _get(d, "segment_id", str, item)
        path = _get(d, "path", str, item)
        entry = logged_segments.get(seg_id)
        if entry is None or entry["data"].get("sha256") != d.get("sha256"):
            raise Mismatch(f"deleted segment {path}", "no recording.segment entry of the case log recorded it")
        if seg_id in packaged:
            raise Mismatch(f"deleted segment {path}", "listed as deleted and packaged at once")
        if not any(_deletion_named(e["data"], {seg_id, path}) for e in deletions):
            raise Mismatch(f"deleted segment {path}", "listed as deleted, but the case log records no deletion of it")
        deleted_ids.add(seg_id)
    for seg_id, e in logged_segments.items():
        if seg_id not in packaged and seg_id not in deleted_ids:
            raise Mismatch(
                _entry_item(e["seq"], e),
                f"its segment {e['data'].get('path')} is not in the package, and not listed as deleted",
            )
    return len(deleted_ids)


def _check_checkpoints(
    pkg: PackageReader,
    manifest: dict[str, Any],
    by_name: dict[str, _Listed],
    events: list[dict[str, Any]],
    case_id: str,
    fingerprint: str,
    raw_key: bytes,
    timestamps: TimestampChecker | None,
) -> tuple[list[int], int, list[tuple[int, str]]]:
    listed = _get(manifest, "checkpoints", list, MANIFEST_NAME)
    files: dict[int, str] = {}
    for n, c in enumerate(listed):
        item = f"{MANIFEST_NAME} checkpoints[{n}]"
        seq, name = _get(c, "seq", int, item), _get(c, "file", str, item)
        if seq in files or name not in by_name or by_name[name].kind is not FileKind.checkpoint:
            raise Mismatch(name, "not a checkpoint file of the manifest, or listed twice")
        files[seq] = name
    extra = [f.name for f in by_name.values() if f.kind is FileKind.checkpoint and f.name not in files.values()]
    if extra:
        raise Mismatch(extra[0], "a checkpoint file the manifest's checkpoints do not name")
    if not files:
        raise Mismatch(MANIFEST_NAME, "no checkpoint covers the case log")

    tsa_certs: bytes | None = None
    stamped: list[tuple[int, str]] = []
    previous: tuple[int, str, str, int] | None = None  # seq, hash, at, the case's head seq
    covering: int | None = None
    last = events[-1]
    for seq in sorted(files):
        name = files[seq]
        item = f"checkpoint {seq} ({name})"
        doc = _json(pkg, name, MAX_CHECKPOINT_BYTES)
        if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
            raise Mismatch(item, f"not a checkpoint (format {CHECKPOINT_FORMAT})")
        body = CheckpointBody(
            seq=_get(doc, "seq", int, item),
            at=_get(doc, "at", str, item),
            reason=_get(doc, "reason", str, item),
            cases=_get(doc, "cases", int, item),
            heads_root=_hex64(doc, "heads_root", item),
            prev_hash=_hex64(doc, "prev_hash", item),
            key_fingerprint=_hex64(doc, "key_fingerprint", item),
        )
        if body.seq != seq:
            raise Mismatch(item, f"its seq is {body.seq}, the manifest says {seq}")
        given_hash = _hex64(doc, "hash", item)
        if body.hash != given_hash:
            raise Mismatch(item, "its content does not match its hash")
        if body.key_fingerprint != fingerprint:
            raise Mismatch(item, f"signed by another key (fingerprint {body.key_fingerprint})")
        sig = _get(doc, "signature", str, item)
        if not re.fullmatch(r"[0-9a-f]{128}", sig) or not signature_ok(
            raw_key, bytes.fromhex(sig), bytes.fromhex(given_hash)
        ):
            raise Mismatch(item, "its signature does not verify under the key")
        inc = _get(doc, "inclusion", dict, item)
        head_seq = _get(inc, "seq", int, item)
        head_hash = _hex64(inc, "hash", item)
        index = _get(inc, "index", int, item)
        proof = _get(inc, "proof", list, item)
        if _get(inc, "case_id", str, item) != case_id:
            raise Mismatch(item, "its proof is for another case")
        if not all(isinstance(p, str) and _HEX64.match(p) for p in proof):
            raise Mismatch(item, "its proof is not a list of hashes")
        leaf = leaf_hash(case_id, head_seq, head_hash)
        root = root_from_proof(leaf, index, body.cases, [bytes.fromhex(p) for p in proof])
        if root is None or root.hex() != body.heads_root:
            raise Mismatch(item, "its proof of the case's head does not lead to the root it signed")
        if head_seq > len(events):
            raise Mismatch(
                item,
                f"it signed entry {head_seq} of the case log at {body.at}; the package's log ends at entry "
                f"{len(events)}: entries were removed from its end",
            )
        if head_seq < 1 or events[head_seq - 1]["hash"] != head_hash:
            raise Mismatch(
                item,
                f"it signed entry {head_seq} of the case log with hash {head_hash} at {body.at}; the package's "
                f"entry {head_seq} has hash {events[head_seq - 1]['hash'] if head_seq >= 1 else '-'}: the log was "
                "rewritten after the checkpoint was signed",
            )
        if previous is not None:
            p_seq, p_hash, p_at, p_head = previous
            if seq == p_seq + 1 and body.prev_hash != p_hash:
                raise Mismatch(
                    item, f"its prev_hash is not the hash of checkpoint {p_seq}: the checkpoint chain is broken"
                )
            if body.at < p_at:
                raise Mismatch(item, f"made at {body.at}, before checkpoint {p_seq} ({p_at})")
            if head_seq < p_head:
                raise Mismatch(item, f"the case's head went back from entry {p_head} to {head_seq}")
        elif seq == 1 and body.prev_hash != GENESIS:
            raise Mismatch(item, "the first checkpoint's prev_hash is not 64 zeros")
        stamp = doc.get("timestamp")
        token_name = stamp.get("token") if isinstance(stamp, dict) else None
        if token_name is not None:
            token_file = by_name.get(token_name) if isinstance(token_name, str) else None
            if token_file is None or token_file.kind is not FileKind.timestamp:
                raise Mismatch(item, "its timestamp token is not a timestamp file of the manifest")
            if timestamps is None:
                raise Mismatch(item, "it has a timestamp token, and nothing here can check one")
            if tsa_certs is None:
                if TSA_CERTS_NAME not in by_name or by_name[TSA_CERTS_NAME].kind is not FileKind.tsa_certificates:
                    raise Mismatch(TSA_CERTS_NAME, "missing: the timestamp tokens cannot be checked without it")
                tsa_certs = _small(pkg, TSA_CERTS_NAME)
            checked = timestamps(_small(pkg, token_file.name), given_hash, tsa_certs)
            if not checked.ok:
                raise Mismatch(item, f"its timestamp token ({token_name}) does not verify: {checked.message}")
            stamped.append((seq, checked.time or "time unknown"))
        if head_seq == len(events) and head_hash == last["hash"]:
            covering = seq
        previous = (seq, given_hash, body.at, head_seq)
    if covering is None:
        raise Mismatch(
            _entry_item(len(events), last), "the case log's last entry is covered by no checkpoint in the package"
        )
    return sorted(files), covering, stamped
