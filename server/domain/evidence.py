"""Evidence exports and signed checkpoints (issue 12): the exact bytes that are hashed and
signed, the tree of case-log heads a checkpoint signs, and who may export a case.
docs/evidence.md describes the formats; `evidence_verify` checks a package against them.

**Checkpoints.** A checkpoint states the head (last `seq` and `hash`) of every case log at one
moment. The heads are the leaves of a Merkle tree (RFC 9162, section 2.1: leaves and inner
nodes hashed with a 0x00 or 0x01 prefix, the tree split at the largest power of two below its
size), one leaf per case in order of case id, so that an export carries one checkpoint's
proof for its own case and nothing about any other case. A checkpoint's `hash` is the SHA-256
of the canonical JSON (`canonical_json`) of its body — format, seq, time, reason, number of
cases, the tree's root, the previous checkpoint's hash and the fingerprint of the key that
signs it — and `signature` is the server's Ed25519 signature of the 32 bytes of that hash.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .access import CaseScope, Principal
from .caselog import reader_for
from .clock import wire_time

EXPORT_FORMAT = "heshi.evidence-export/1"
CHECKPOINT_FORMAT = "heshi.checkpoint/1"
CASE_LOG_FORMAT = "heshi.case-log/1"
GENESIS = "0" * 64  # the `prev_hash` of the first checkpoint

# Names inside an export package.
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"  # the 64 raw bytes of the Ed25519 signature of manifest.json
CASE_LOG_NAME = "case-log.json"
PUBLIC_KEY_NAME = "key/public-key.pem"
TSA_CERTS_NAME = "tsa/ca.pem"
SIGNATURES_NAME = "signatures.json"
UNLISTED = (MANIFEST_NAME, SIGNATURE_NAME)  # the two files the manifest cannot list


class FileKind(enum.StrEnum):
    """What a file of an export package is (its manifest entry's `kind`)."""

    segment = "segment"  # a recording segment exactly as the recorder wrote it
    track = "track"  # one participant's track remuxed from its segments (recordings/tracks.py, to come)
    composite = "composite"  # the session's one-file download
    minutes = "minutes"  # a session's minutes (current revision) as PDF
    agreement = "agreement"  # one agreement version as PDF, signatures drawn in
    signature_image = "signature_image"  # a drawn signature (PNG)
    signatures = "signatures"  # signatures.json: every signature's record
    case_log = "case_log"  # case-log.json: every entry of the case log, unredacted
    checkpoint = "checkpoint"  # one signed checkpoint, with the proof for this case
    timestamp = "timestamp"  # a checkpoint's RFC 3161 timestamp token (DER)
    tsa_certificates = "tsa_certificates"  # the certificates the timestamp tokens are checked with
    public_key = "public_key"  # the server's Ed25519 public key (PEM)


class CheckpointReason(enum.StrEnum):
    interval = "interval"  # the background job, at regular intervals
    export = "export"  # made for an evidence export, covering its case's last entry


class ExportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


def canonical_json(doc: Any) -> bytes:
    """The one JSON form that is hashed or signed: keys sorted at every level, no whitespace,
    non-ASCII as itself (UTF-8), exactly as the case log's entries are hashed."""
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- keys ------------------------------------------------------------------------------------


def key_fingerprint(raw_public_key: bytes) -> str:
    """SHA-256 (hex) of the 32 raw bytes of an Ed25519 public key."""
    return sha256_hex(raw_public_key)


def signature_ok(raw_public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is the Ed25519 signature of `message` under the raw public key."""
    try:
        Ed25519PublicKey.from_public_bytes(raw_public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# ---- the tree of heads -------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """A case log's last entry at one moment."""

    case_id: str
    seq: int
    hash: str

    def leaf(self) -> bytes:
        return leaf_hash(self.case_id, self.seq, self.hash)


def leaf_hash(case_id: str, seq: int, entry_hash: str) -> bytes:
    return hashlib.sha256(b"\x00" + canonical_json({"case_id": case_id, "seq": seq, "hash": entry_hash})).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162's Merkle Tree Hash of leaf hashes (the empty tree: SHA-256 of nothing)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162's inclusion proof of leaf `index`: the sibling hashes from the leaf up."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), merkle_root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), merkle_root(leaves[:k])]


def root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root that `proof` leads to from `leaf` at `index` in a tree of `size` leaves
    (RFC 9162, 2.1.3.2); None when the proof has the wrong length for that place."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


@dataclass(frozen=True)
class HeadsTree:
    """Every case's head at one moment, in the order of the tree's leaves (by case id)."""

    heads: tuple[Head, ...]

    @classmethod
    def of(cls, heads: Mapping[str, Mapping[str, Any]]) -> HeadsTree:
        """From a checkpoint's stored heads: case id -> {"seq": n, "hash": h}."""
        return cls(tuple(Head(cid, int(h["seq"]), str(h["hash"])) for cid, h in sorted(heads.items())))

    @property
    def root(self) -> str:
        return merkle_root([h.leaf() for h in self.heads]).hex()

    def proof(self, case_id: str) -> tuple[Head, int, list[str]]:
        """The case's head, its leaf index and the proof of it; KeyError when the case is not in it."""
        for index, head in enumerate(self.heads):
            if head.case_id == case_id:
                leaves = [h.leaf() for h in self.heads]
                return head, index, [p.hex() for p in inclusion_proof(leaves, index)]
        raise KeyError(case_id)


# ---- checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointBody:
    """What a checkpoint's hash covers."""

    seq: int
    at: str  # wire time (UTC, microseconds)
    reason: str
    cases: int  # leaves of the tree
    heads_root: str
    prev_hash: str
    key_fingerprint: str

    def doc(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "seq": self.seq,
            "at": self.at,
            "reason": self.reason,
            "cases": self.cases,
            "heads_root": self.heads_root,
            "prev_hash": self.prev_hash,
            "key_fingerprint": self.key_fingerprint,
        }

    def canonical(self) -> bytes:
        return canonical_json(self.doc())

    @property
    def hash(self) -> str:
        return sha256_hex(self.canonical())


def checkpoint_body(
    *,
    seq: int,
    at: datetime,
    reason: CheckpointReason | str,
    heads: Mapping[str, Mapping[str, Any]],
    prev_hash: str,
    key_fingerprint: str,
) -> CheckpointBody:
    """The body of a checkpoint of `heads` (case id -> {"seq", "hash"})."""
    if seq < 1:
        raise ValueError(f"a checkpoint's seq starts at 1, got {seq}")
    tree = HeadsTree.of(heads)
    return CheckpointBody(
        seq=seq,
        at=wire_time(at),
        reason=CheckpointReason(reason).value,
        cases=len(tree.heads),
        heads_root=tree.root,
        prev_hash=prev_hash,
        key_fingerprint=key_fingerprint,
    )


# ---- who -------------------------------------------------------------------------------------


def can_export_case(p: Principal, scope: CaseScope) -> bool:
    """An export holds the whole case log unredacted, the recordings and the signatures: it is
    for those who read all of the log (the case's mediators, reviewers over its org, admins)."""
    reader = reader_for(p, scope)
    return reader is not None and reader.full
