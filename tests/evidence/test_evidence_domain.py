"""The pure rules of evidence: the tree of heads (RFC 9162), the exact bytes a checkpoint's
hash covers, names a package may hold, who may export a case, and that the verifier hashes
an entry exactly as the case log does."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.domain.access import CaseScope, InvitedAccount, Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.chain import entry_hash
from server.domain.clock import wire_time
from server.domain.evidence import (
    CHECKPOINT_FORMAT,
    HeadsTree,
    can_export_case,
    checkpoint_body,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    root_from_proof,
    signature_ok,
)
from server.domain.evidence_verify import served_entry_hash, unsafe_name

T0 = datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC)


def test_the_tree_of_heads_is_rfc_9162s_merkle_tree() -> None:
    """RFC 6962's own test vectors (leaves hashed with 0x00, nodes with 0x01)."""
    data = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
    leaves = [hashlib.sha256(b"\x00" + bytes.fromhex(d)).digest() for d in data]
    assert merkle_root([]).hex() == hashlib.sha256(b"").hexdigest()
    assert merkle_root(leaves[:1]).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle_root(leaves[:3]).hex() == "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
    assert merkle_root(leaves[:5]).hex() == "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"
    assert merkle_root(leaves).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 33])
def test_every_leafs_proof_leads_to_the_root_and_nothing_else_does(size: int) -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(size)]
    root = merkle_root(leaves)
    for i in range(size):
        proof = inclusion_proof(leaves, i)
        assert root_from_proof(leaves[i], i, size, proof) == root
        assert root_from_proof(hashlib.sha256(b"other").digest(), i, size, proof) != root
        if size > 1:
            assert root_from_proof(leaves[i], (i + 1) % size, size, proof) != root
            assert root_from_proof(leaves[i], i, size, proof[:-1]) != root
    assert root_from_proof(leaves[0], size, size, []) is None, "an index outside the tree"
    with pytest.raises(IndexError):
        inclusion_proof(leaves, size)


def test_a_cases_head_is_one_leaf_in_order_of_case_id() -> None:
    heads = {"b-case": {"seq": 7, "hash": "b" * 64}, "a-case": {"seq": 3, "hash": "a" * 64}}
    tree = HeadsTree.of(heads)
    assert [h.case_id for h in tree.heads] == ["a-case", "b-case"]
    head, index, proof = tree.proof("b-case")
    assert (head.seq, head.hash, index) == (7, "b" * 64, 1)
    leaf = leaf_hash("b-case", 7, "b" * 64)
    assert root_from_proof(leaf, index, 2, [bytes.fromhex(p) for p in proof]).hex() == tree.root
    with pytest.raises(KeyError):
        tree.proof("c-case")


def test_a_checkpoints_hash_covers_exactly_its_canonical_body() -> None:
    body = checkpoint_body(
        seq=3, at=T0, reason="export", heads={"c1": {"seq": 2, "hash": "1" * 64}}, prev_hash="2" * 64,
        key_fingerprint="3" * 64,
    )  # fmt: skip
    root = leaf_hash("c1", 2, "1" * 64).hex()
    assert (
        body.canonical()
        == (
            '{"at":"2026-12-06T01:02:03.456789+00:00","cases":1,"format":"heshi.checkpoint/1",'
            f'"heads_root":"{root}","key_fingerprint":"{"3" * 64}","prev_hash":"{"2" * 64}",'
            '"reason":"export","seq":3}'
        ).encode()
    )
    assert body.hash == hashlib.sha256(body.canonical()).hexdigest()
    assert body.doc()["format"] == CHECKPOINT_FORMAT and body.at == wire_time(T0)
    other = checkpoint_body(
        seq=3, at=T0, reason="export", heads={"c1": {"seq": 2, "hash": "4" * 64}}, prev_hash="2" * 64,
        key_fingerprint="3" * 64,
    )  # fmt: skip
    assert other.hash != body.hash, "another head, another hash"
    with pytest.raises(ValueError):
        checkpoint_body(seq=0, at=T0, reason="export", heads={}, prev_hash="0" * 64, key_fingerprint="3" * 64)
    with pytest.raises(ValueError):
        checkpoint_body(seq=1, at=T0, reason="whenever", heads={}, prev_hash="0" * 64, key_fingerprint="3" * 64)


def test_an_ed25519_signature_is_checked_against_its_key_and_message() -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = key.sign(b"message")
    assert signature_ok(raw, sig, b"message")
    assert not signature_ok(raw, sig, b"messagE")
    assert not signature_ok(raw, bytes(64), b"message")
    assert not signature_ok(raw[:31], sig, b"message"), "a key of the wrong length is no key"


def test_the_verifier_hashes_an_entry_exactly_as_the_log_does() -> None:
    data = {"text": "排水管", "duration_s": 10.0, "n": 3, "nested": {"z": [1, 2.5, None], "a": True}}
    served = {
        "case_id": "c1", "seq": 4, "at": wire_time(T0), "kind": "chat.message", "actor": "invitation:i1",
        "session_id": "s1", "data": data, "prev_hash": "9" * 64,
    }  # fmt: skip
    assert served_entry_hash(served) == entry_hash("c1", 4, T0, "chat.message", "invitation:i1", "s1", data, "9" * 64)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("media/s/a.webm", None),
        ("case-log.json", None),
        ("", "empty"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("/etc/passwd", "absolute"),
        ("a\\b", "backslash"),
        ("C:x", "drive letter"),
        ("a\x00b", "NUL"),
        ("a\nb", "control character"),
        ("a//b", "empty or '.'"),
        ("./a", "empty or '.'"),
        ("a/", "empty or '.'"),
    ],
)
def test_names_inside_a_package_are_plain_relative_paths(name: str, reason: str | None) -> None:
    got = unsafe_name(name)
    assert (got is None) if reason is None else (got is not None and reason in got)


def _staff(role: StaffRole, org_path: str, account: str) -> Principal:
    return Principal(PrincipalKind.staff, account, account_id=account, staff_role=role, org_path=org_path)


def test_those_who_read_all_of_the_log_export_it_and_nobody_else() -> None:
    scope = CaseScope(
        case_id="c1",
        org_path="/d/t/",
        mediator_id="m1",
        invitations=(InvitedAccount("expert1", "s1", "i1"),),
    )
    allowed = {
        "the case's mediator": _staff(StaffRole.mediator, "/d/other/", "m1"),
        "a mediator of its org": _staff(StaffRole.mediator, "/d/t/", "m2"),
        "a reviewer over its org": _staff(StaffRole.reviewer, "/d/", "r1"),
        "an admin": _staff(StaffRole.admin, "/x/", "a1"),
    }
    refused = {
        "an invited expert": _staff(StaffRole.expert, "/e/", "expert1"),
        "a reviewer of another district": _staff(StaffRole.reviewer, "/other/", "r2"),
        "a mediator elsewhere": _staff(StaffRole.mediator, "/other/t/", "m3"),
        "a party's link": Principal(PrincipalKind.invitation, "周桂兰", invitation_id="i9", case_id="c1"),
    }
    assert [who for who, p in allowed.items() if not can_export_case(p, scope)] == []
    assert [who for who, p in refused.items() if can_export_case(p, scope)] == []
