"""Who reads what of a case's log: every entry kind × every kind of viewer (issue 9, item 1).

The expected cells are written out below from the rule in the docstring of
server/domain/caselog.py (and the same table in docs/api.md, "What each viewer reads"), not
computed by the code under test:

- full readers (admins, the case's mediators, reviewers whose org subtree holds the case)
  read every entry;
- an invited expert reads case entries; session entries only of the sessions they hold a
  valid invitation to; chat only in those sessions, and there only public messages and
  private ones to or from them; minutes entries only of those sessions (they read the
  minutes live there); never recording or agreement entries;
- reviewers of another org, and anyone who holds an invitation link (a party, or even the
  expert following their own link), get no reader at all.

The tests iterate ENTRY_KINDS, so a kind added later is covered without touching this file;
a kind must however be named after its part (`case.*`/`party.*`, `session.*`/`invitation.*`,
`chat.*`, `recording.*`, `minutes.*`, `agreement.*`/`confirmation.*`), so that the documented
table keeps describing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from server.domain.access import CaseScope, InvitedAccount, Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.actors import Actor, SystemReason
from server.domain.caselog import ENTRY_KINDS, LogReader, Part, check_entry_kind, reader_for
from server.domain.grants import SessionRole
from server.domain.orgs import child_path

DISTRICT = child_path(None, "d1")  # /d1/: the reviewer's bureau
TOWN = child_path(DISTRICT, "t1")  # /d1/t1/: the case's org
OTHER_DISTRICT = child_path(None, "d2")  # /d2/: another bureau, with its own reviewer

CASE_ID = "case-1"
SESSION_A = "session-a"  # the expert holds a valid invitation to this session
SESSION_B = "session-b"  # … and none to this one

MEDIATOR_ID = "acc-mediator"
EXPERT_ID = "acc-expert"
EXPERT_INV_A = "inv-expert-a"  # the expert's invitation to session A: their pid there is i:inv-expert-a
MEDIATOR_INV = {SESSION_A: "inv-mediator-a", SESSION_B: "inv-mediator-b"}
APPLICANT_INV = {SESSION_A: "inv-applicant-a", SESSION_B: "inv-applicant-b"}

SCOPE = CaseScope(
    case_id=CASE_ID,
    org_path=TOWN,
    mediator_id=MEDIATOR_ID,
    invitations=(InvitedAccount(EXPERT_ID, SESSION_A, EXPERT_INV_A),),
)


def staff(account_id: str, role: StaffRole, org_path: str) -> Principal:
    return Principal(
        kind=PrincipalKind.staff,
        display_name=account_id,
        account_id=account_id,
        staff_role=role,
        org_id=org_path.strip("/").split("/")[-1],
        org_path=org_path,
    )


def link_holder(invitation_id: str, role: SessionRole, account_id: str | None = None) -> Principal:
    return Principal(
        kind=PrincipalKind.invitation,
        display_name=invitation_id,
        account_id=account_id,
        invitation_id=invitation_id,
        case_id=CASE_ID,
        session_id=SESSION_A,
        session_role=role,
    )


VIEWERS: dict[str, Principal] = {
    "admin": staff("acc-admin", StaffRole.admin, OTHER_DISTRICT),  # an admin reads every case, wherever they sit
    "mediator": staff(MEDIATOR_ID, StaffRole.mediator, TOWN),  # manages the case
    "reviewer": staff("acc-reviewer", StaffRole.reviewer, DISTRICT),  # the case's org is in their subtree
    "other-reviewer": staff("acc-other-reviewer", StaffRole.reviewer, OTHER_DISTRICT),
    "expert": staff(EXPERT_ID, StaffRole.expert, OTHER_DISTRICT),  # invited to session A only
    "party": link_holder(APPLICANT_INV[SESSION_A], SessionRole.applicant),
    # The expert again, but signed in by their join link: a link never opens the case file or its log.
    "expert-link": link_holder(EXPERT_INV_A, SessionRole.expert, account_id=EXPERT_ID),
}


def pid(actor: str) -> str:
    """The live-session participant id of an `invitation:`/`account:` actor."""
    kind, _, ident = actor.partition(":")
    return {"invitation": "i:", "account": "a:"}[kind] + ident


@dataclass(frozen=True)
class Situation:
    """Where an entry sits: its session, and for chat who sent it (actor) and to whom (`to`)."""

    part: Part
    session_id: str | None
    actor: str
    data: dict[str, Any]


def _chat(session: str, sender: str, to: str | None, *, absent_to: bool = False) -> Situation:
    data: dict[str, Any] = {"message_id": "m", "text": "您好"}
    if not absent_to:
        data["to"] = to
    return Situation(Part.chat, session, sender, data)


def _situations() -> dict[str, Situation]:
    mediator_acc, expert_acc = f"account:{MEDIATOR_ID}", f"account:{EXPERT_ID}"
    expert_inv = f"invitation:{EXPERT_INV_A}"
    out = {
        "case": Situation(Part.case, None, mediator_acc, {"note": "案件信息"}),
        "session A": Situation(Part.session, SESSION_A, f"invitation:{APPLICANT_INV[SESSION_A]}", {"pid": "x"}),
        "session B": Situation(Part.session, SESSION_B, f"invitation:{APPLICANT_INV[SESSION_B]}", {"pid": "x"}),
        "recording A": Situation(Part.recording, SESSION_A, "recorder:rec-a", {"recording_id": "rec-a"}),
        "recording B": Situation(Part.recording, SESSION_B, "recorder:rec-b", {"recording_id": "rec-b"}),
        "minutes A": Situation(Part.minutes, SESSION_A, mediator_acc, {"revision": 2, "sha256": "0" * 64}),
        "minutes B": Situation(Part.minutes, SESSION_B, mediator_acc, {"revision": 2, "sha256": "0" * 64}),
        "agreement of the case": Situation(Part.agreement, None, mediator_acc, {"agreement_id": "ag-1"}),
        "agreement in A": Situation(Part.agreement, SESSION_A, f"invitation:{APPLICANT_INV[SESSION_A]}", {}),
        "evidence export": Situation(Part.evidence, None, mediator_acc, {"export_id": "ex-1"}),
    }
    for s, name in ((SESSION_A, "A"), (SESSION_B, "B")):
        mediator_inv, applicant_inv = f"invitation:{MEDIATOR_INV[s]}", f"invitation:{APPLICANT_INV[s]}"
        out |= {
            f"chat {name}: public (to null)": _chat(s, mediator_acc, None),
            f"chat {name}: public (no `to` key)": _chat(s, applicant_inv, None, absent_to=True),
            f"chat {name}: mediator → expert's invitation pid": _chat(s, mediator_inv, pid(expert_inv)),
            f"chat {name}: mediator → expert's account pid": _chat(s, mediator_acc, pid(expert_acc)),
            f"chat {name}: expert (by invitation) → mediator": _chat(s, expert_inv, pid(mediator_acc)),
            f"chat {name}: expert (by account) → applicant": _chat(s, expert_acc, pid(applicant_inv)),
            f"chat {name}: mediator → applicant": _chat(s, mediator_inv, pid(applicant_inv)),
            f"chat {name}: applicant → mediator": _chat(s, applicant_inv, pid(mediator_acc)),
            f"chat {name}: system → applicant": _chat(s, str(Actor.system(SystemReason.room_lost)), pid(applicant_inv)),
        }
    return out


SITUATIONS = _situations()

# R: reads the entry · x: has a reader, but this entry is served redacted · -: no reader at all (None)
MATRIX = """
situation                                        admin mediator reviewer other-reviewer expert party expert-link
case                                             R     R        R        -              R      -     -
session A                                        R     R        R        -              R      -     -
session B                                        R     R        R        -              x      -     -
recording A                                      R     R        R        -              x      -     -
recording B                                      R     R        R        -              x      -     -
minutes A                                        R     R        R        -              R      -     -
minutes B                                        R     R        R        -              x      -     -
agreement of the case                            R     R        R        -              x      -     -
agreement in A                                   R     R        R        -              x      -     -
evidence export                                  R     R        R        -              x      -     -
chat A: public (to null)                         R     R        R        -              R      -     -
chat A: public (no `to` key)                     R     R        R        -              R      -     -
chat A: mediator → expert's invitation pid       R     R        R        -              R      -     -
chat A: mediator → expert's account pid          R     R        R        -              R      -     -
chat A: expert (by invitation) → mediator        R     R        R        -              R      -     -
chat A: expert (by account) → applicant          R     R        R        -              R      -     -
chat A: mediator → applicant                     R     R        R        -              x      -     -
chat A: applicant → mediator                     R     R        R        -              x      -     -
chat A: system → applicant                       R     R        R        -              x      -     -
chat B: public (to null)                         R     R        R        -              x      -     -
chat B: public (no `to` key)                     R     R        R        -              x      -     -
chat B: mediator → expert's invitation pid       R     R        R        -              x      -     -
chat B: mediator → expert's account pid          R     R        R        -              x      -     -
chat B: expert (by invitation) → mediator        R     R        R        -              x      -     -
chat B: expert (by account) → applicant          R     R        R        -              x      -     -
chat B: mediator → applicant                     R     R        R        -              x      -     -
chat B: applicant → mediator                     R     R        R        -              x      -     -
chat B: system → applicant                       R     R        R        -              x      -     -
"""


def _parse(table: str) -> dict[str, dict[str, str]]:
    lines = table.strip().splitlines()
    viewers = lines[0].split()[1:]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[1:]:
        words = line.split()
        label, cells = " ".join(words[: -len(viewers)]), words[-len(viewers) :]
        assert set(cells) <= {"R", "x", "-"}, line
        rows[label] = dict(zip(viewers, cells))
    return rows


EXPECTED = _parse(MATRIX)

# Every kind, in every situation of its part: e.g. each session kind once in session A and once in B.
CELLS = [(kind, name) for kind, part in ENTRY_KINDS.items() for name, sit in SITUATIONS.items() if sit.part is part]


def test_the_table_covers_every_situation_and_viewer() -> None:
    assert set(EXPECTED) == set(SITUATIONS)
    assert all(set(row) == set(VIEWERS) for row in EXPECTED.values())


def test_every_part_has_entry_kinds_and_situations() -> None:
    """Each part of the rule is exercised: no part is left without a kind or without a situation."""
    assert {part for part in ENTRY_KINDS.values()} == set(Part)
    assert {sit.part for sit in SITUATIONS.values()} == set(Part)


@pytest.mark.parametrize("kind", list(ENTRY_KINDS))
def test_each_kind_is_declared_in_the_part_its_name_says(kind: str) -> None:
    """docs/api.md tells readers which entries they get by name (`case.*`, `party.*`, `session.*`,
    `invitation.*`, `chat.message`, `recording.*`): a kind filed under another part would be
    shown to (or hidden from) the wrong people without the documentation saying so."""
    by_prefix = {
        "case": Part.case,
        "party": Part.case,
        "session": Part.session,
        "invitation": Part.session,
        "chat": Part.chat,
        "recording": Part.recording,
        "minutes": Part.minutes,
        "agreement": Part.agreement,
        "confirmation": Part.agreement,
        "export": Part.evidence,
    }
    prefix = kind.split(".", 1)[0]
    assert prefix in by_prefix, f"{kind}: a new family of kinds needs a row in docs/api.md and here"
    assert ENTRY_KINDS[kind] is by_prefix[prefix]


@pytest.mark.parametrize(("kind", "situation"), CELLS, ids=[f"{k} | {s}" for k, s in CELLS])
def test_who_reads_each_kind_of_entry(kind: str, situation: str) -> None:
    """One row of the matrix: each viewer's reader (or its absence) against the expected cell."""
    sit = SITUATIONS[situation]
    wrong = []
    for viewer, p in VIEWERS.items():
        reader = reader_for(p, SCOPE)
        got = "-" if reader is None else "R" if reader.may_read(kind, sit.session_id, sit.actor, sit.data) else "x"
        if got != EXPECTED[situation][viewer]:
            wrong.append(f"{viewer}: expected {EXPECTED[situation][viewer]}, got {got}")
    assert not wrong, f"{kind} in situation '{situation}': " + "; ".join(wrong)


