"""Changing a package the ways someone might: inside the ZIP only (the manifest then no longer
matches), or also rewriting the manifest and signing it again with the server's own key (what
someone who took the server could do), so that each deeper check is reached and tested."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.domain.evidence import CASE_LOG_NAME, MANIFEST_NAME, SIGNATURE_NAME, canonical_json

Files = dict[str, bytes]


def unzip(data: bytes) -> Files:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def rezip(files: Files) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def manifest(files: Files) -> dict[str, Any]:
    return json.loads(files[MANIFEST_NAME])


def resign(files: Files, key: Ed25519PrivateKey, *, edit: Any = None) -> Files:
    """The manifest made to match the files as they now are (entries of removed files dropped),
    `edit(manifest)` applied, and signed again with `key`."""
    doc = manifest(files)
    doc["files"] = [
        {**f, "sha256": hashlib.sha256(files[f["name"]]).hexdigest(), "bytes": len(files[f["name"]])}
        for f in doc["files"]
        if f["name"] in files
    ]
    if edit is not None:
        edit(doc)
    head = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n"
    return {**files, MANIFEST_NAME: head, SIGNATURE_NAME: key.sign(head)}


def case_log(files: Files) -> dict[str, Any]:
    return json.loads(files[CASE_LOG_NAME])


def with_case_log(files: Files, doc: dict[str, Any]) -> Files:
    return {**files, CASE_LOG_NAME: json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"}


def rechain(events: list[dict[str, Any]]) -> None:
    """Recompute every entry's prev_hash and hash, as someone rewriting the whole chain would."""
    prev = "0" * 64
    for e in events:
        e["prev_hash"] = prev
        body = {k: e[k] for k in ("case_id", "seq", "at", "kind", "actor", "session_id", "data", "prev_hash")}
        e["hash"] = hashlib.sha256(canonical_json(body)).hexdigest()
        prev = e["hash"]
