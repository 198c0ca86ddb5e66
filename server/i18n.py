"""Translations: gettext catalogs (web/locale/<lang>/LC_MESSAGES/messages.po) read with Babel.

Message ids are English; Simplified Chinese is the default language. The .po files are
compiled in memory at start, so there is no build step and no stale .mo file.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from server.domain.accounts import StaffRole
from server.domain.cases import CaseSource, CaseStatus, DisputeType, PartySide
from server.domain.grants import SessionRole
from server.domain.orgs import OrgKind, OrgLevel
from server.domain.sessions import SessionStatus

LANGUAGES = {"zh": "zh_Hans_CN", "en": "en"}
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


# Labels of the domain's enums, shown on pages.
LABELS: dict[object, str] = {
    DisputeType.neighbour: N_("Neighbour dispute"),
    DisputeType.family: N_("Marriage and family"),
    DisputeType.land: N_("Land"),
    DisputeType.labour: N_("Labour"),
    DisputeType.medical: N_("Medical"),
    DisputeType.property: N_("Property and tenancy"),
    DisputeType.contract: N_("Contract and debt"),
    DisputeType.traffic: N_("Traffic accident"),
    DisputeType.ip: N_("Intellectual property"),
    DisputeType.finance: N_("Finance and insurance"),
    DisputeType.other: N_("Other"),
    CaseSource.self_applied: N_("Applied by a party"),
    CaseSource.on_site: N_("Found on site"),
    CaseSource.court: N_("Court referral"),
    CaseSource.police: N_("Police referral"),
    CaseSource.petition: N_("Petition office referral"),
    CaseStatus.registered: N_("Registered"),
    CaseStatus.accepted: N_("Accepted"),
    CaseStatus.declined: N_("Declined"),
    CaseStatus.mediating: N_("In mediation"),
    CaseStatus.settled: N_("Settled"),
    CaseStatus.unsettled: N_("Not settled"),
    CaseStatus.withdrawn: N_("Withdrawn"),
    CaseStatus.closed: N_("Closed"),
    PartySide.applicant: N_("Applicant"),
    PartySide.respondent: N_("Respondent"),
    SessionRole.mediator: N_("Mediator"),
    SessionRole.applicant: N_("Applicant"),
    SessionRole.respondent: N_("Respondent"),
    SessionRole.agent: N_("Agent"),
    SessionRole.expert: N_("Expert"),
    SessionRole.observer: N_("Observer"),
    SessionRole.clerk: N_("Clerk"),
    SessionStatus.scheduled: N_("Scheduled"),
    SessionStatus.live: N_("Live"),
    SessionStatus.ended: N_("Ended"),
    StaffRole.admin: N_("Administrator"),
    StaffRole.reviewer: N_("Reviewer"),
    OrgLevel.city: N_("City"),
    OrgLevel.district: N_("District"),
    OrgLevel.town: N_("Town"),
    OrgLevel.village: N_("Village"),
    OrgKind.justice_bureau: N_("Justice bureau"),
    OrgKind.people: N_("People's mediation committee"),
    OrgKind.professional: N_("Professional committee"),
    OrgKind.court: N_("Court-stationed"),
    OrgKind.police: N_("Police-stationed"),
    OrgKind.petition: N_("Petition-office-stationed"),
}
# StaffRole.mediator / expert share their label with the session roles of the same name.
LABELS[StaffRole.mediator] = LABELS[SessionRole.mediator]
LABELS[StaffRole.expert] = LABELS[SessionRole.expert]


def load_catalogs(locale_dir: Path) -> dict[str, NullTranslations]:
    catalogs: dict[str, NullTranslations] = {"en": NullTranslations()}
    for lang, locale in LANGUAGES.items():
        po = locale_dir / lang / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        catalogs[lang] = Translations(buf)
    return catalogs


# The browser code marks its messages with t("…"); `make messages` extracts them with Babel's
# JavaScript extractor into the same catalogs, and the pages hand each browser its language's part.
JS_KEYWORDS = {"t": None}


def js_message_ids(js_dir: Path) -> list[str]:
    """Every message id marked t("…") in the browser modules under `js_dir`."""
    from babel.messages.extract import extract

    ids: set[str] = set()
    for path in sorted(js_dir.rglob("*.js")):
        with path.open("rb") as fh:
            for _lineno, message, _comments, _context in extract("javascript", fh, keywords=JS_KEYWORDS):
                if isinstance(message, str) and message:
                    ids.add(message)
    return sorted(ids)


class JsCatalogs:
    """The browser's share of each catalog: {message id: translation}, built once per language."""

    def __init__(self, js_dir: Path, catalogs: dict[str, NullTranslations]):
        self.js_dir = js_dir
        self.catalogs = catalogs
        self._ids: list[str] | None = None
        self._built: dict[str, dict[str, str]] = {}

    def ids(self) -> list[str]:
        if self._ids is None:
            self._ids = js_message_ids(self.js_dir)
        return self._ids

    def for_language(self, lang: str) -> dict[str, str]:
        if lang not in self._built:
            tr = self.catalogs.get(lang) or self.catalogs["en"]
            # Message ids are English: an English page needs only what differs from the id.
            self._built[lang] = {m: text for m in self.ids() if (text := tr.gettext(m)) != m}
        return self._built[lang]