def test_full_readers_get_a_full_reader_and_the_expert_a_partial_one() -> None:
    """The reader's shape, as the service uses it: the expert's reader lists session A and both of
    their participant ids there (by invitation and by account), nothing of session B."""
    for viewer in ("admin", "mediator", "reviewer"):
        assert reader_for(VIEWERS[viewer], SCOPE) == LogReader(full=True)
    expert = reader_for(VIEWERS["expert"], SCOPE)
    assert expert is not None and not expert.full
    assert expert.sessions == {SESSION_A}
    assert expert.pids == {f"i:{EXPERT_INV_A}", f"a:{EXPERT_ID}"}


def test_an_expert_without_a_valid_invitation_gets_no_reader() -> None:
    """The scope lists only valid invitations: once the expert's is revoked or expired, the log is
    closed to them like the case itself."""
    assert reader_for(VIEWERS["expert"], CaseScope(case_id=CASE_ID, org_path=TOWN, mediator_id=MEDIATOR_ID)) is None


def test_another_accounts_invitation_does_not_widen_the_experts_reader() -> None:
    """A second expert invited to session B gives the first one nothing of B, and their pids are
    not the first expert's."""
    scope = CaseScope(
        case_id=CASE_ID,
        org_path=TOWN,
        mediator_id=MEDIATOR_ID,
        invitations=SCOPE.invitations + (InvitedAccount("acc-expert-2", SESSION_B, "inv-expert-2-b"),),
    )
    reader = reader_for(VIEWERS["expert"], scope)
    assert reader is not None
    assert reader.sessions == {SESSION_A}
    assert not reader.may_read("session.join", SESSION_B, "invitation:inv-expert-2-b", {})
    assert not reader.may_read(
        "chat.message", SESSION_A, "invitation:inv-expert-2-b", {"to": f"i:{APPLICANT_INV[SESSION_A]}", "text": "…"}
    )


