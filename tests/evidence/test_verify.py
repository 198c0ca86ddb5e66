"""`heshi verify` on a real export of the demo's concluded case (recorded, chatted, signed,
timestamped by a local TSA), intact and tampered with in every way issue 12 lists, and with
hostile archives. Each tampering is tried as someone without the server's key can do it (the
manifest no longer matches) and, where that reaches a deeper check, as someone who also signs
the manifest again with the server's own key; each must be caught and named."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.cli.verify import verify_file
from server.domain.evidence import (
    CASE_LOG_NAME,
    MANIFEST_NAME,
    PUBLIC_KEY_NAME,
    SIGNATURE_NAME,
    CheckpointBody,
    canonical_json,
    key_fingerprint,
    leaf_hash,
)
from server.domain.evidence_verify import Mismatch
from tests.evidence.conftest import CHAT, Package
from tests.evidence.tampering import Files, case_log, manifest, rechain, resign, rezip, unzip, with_case_log

HESHI = Path(sys.executable).with_name("heshi")


def write(tmp_path: Path, data: bytes, name: str = "export.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def mismatch(tmp_path: Path, files: Files | bytes, public_key: bytes | None = None) -> Mismatch:
    """The first mismatch `heshi verify` finds in the package (it must find one)."""
    path = write(tmp_path, files if isinstance(files, bytes) else rezip(files))
    key = None
    if public_key is not None:
        key = tmp_path / "given.pem"
        key.write_bytes(public_key)
    with pytest.raises(Mismatch) as caught:
        verify_file(path, key)
    return caught.value


def heshi_verify(tmp_path: Path, data: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, as an operator runs it: no database, no HESHI_* settings, elsewhere."""
    path = write(tmp_path, data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESHI_")}
    return subprocess.run(
        [str(HESHI), "verify", str(path), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def media_name(files: Files, media: str, index: int = 0) -> str:
    return next(
        f["name"]
        for f in manifest(files)["files"]
        if f["kind"] == "segment" and f["media"] == media and f["index"] == index
    )


def other_key_pem() -> tuple[Ed25519PrivateKey, bytes]:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem


# ---- intact --------------------------------------------------------------------------------------


def test_the_package_holds_the_case_files_log_checkpoints_and_key(package: Package) -> None:
    files = unzip(package.data)
    doc = manifest(files)
    kinds = sorted(f["kind"] for f in doc["files"])
    assert kinds.count("segment") == 2 and kinds.count("composite") == 1
    assert kinds.count("minutes") == 1 and kinds.count("agreement") >= 1
    assert kinds.count("signature_image") >= 6, "both parties and the mediator, on the agreement and the minutes"
    assert kinds.count("checkpoint") == 2 and kinds.count("timestamp") == 2, "the interval one and the export's"
    assert {"case_log", "signatures", "public_key", "tsa_certificates"} <= set(kinds)
    assert set(files) == {f["name"] for f in doc["files"]} | {MANIFEST_NAME, SIGNATURE_NAME}
    assert [d["path"].rsplit("/", 1)[1] for d in doc["deleted"]] == ["m-c1-video-00001.webm"]
    assert doc["key"]["fingerprint_sha256"] == key_fingerprint(
        package.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    events = case_log(files)["events"]
    assert all(e["redacted"] is False and "data" in e for e in events), "every entry in full"
    assert [e["data"]["text"] for e in events if e["kind"] == "chat.message"] == [text for _, text in CHAT]
    assert events[-1]["kind"] == "export.requested", "the package ends at the head its checkpoint signed"


def test_an_intact_package_verifies_offline_with_a_summary(package: Package, tmp_path: Path) -> None:
    done = heshi_verify(tmp_path, package.data)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "export.zip: intact: every check passed" in out
    assert "DEMO-QS-TH-" in out and "the key packaged with it" in out
    assert "1 segment(s) listed as deleted" in out
    assert "2 RFC 3161 token(s) verified" in out
    (tmp_path / "server.pem").write_bytes(package.public_pem)
    given = heshi_verify(tmp_path, package.data, "--public-key", str(tmp_path / "server.pem"))
    assert given.returncode == 0, given.stdout + given.stderr
    assert "the key given with --public-key" in given.stdout


def test_the_case_log_in_the_package_verifies_as_docs_api_md_says(package: Package) -> None:
    """The outside check of docs/api.md ("Verifying the chain"), run on the packaged log."""
    import hashlib

    def entry_hash(e: dict[str, Any]) -> str:
        doc = {k: e[k] for k in ("case_id", "seq", "at", "kind", "actor", "session_id", "data", "prev_hash")}
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    prev = "0" * 64
    for n, e in enumerate(case_log(unzip(package.data))["events"], start=1):
        assert e["seq"] == n and e["prev_hash"] == prev and entry_hash(e) == e["hash"]
        prev = e["hash"]


# ---- the tamperings of issue 12 --------------------------------------------------------------------


def test_one_byte_flipped_in_a_media_file_is_named(package: Package, tmp_path: Path) -> None:
    files = unzip(package.data)
    name = media_name(files, "video")
    data = bytearray(files[name])
    data[len(data) // 2] ^= 0x01
    files[name] = bytes(data)
    found = mismatch(tmp_path, files)
    assert found.item == name and "does not match the manifest" in found.reason
    done = heshi_verify(tmp_path, rezip(files))
    assert done.returncode == 1 and "NOT INTACT" in done.stdout and name in done.stdout, done.stdout
    # Signed again with the server's key: the case log still says what the segment was.
    found = mismatch(tmp_path, resign(files, package.key))
    assert found.item == name and "not the segment case log entry" in found.reason


def _edit_chat(files: Files) -> tuple[dict[str, Any], int]:
    doc = case_log(files)
    entry = next(e for e in doc["events"] if e["kind"] == "chat.message" and e["data"]["text"] == CHAT[1][1])
    entry["data"]["text"] = "排水管的事我同意自己承担。"  # what the applicant never said
    return doc, entry["seq"]


def test_one_chat_line_edited_in_the_case_log_is_named(package: Package, tmp_path: Path) -> None:
    files = unzip(package.data)
    doc, seq = _edit_chat(files)
    edited = with_case_log(files, doc)
    found = mismatch(tmp_path, edited)
    assert found.item == CASE_LOG_NAME and "does not match the manifest" in found.reason
    found = mismatch(tmp_path, resign(edited, package.key))
    assert found.item == f"case log entry {seq} (chat.message)" and "does not match its hash" in found.reason


def test_a_rewritten_chain_no_longer_matches_the_checkpoint_signed_before(package: Package, tmp_path: Path) -> None:
    """Someone with the database and the key edits a chat line, recomputes every hash after it
    and signs the manifest again: the checkpoint signed before the edit names the old hash."""
    files = unzip(package.data)
    doc, _ = _edit_chat(files)
    rechain(doc["events"])
    rewritten = resign(with_case_log(files, doc), package.key, edit=_head_of(doc))
    found = mismatch(tmp_path, rewritten)
    assert found.item.startswith("checkpoint 1 ") and "rewritten after the checkpoint was signed" in found.reason


def _head_of(doc: dict[str, Any]) -> Any:
    def edit(m: dict[str, Any]) -> None:
        m["case_log"]["head_hash"] = doc["events"][-1]["hash"]

    return edit


def test_even_checkpoints_signed_again_with_the_key_fail_their_timestamps(package: Package, tmp_path: Path) -> None:
    """The same rewrite, with every checkpoint made again to match it and signed with the
    server's key: the TSA's tokens still vouch for the hashes signed before."""
    files = unzip(package.data)
    doc, _ = _edit_chat(files)
    rechain(doc["events"])
    prev = None
    for f in sorted((f for f in manifest(files)["files"] if f["kind"] == "checkpoint"), key=lambda f: f["name"]):
        cp = json.loads(files[f["name"]])
        head = doc["events"][cp["inclusion"]["seq"] - 1]
        cp["inclusion"].update(hash=head["hash"], index=0, proof=[])
        cp["cases"] = 1
        cp["heads_root"] = leaf_hash(cp["inclusion"]["case_id"], head["seq"], head["hash"]).hex()
        if prev is not None:
            cp["prev_hash"] = prev
        body = CheckpointBody(
            cp["seq"], cp["at"], cp["reason"], cp["cases"], cp["heads_root"], cp["prev_hash"], cp["key_fingerprint"]
        )
        cp["hash"] = body.hash
        cp["signature"] = package.key.sign(bytes.fromhex(body.hash)).hex()
        prev = body.hash
        files[f["name"]] = json.dumps(cp, indent=2).encode()
    found = mismatch(tmp_path, resign(with_case_log(files, doc), package.key, edit=_head_of(doc)))
    assert (
        found.item.startswith("checkpoint 1 ")
        and "timestamp token" in found.reason
        and "does not verify" in found.reason
    )


def test_a_segment_removed_is_named(package: Package, tmp_path: Path) -> None:
    files = unzip(package.data)
    name = media_name(files, "audio")
    del files[name]
    found = mismatch(tmp_path, files)
    assert found.item == name and "missing from the package" in found.reason
    # Also taken out of the manifest, signed again: the case log still records the segment.
    found = mismatch(tmp_path, resign(files, package.key))
    assert (
        found.item.endswith("(recording.segment)") and "not in the package, and not listed as deleted" in found.reason
    )


def test_log_entries_reordered_are_named(package: Package, tmp_path: Path) -> None:
    files = unzip(package.data)
    doc = case_log(files)
    doc["events"][3], doc["events"][4] = doc["events"][4], doc["events"][3]
    reordered = with_case_log(files, doc)
    found = mismatch(tmp_path, reordered)
    assert found.item == CASE_LOG_NAME
    found = mismatch(tmp_path, resign(reordered, package.key))
    assert found.item.startswith("case log entry 4 ") and "entry 5 stands in its place" in found.reason


def test_the_signature_replaced_is_named(package: Package, tmp_path: Path) -> None:
    files = unzip(package.data)
    found = mismatch(tmp_path, {**files, SIGNATURE_NAME: os.urandom(64)})
    assert found.item == SIGNATURE_NAME and "not a signature of manifest.json" in found.reason
    other, _ = other_key_pem()
    found = mismatch(tmp_path, {**files, SIGNATURE_NAME: other.sign(files[MANIFEST_NAME])})
    assert found.item == SIGNATURE_NAME
    found = mismatch(tmp_path, {k: v for k, v in files.items() if k != SIGNATURE_NAME})
    assert found.item == SIGNATURE_NAME and "missing" in found.reason


def test_the_public_key_swapped_is_named(package: Package, tmp_path: Path) -> None:
    """Someone signs a changed package with their own key and packages that key."""
    files = unzip(package.data)
    other, other_pem = other_key_pem()
    raw = other.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def own_key(m: dict[str, Any]) -> None:
        m["key"]["fingerprint_sha256"] = key_fingerprint(raw)

    swapped = resign({**files, PUBLIC_KEY_NAME: other_pem}, other, edit=own_key)
    found = mismatch(tmp_path, swapped)
    assert found.item.startswith("checkpoint 1 ") and "signed by another key" in found.reason
    # Checked against the server's published key, the swap is named first.
    found = mismatch(tmp_path, swapped, public_key=package.public_pem)
    assert found.item == PUBLIC_KEY_NAME and "is not the key given with --public-key" in found.reason
    # And an intact package checked against another key than its own.
    found = mismatch(tmp_path, package.data, public_key=other_pem)
    assert found.item == PUBLIC_KEY_NAME and key_fingerprint(raw) in found.reason
    # A packaged key that is not the one the manifest names.
    found = mismatch(tmp_path, {**files, PUBLIC_KEY_NAME: other_pem})
    assert found.item == PUBLIC_KEY_NAME and "not the one the manifest names" in found.reason


def test_a_checkpoint_removed_is_named(package: Package, tmp_path: Path) -> None:
    files = unzip(package.data)
    doc = manifest(files)
    export_cp = next(c["file"] for c in doc["checkpoints"] if c["seq"] == doc["checkpoint_seq"])
    found = mismatch(tmp_path, {k: v for k, v in files.items() if k != export_cp})
    assert found.item == export_cp and "missing from the package" in found.reason
    # Taken out of the manifest too and signed again: the log's last entry is covered by none.

    def drop(m: dict[str, Any]) -> None:
        m["checkpoints"] = [c for c in m["checkpoints"] if c["file"] != export_cp]

    token = export_cp.replace(".json", ".tst")
    rest = {k: v for k, v in files.items() if k not in (export_cp, token)}
    found = mismatch(tmp_path, resign(rest, package.key, edit=drop))
    assert found.item.endswith("(export.requested)") and "covered by no checkpoint" in found.reason
    # Left in the ZIP but not named among the manifest's checkpoints.
    found = mismatch(tmp_path, resign(files, package.key, edit=drop))
    assert found.item == export_cp and "the manifest's checkpoints do not name" in found.reason


def test_the_log_cut_short_before_a_checkpoint_is_named(package: Package, tmp_path: Path) -> None:
    files = unzip(package.data)
    doc = case_log(files)
    doc["events"] = doc["events"][:-1]
    found = mismatch(tmp_path, resign(with_case_log(files, doc), package.key, edit=_cut(doc)))
    assert found.item.startswith("checkpoint 2 ") and "entries were removed from its end" in found.reason


def _cut(doc: dict[str, Any]) -> Any:
    def edit(m: dict[str, Any]) -> None:
        m["case_log"].update(entries=len(doc["events"]), head_hash=doc["events"][-1]["hash"])

    return edit


def test_a_file_added_to_the_package_is_named(package: Package, tmp_path: Path) -> None:
    files = {**unzip(package.data), "media/extra.webm": b"not evidence"}
    found = mismatch(tmp_path, files)
    assert found.item == "media/extra.webm" and "not listed in the manifest" in found.reason


# ---- hostile archives -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../x", "'..' segment"),
        ("media/../../etc/passwd", "'..' segment"),
        ("/etc/passwd", "absolute path"),
        ("media\\..\\x", "backslash"),
        ("C:/x", "drive letter"),
        ("media//x", "empty or '.' path segment"),
    ],
)
def test_path_traversal_names_inside_the_zip_are_refused(package: Package, tmp_path: Path, name: str, why: str) -> None:
    found = mismatch(tmp_path, {**unzip(package.data), name: b"x"})
    assert found.item == repr(name) and "unsafe name" in found.reason and why in found.reason


def test_a_nul_in_a_name_is_refused_although_zipfile_would_cut_it(package: Package, tmp_path: Path) -> None:
    data = rezip({**unzip(package.data), "evilXname": b"x"}).replace(b"evilXname", b"evil\x00name")
    found = mismatch(tmp_path, data)
    assert "NUL" in found.reason


def test_a_symbolic_link_or_a_repeated_name_is_refused(package: Package, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in unzip(package.data).items():
            z.writestr(name, data)
        link = zipfile.ZipInfo("media/link")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    found = mismatch(tmp_path, buf.getvalue())
    assert found.item == "media/link" and "not a regular file" in found.reason
    buf = io.BytesIO()
    files = unzip(package.data)
    with zipfile.ZipFile(buf, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr(CASE_LOG_NAME, b"{}")
    found = mismatch(tmp_path, buf.getvalue())
    assert found.item == CASE_LOG_NAME and "twice" in found.reason


@pytest.mark.parametrize(
    "data",
    [b"", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", b"PK\x03\x04" + b"\x00" * 40, os.urandom(4096)],
    ids=["empty", "a PDF", "a ZIP header only", "random bytes"],
)
def test_a_file_that_is_not_a_zip_is_named(tmp_path: Path, data: bytes) -> None:
    found = mismatch(tmp_path, data)
    assert found.item == "export.zip" and "not a ZIP archive" in found.reason


def test_a_zip_cut_short_is_not_a_zip(package: Package, tmp_path: Path) -> None:
    found = mismatch(tmp_path, package.data[: len(package.data) // 2])
    assert found.item == "export.zip" and "not a ZIP archive" in found.reason


def test_damaged_bytes_inside_the_archive_are_named(package: Package, tmp_path: Path) -> None:
    """A stored member's bytes changed in the ZIP itself (its CRC no longer matches)."""
    files = unzip(package.data)
    name = media_name(files, "video")
    original = files[name]
    at = package.data.index(original)
    damaged = bytearray(package.data)
    damaged[at + len(original) // 2] ^= 0xFF
    found = mismatch(tmp_path, bytes(damaged))
    assert found.item == name and "damaged" in found.reason


def test_a_missing_or_unreadable_manifest_is_named(package: Package, tmp_path: Path) -> None:
    files = unzip(package.data)
    found = mismatch(tmp_path, {k: v for k, v in files.items() if k != MANIFEST_NAME})
    assert found.item == MANIFEST_NAME and "missing" in found.reason
    found = mismatch(tmp_path, {**files, MANIFEST_NAME: b"{not json"})
    assert found.item == MANIFEST_NAME and "not valid JSON" in found.reason
    found = mismatch(tmp_path, {**files, MANIFEST_NAME: canonical_json({"format": "something else"})})
    assert found.item == MANIFEST_NAME and "not an evidence export manifest" in found.reason
    found = mismatch(tmp_path, rezip({"readme.txt": b"hello"}))
    assert found.item == MANIFEST_NAME


def test_the_command_says_why_it_cannot_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESHI_")}
    done = subprocess.run(
        [str(HESHI), "verify", str(tmp_path / "nope.zip")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "cannot read" in done.stderr and "nope.zip" in done.stderr
    done = subprocess.run(
        [str(HESHI), "verify", str(tmp_path / "nope.zip"), "--public-key", str(tmp_path / "k.pem")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--public-key" in done.stderr
