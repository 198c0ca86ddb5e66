"""Cases (案件): dispute types, sources, parties and the case status state machine."""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from .errors import InvalidTransition, ValidationFailed


class DisputeType(enum.StrEnum):
    neighbour = "neighbour"  # 邻里纠纷
    family = "family"  # 婚姻家庭纠纷
    land = "land"  # 土地纠纷
    labour = "labour"  # 劳动争议
    medical = "medical"  # 医疗纠纷
    property = "property"  # 物业/房屋租赁纠纷
    contract = "contract"  # 合同/债务纠纷
    traffic = "traffic"  # 交通事故纠纷
    ip = "ip"  # 知识产权纠纷
    finance = "finance"  # 金融保险纠纷
    other = "other"  # 其他


class CaseSource(enum.StrEnum):
    self_applied = "self_applied"  # 当事人申请
    on_site = "on_site"  # 主动排查发现
    court = "court"  # 法院委派/委托 (诉调)
    police = "police"  # 公安移交 (警调)
    petition = "petition"  # 信访移交 (访调)


class PartySide(enum.StrEnum):
    applicant = "applicant"
    respondent = "respondent"


class CaseStatus(enum.StrEnum):
    registered = "registered"  # 登记: recorded, not yet accepted
    accepted = "accepted"  # 受理
    declined = "declined"  # 不予受理 (final)
    mediating = "mediating"  # 调解中
    settled = "settled"  # 调解成功, agreement reached
    unsettled = "unsettled"  # 调解不成
    withdrawn = "withdrawn"  # 当事人撤回
    closed = "closed"  # 结案 (final)


CASE_TRANSITIONS: dict[CaseStatus, tuple[CaseStatus, ...]] = {
    CaseStatus.registered: (CaseStatus.accepted, CaseStatus.declined),
    CaseStatus.accepted: (CaseStatus.mediating, CaseStatus.withdrawn),
    CaseStatus.mediating: (CaseStatus.settled, CaseStatus.unsettled, CaseStatus.withdrawn),
    CaseStatus.settled: (CaseStatus.closed,),
    CaseStatus.unsettled: (CaseStatus.closed, CaseStatus.mediating),
    CaseStatus.withdrawn: (CaseStatus.closed,),
    CaseStatus.declined: (),
    CaseStatus.closed: (),
}

# Moves that end mediation need a reason on file: a court or supervisor will ask why.
TRANSITIONS_NEEDING_NOTE = {CaseStatus.declined, CaseStatus.unsettled, CaseStatus.withdrawn}


def check_case_transition(current: CaseStatus, target: CaseStatus, note: str | None) -> None:
    """Raise InvalidTransition unless `current -> target` is a move of the case state machine."""
    allowed = CASE_TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition("case", current.value, target.value, [s.value for s in allowed])
    if target in TRANSITIONS_NEEDING_NOTE and not (note and note.strip()):
        raise ValidationFailed(f"a note is required to move a case to '{target.value}'", fields={"note": "required"})


def is_open(status: CaseStatus) -> bool:
    """Open cases can still have sessions scheduled."""
    return status in (CaseStatus.registered, CaseStatus.accepted, CaseStatus.mediating, CaseStatus.unsettled)


def format_case_number(org_code: str, year: int, seq: int) -> str:
    """Human case number, unique per org and year, e.g. 'HX-DJ-2026-0007'."""
    return f"{org_code}-{year}-{seq:04d}"


# ASCII only: Python's \d would also take Arabic-Indic and other Unicode digits.
_ID_CARD_RE = re.compile(r"^[0-9]{17}[0-9X]$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")
MAX_NAME = 100  # parties.name and parties.agent_name


def _ascii_form(value: str) -> str:
    """Full-width digits, letters and spaces (typed with a Chinese input method) as ASCII."""
    return unicodedata.normalize("NFKC", value).strip()


def normalise_id_number(value: str | None) -> str | None:
    """Mainland resident ID (18 characters, last one digit or X), checked with its checksum."""
    if value is None or not value.strip():
        return None
    v = _ascii_form(value).upper()
    if not _ID_CARD_RE.match(v):
        raise ValidationFailed(
            "ID-card number must be 18 characters: 17 digits and a digit or X", fields={"id_number": "invalid"}
        )
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(v[:17], weights)) % 11]
    if v[17] != check:
        raise ValidationFailed("ID-card number has a wrong check digit", fields={"id_number": "checksum"})
    return v


def normalise_phone(value: str | None, field: str = "phone") -> str | None:
    if value is None or not value.strip():
        return None
    v = _ascii_form(value)
    if not _PHONE_RE.match(v):
        raise ValidationFailed(
            "phone number must be 6-20 digits, optionally with +, spaces or -", fields={field: "invalid"}
        )
    return v


def mask_id_number(value: str | None) -> str | None:
    """Views never show a whole ID number: keep region (first 3) and check digit area (last 4)."""
    if not value:
        return None
    if len(value) < 8:  # too short to keep both ends without showing all of it
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_phone(value: str | None) -> str | None:
    if not value:
        return None
    digits = value.replace(" ", "").replace("-", "")
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "****" + digits[-4:]


@dataclass(frozen=True)
class PartyInput:
    """A party as submitted: validated and normalised on construction."""

    side: PartySide
    name: str
    phone: str | None = None
    id_number: str | None = None
    agent_name: str | None = None
    agent_phone: str | None = None

    def __post_init__(self) -> None:
        name = (self.name or "").strip()
        if not name:
            raise ValidationFailed("party name is required", fields={"name": "required"})
        if len(name) > MAX_NAME:
            raise ValidationFailed(f"party name is at most {MAX_NAME} characters", fields={"name": "too_long"})
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "phone", normalise_phone(self.phone))
        object.__setattr__(self, "id_number", normalise_id_number(self.id_number))
        agent = (self.agent_name or "").strip() or None
        if agent and len(agent) > MAX_NAME:
            raise ValidationFailed(f"agent name is at most {MAX_NAME} characters", fields={"agent_name": "too_long"})
        object.__setattr__(self, "agent_name", agent)
        object.__setattr__(self, "agent_phone", normalise_phone(self.agent_phone, "agent_phone"))
        if self.agent_phone and not agent:
            raise ValidationFailed("an agent phone needs an agent name", fields={"agent_name": "required"})
