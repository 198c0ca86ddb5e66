"""Agreements (调解协议书) and the signing of documents: the rules, without storage.

- **Content** (人民调解法 Art. 29): the main facts, the matters in dispute and the agreed
  terms, each term with its obligation, obligor, amount, deadline and manner of performance.
- **Signers.** Every party of the case and the case's mediator sign an agreement (Art. 29:
  signed or sealed by the parties, signed by the mediator, sealed by the committee). Minutes
  are signed by the parties who took part in the session and the mediator. A party signs
  through its own join link (an agent signs for the party it represents: `Grant.sign`); the
  mediator signs as the case's mediator, signed in or through their own link.
- **Locking.** A version is locked once every required signer has signed it. Any later change
  makes a new version whose signatures start empty; the old ones stay with the old version.
  Only the current version can be signed: signing another is refused, naming the current one.
- **Reading.** The case's managers, reviewers over its org and admins read agreements; a
  party's link reads those of its own case. Invited experts and observers do not (DESIGN.md:
  "view ... afterwards").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .access import CaseScope, Principal, PrincipalKind, can_manage_case, can_view_case
from .accounts import StaffRole
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .grants import CASE_STATES_WITH_DOCUMENTS, PARTY_ROLES, Grant, SessionRole, ensure_grant
from .inputs import NUL_MESSAGE
from .orgs import in_subtree

MAX_TERMS = 50
MAX_OBLIGATION = 2000
MAX_OBLIGOR = 200
MAX_MANNER = 1000
MAX_FACTS = 10_000
MAX_MATTERS = 5000
MAX_AMOUNT = Decimal("999999999999.99")
_AMOUNT_RE = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TERM_FIELDS = ("obligation", "obligor", "amount", "deadline", "manner")


@dataclass(frozen=True)
class Term:
    """One agreed term, as the mediator entered it (normalised)."""

    obligation: str
    obligor: str
    amount: str  # a non-negative decimal with at most 2 places ("1200.50"), or "" for none
    deadline: str  # an ISO date ("2026-12-31"), or "" for none
    manner: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _text(value: object, where: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{where}: must be text", fields={where: "invalid"})
    if "\x00" in value:
        raise ValidationFailed(f"{where}: {NUL_MESSAGE}", fields={where: NUL_MESSAGE})
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{where}: required", fields={where: "required"})
    if len(value) > limit:
        raise ValidationFailed(f"{where}: at most {limit} characters", fields={where: "too_long"})
    return value


def check_amount(value: object, where: str = "amount") -> str:
    """A money amount in yuan: empty, or a non-negative decimal with at most two places."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValidationFailed(f'{where}: write the amount as text, e.g. "1200.50"', fields={where: "invalid"})
    text = str(value).strip()
    if not _AMOUNT_RE.match(text):
        raise ValidationFailed(
            f"{where}: a non-negative amount in yuan with at most 2 decimal places", fields={where: "invalid"}
        )
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValidationFailed(f"{where}: not a number", fields={where: "invalid"}) from None
    if amount > MAX_AMOUNT:
        raise ValidationFailed(f"{where}: too large", fields={where: "too_large"})
    return f"{amount:.2f}"