def test_an_expert_invited_to_both_sessions_reads_both() -> None:
    scope = CaseScope(
        case_id=CASE_ID,
        org_path=TOWN,
        mediator_id=MEDIATOR_ID,
        invitations=SCOPE.invitations + (InvitedAccount(EXPERT_ID, SESSION_B, "inv-expert-b"),),
    )
    reader = reader_for(VIEWERS["expert"], scope)
    assert reader is not None
    assert reader.may_read("session.admit", SESSION_B, f"account:{MEDIATOR_ID}", {"pid": "i:inv-expert-b"})
    assert reader.may_read("chat.message", SESSION_B, f"account:{MEDIATOR_ID}", {"to": "i:inv-expert-b"})
    assert not reader.may_read("recording.segment", SESSION_B, "recorder:r", {})


def test_an_invited_mediator_from_elsewhere_reads_like_an_invited_expert() -> None:
    """ "Invited staff (e.g. an expert)": a mediator of another org invited to session A may read
    the case but does not manage it, so they get the invited reader, not the full one."""
    outsider = staff("acc-outside-mediator", StaffRole.mediator, OTHER_DISTRICT)
    scope = CaseScope(
        case_id=CASE_ID,
        org_path=TOWN,
        mediator_id=MEDIATOR_ID,
        invitations=(InvitedAccount(outsider.account_id or "", SESSION_A, "inv-outside"),),
    )
    reader = reader_for(outsider, scope)
    assert reader is not None and not reader.full
    assert reader.may_read("session.join", SESSION_A, "invitation:inv-outside", {})
    assert not reader.may_read("session.join", SESSION_B, "invitation:inv-outside", {})
    assert not reader.may_read("recording.started", SESSION_A, f"account:{MEDIATOR_ID}", {})


def test_a_stored_kind_nobody_declares_any_more_is_read_in_full_and_hidden_from_everyone_else() -> None:
    """The log refuses to write an undeclared kind; one written by an earlier version (and since
    renamed) must not make the log unreadable: full readers read it, invited staff get it redacted."""
    with pytest.raises(ValueError, match="not a declared case-log entry kind"):
        check_entry_kind("minutes.edited")
    admin, expert = reader_for(VIEWERS["admin"], SCOPE), reader_for(VIEWERS["expert"], SCOPE)
    assert admin is not None and expert is not None
    assert admin.may_read("minutes.edited", SESSION_A, f"account:{MEDIATOR_ID}", {})
    assert not expert.may_read("minutes.edited", SESSION_A, f"account:{MEDIATOR_ID}", {})