def pick_language(cookie: str | None, query: str | None, default: str) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return default


# Titles of the error page, by error code; the detail message follows in English.
ERROR_TITLES = {
    "unauthenticated": N_("Please sign in"),
    "forbidden": N_("Not allowed"),
    "not_found": N_("Not found"),
    "invalid_token": N_("This link cannot be used"),
    "rate_limited": N_("Too many attempts"),
    "invalid_input": N_("Some fields are not right"),
    "invalid_transition": N_("Not possible in this status"),
    "conflict": N_("Not possible right now"),
    "payload_too_large": N_("Too much data"),
    "internal_error": N_("Something went wrong on the server"),
    "bad_request": N_("This request cannot be handled"),
    "method_not_allowed": N_("This request cannot be handled"),
    "unsupported_media_type": N_("This request cannot be handled"),
}
INVALID_TOKEN_REASONS = {
    "malformed": N_("This is not a valid invitation link. Check that the whole link was copied."),
    "bad_signature": N_("This invitation link has been altered or was not issued by this server."),
    "expired": N_("This invitation link has expired. Ask the mediator for a new one."),
    "revoked": N_("This invitation has been withdrawn by the mediator."),
    "unknown": N_("This invitation does not exist."),
    "session_ended": N_("This mediation session has ended."),
    # A join cookie that stopped working: the server no longer says which of the above.
    "no_longer_valid": N_(
        "Your invitation can no longer be used: it was withdrawn, it expired or the session "
        "has ended. Ask the mediator for a new link."
    ),
}
# What a form shows for a user error, by (field, code) from the error's `fields`. The field is
# the domain's name for it: a form's per-row prefix ("party2_") is removed before the lookup.
FIELD_ERRORS = {
    ("title", "required"): N_("Enter a title for the case."),
    ("title", "too_long"): N_("The title is too long: at most 200 characters."),
    ("summary", "too_long"): N_("The summary is too long: at most 10,000 characters."),
    ("dispute_type", "required"): N_("Choose the dispute type."),
    ("source", "required"): N_("Choose where the case came from."),
    ("mediator_id", "invalid"): N_("Choose an active mediator."),
    ("parties", "incomplete"): N_("A case needs at least one applicant and one respondent."),
    ("parties", "too_many"): N_("A case has at most 50 parties."),
    ("side", "invalid"): N_("Choose applicant or respondent."),
    ("name", "required"): N_("Enter the party's name."),
    ("name", "too_long"): N_("The name is too long: at most 100 characters."),
    ("phone", "invalid"): N_("A phone number has 6 to 20 digits, optionally with +, spaces or dashes."),
    ("agent_phone", "invalid"): N_("A phone number has 6 to 20 digits, optionally with +, spaces or dashes."),
    ("agent_name", "required"): N_("An agent's phone number needs the agent's name."),
    ("agent_name", "too_long"): N_("The name is too long: at most 100 characters."),
    ("id_number", "invalid"): N_("An ID-card number has 18 characters: 17 digits, then a digit or X."),
    ("id_number", "checksum"): N_("This ID-card number has a wrong check digit: please check it against the card."),
    ("to", "required"): N_("Choose the new status."),
    ("note", "required"): N_(
        "Write a note: declining, withdrawing or ending without settlement needs a reason on file."
    ),
    ("scheduled_at", "invalid"): N_("Enter the date and time of the session."),
    ("scheduled_at", "in_past"): N_("The session time is in the past."),
    ("scheduled_at", "no_timezone"): N_("Enter the date and time of the session."),
    ("role", "required"): N_("Choose a role."),
    ("role", "side_mismatch"): N_("This party is on the other side: choose the role that matches the party."),
    ("party_id", "required"): N_("Choose the party this invitation is for."),
    ("party_id", "not_allowed"): N_("Only applicants, respondents and agents are invited as a party."),
    ("party_id", "not_in_case"): N_("Choose a party of this case."),
    ("account_id", "required"): N_("Choose the mediator's staff account."),
    ("account_id", "invalid"): N_("This staff account cannot take that role."),
    ("display_name", "required"): N_("Choose a party or a staff account, or enter the name shown in the room."),
    ("display_name", "too_long"): N_("The name is too long: at most 100 characters."),
}