def check_deadline(value: object, where: str = "deadline") -> str:
    """A deadline: empty, or an ISO calendar date (YYYY-MM-DD)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        raise ValidationFailed(f"{where}: an ISO date, e.g. 2026-12-31", fields={where: "invalid"})
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValidationFailed(f"{where}: not a calendar date", fields={where: "invalid"}) from None


def check_terms(raw: object) -> tuple[Term, ...]:
    """The agreed terms as a list of objects, each checked; `fields` names `terms.<i>.<field>`."""
    if not isinstance(raw, (list, tuple)):
        raise ValidationFailed("terms: must be a list", fields={"terms": "invalid"})
    if not raw:
        raise ValidationFailed("terms: an agreement needs at least one agreed term", fields={"terms": "required"})
    if len(raw) > MAX_TERMS:
        raise ValidationFailed(f"terms: at most {MAX_TERMS} terms", fields={"terms": "too_many"})
    terms = []
    for i, item in enumerate(raw):
        at = f"terms.{i}"
        if isinstance(item, Term):
            item = item.as_dict()
        if not isinstance(item, Mapping):
            raise ValidationFailed(f"{at}: must be an object", fields={at: "invalid"})
        unknown = set(item) - set(TERM_FIELDS)
        if unknown:
            name = sorted(str(k) for k in unknown)[0]
            raise ValidationFailed(f"{at}.{name}: not a field of a term", fields={f"{at}.{name}": "unknown"})
        terms.append(
            Term(
                obligation=_text(item.get("obligation"), f"{at}.obligation", MAX_OBLIGATION, required=True),
                obligor=_text(item.get("obligor"), f"{at}.obligor", MAX_OBLIGOR, required=True),
                amount=check_amount(item.get("amount"), f"{at}.amount"),
                deadline=check_deadline(item.get("deadline"), f"{at}.deadline"),
                manner=_text(item.get("manner"), f"{at}.manner", MAX_MANNER),
            )
        )
    return tuple(terms)


@dataclass(frozen=True)
class AgreementText:
    """What the mediator writes into an agreement: facts, matters in dispute, terms."""

    facts: str
    matters: str
    terms: tuple[Term, ...]

    @classmethod
    def check(cls, *, facts: object, matters: object, terms: object) -> AgreementText:
        return cls(
            facts=_text(facts, "facts", MAX_FACTS),
            matters=_text(matters, "matters", MAX_MATTERS),
            terms=check_terms(terms),
        )

    def as_dict(self) -> dict[str, Any]:
        return {"facts": self.facts, "matters": self.matters, "terms": [t.as_dict() for t in self.terms]}


# ---- signers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """Someone whose signature a document needs: `key` is `party:<party id>` or
    `account:<account id>`, as stored with the signature."""

    key: str
    role: str  # applicant | respondent | mediator
    name: str


def party_key(party_id: str) -> str:
    return f"party:{party_id}"


def account_key(account_id: str) -> str:
    return f"account:{account_id}"


@dataclass(frozen=True)
class PartyFacts:
    """What the signing rules need of a party."""

    id: str
    side: str
    name: str


def required_signers(
    parties: Iterable[PartyFacts], mediator_id: str | None, mediator_name: str | None
) -> tuple[Signer, ...]:
    """Who must sign: the given parties, in order, then the mediator. A document of a case
    without a mediator cannot be made: Art. 29 wants the mediator's signature."""
    if not mediator_id:
        raise Conflict("assign the case a mediator first: the mediator signs the agreement", reason="no_mediator")
    signers = [Signer(party_key(p.id), p.side, p.name) for p in parties]
    signers.append(Signer(account_key(mediator_id), "mediator", mediator_name or ""))
    return tuple(signers)


def missing_signers(required: Sequence[Signer], signed: Iterable[str]) -> tuple[Signer, ...]:
    """The required signers who have not signed yet, in order."""
    done = set(signed)
    return tuple(s for s in required if s.key not in done)


def is_complete(required: Sequence[Signer], signed: Iterable[str]) -> bool:
    """A version is locked once every required signer has signed it."""
    return not missing_signers(required, signed)


@dataclass(frozen=True)
class Signing:
    """Who is about to sign: the signer they sign as, and the role they signed in with."""

    signer: Signer
    as_role: str  # the role of the link or account used (an agent signs for their party)


def signer_for(
    p: Principal,
    *,
    case_id: str,
    mediator_id: str | None,
    required: Sequence[Signer],
    invitation_party_id: str | None,
    invitation_account_id: str | None,
    session_id: str | None = None,
) -> Signing:
    """Whom `p` signs as on a document of case `case_id`, or the refusal.

    A link holder must hold a link to this case (to this session, for minutes: `session_id`);
    a party's link (applicant, respondent, agent: `Grant.sign`) signs for its party; the
    mediator the version names among its signers (the case's mediator when it was made) signs
    as the mediator, signed in or through a mediator link bound to their account. After the
    case's mediator changes, the new one signs a new version. Everyone else is refused."""
    if p.kind is PrincipalKind.invitation:
        if p.case_id != case_id or (session_id is not None and p.session_id != session_id):
            raise NotFound("document not found")
        role = p.session_role
        bound = account_key(invitation_account_id) if invitation_account_id else None
        if role is SessionRole.mediator and bound and _names(required, bound):
            return Signing(_the(required, bound), role.value)
        if role is None or role not in PARTY_ROLES:
            ensure_grant(role or SessionRole.observer, Grant.sign)
            raise Forbidden("only the parties and the case's mediator sign")  # a mediator link of someone else
        ensure_grant(role, Grant.sign)
        if not invitation_party_id:
            raise Forbidden("this link is not bound to a party of the case")
        return Signing(_the(required, party_key(invitation_party_id)), role.value)
    if p.staff_role is StaffRole.mediator and p.account_id:
        if _names(required, account_key(p.account_id)):
            return Signing(_the(required, account_key(p.account_id)), "mediator")
        if p.account_id == mediator_id:
            raise Forbidden(
                "this version was made before you became the case's mediator: make a new version, which you sign",
                reason="mediator_changed",
            )
    raise Forbidden("only the parties, through their own links, and the case's mediator sign")


def _names(required: Sequence[Signer], key: str) -> bool:
    return any(s.key == key for s in required)


def _the(required: Sequence[Signer], key: str) -> Signer:
    for s in required:
        if s.key == key:
            return s
    raise Forbidden("you are not among those who sign this document")


def check_signable(
    *, current_version: int, current_sha256: str, given_sha256: str, signer_key: str, signed: Iterable[str]
) -> None:
    """Refuse signing anything but the current version, and signing it twice."""
    if given_sha256 != current_sha256:
        raise Conflict(
            f"this is not the current version: the current one is version {current_version} "
            f"(sha256 {current_sha256}); read it and sign that",
            reason="stale_version",
            current_version=current_version,
            current_sha256=current_sha256,
        )
    if signer_key in set(signed):
        raise Conflict("you have already signed this version", reason="already_signed")


# ---- who reads and writes agreements ------------------------------------------------------------


def can_read_agreements(p: Principal, scope: CaseScope) -> bool:
    """The case's managers, reviewers over its org, admins; a party's (or the mediator's) link
    of this case. Not invited experts, not observers."""
    if p.kind is PrincipalKind.invitation:
        return p.case_id == scope.case_id and (p.session_role in PARTY_ROLES or p.session_role is SessionRole.mediator)
    if p.staff_role is StaffRole.reviewer:
        return p.org_path is not None and in_subtree(scope.org_path, p.org_path)
    return can_manage_case(p, scope)


def ensure_read_agreements(p: Principal, scope: CaseScope) -> None:
    if can_read_agreements(p, scope):
        return
    if p.kind is PrincipalKind.staff and can_view_case(p, scope):
        raise Forbidden("your role may read this case but not its agreements")
    if p.kind is PrincipalKind.invitation and p.case_id == scope.case_id:
        raise Forbidden("only the parties' and the mediator's links read the agreements")
    raise NotFound("agreement not found")


def link_reaches_agreement(p: Principal, agreement_session_id: str | None) -> bool:
    """A party's link reaches every agreement of its case while its session is on; once the
    session has ended, only the agreements made in that session (a link outlives its session
    for that session's documents, not for what the case does later)."""
    return not p.after_session or agreement_session_id == p.session_id


def ensure_link_reaches_agreement(p: Principal, agreement_session_id: str | None) -> None:
    if not link_reaches_agreement(p, agreement_session_id):
        raise NotFound("agreement not found")


# An agreement is signed while the mediation is under way or has succeeded; the minutes also
# when it has failed (a failed mediation's minutes are signed too). Nothing is signed in a
# declined, withdrawn or closed case.
AGREEMENT_SIGNING_STATES = frozenset({"accepted", "mediating", "settled"})
MINUTES_SIGNING_STATES = CASE_STATES_WITH_DOCUMENTS


def ensure_case_takes_signatures(document: str, case_status: str) -> None:
    """Refuse a signature on a document of a case whose state no longer takes it."""
    states = AGREEMENT_SIGNING_STATES if document == "agreement" else MINUTES_SIGNING_STATES
    if case_status not in states:
        raise Conflict(
            f"the case is {case_status}: its {document} is no longer signed",
            reason="case_state",
            status=case_status,
        )


def ensure_write_agreements(p: Principal, scope: CaseScope) -> None:
    """Making and changing an agreement is the mediator's work: staff who manage the case."""
    if p.kind is not PrincipalKind.staff:
        raise Forbidden("the mediator writes the agreement; parties read and sign it")
    if not can_view_case(p, scope):
        raise NotFound("case not found")
    if not can_manage_case(p, scope):
        raise Forbidden("only the case's mediators write its agreements")


def ensure_read_minutes_signatures(p: Principal, scope: CaseScope, session_id: str) -> None:
    """Who reads the signatures on a session's minutes: whoever reads those minutes. A link of
    that session (every session role reads the minutes, `Grant.read_minutes`); the case's
    managers, reviewers over its org, admins; staff invited to that session."""
    if p.kind is PrincipalKind.invitation:
        if p.session_id != session_id or p.case_id != scope.case_id:
            raise NotFound("session not found")
        if p.session_role is None:
            raise Forbidden("this link does not read the minutes")
        ensure_grant(p.session_role, Grant.read_minutes)
        return
    if can_read_agreements(p, scope):
        return
    if any(i.account_id == p.account_id and i.session_id == session_id for i in scope.invitations):
        return
    if can_view_case(p, scope):
        raise Forbidden("your role may read this case but not these minutes")
    raise NotFound("session not found")
