"""Every message the pages can show has a Chinese translation, and every label it needs exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from server.domain.accounts import StaffRole
from server.domain.cases import CaseSource, CaseStatus, DisputeType, PartySide
from server.domain.grants import SessionRole
from server.domain.orgs import OrgKind, OrgLevel
from server.domain.sessions import SessionStatus
from server.http.errors import HTTP_CODES
from server.i18n import ERROR_TITLES, INVALID_TOKEN_REASONS, JS_KEYWORDS, LABELS, JsCatalogs, load_catalogs

ROOT = Path(__file__).resolve().parents[2]
ZH_PO = ROOT / "web" / "locale" / "zh" / "LC_MESSAGES" / "messages.po"


def _extracted() -> dict[str, set[str]]:
    """Message ids in the sources, as `make messages` extracts them (babel.cfg, keywords N_ and t)."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(ROOT / "babel.cfg"))
    found: dict[str, set[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords={**DEFAULT_KEYWORDS, **JS_KEYWORDS, "N_": None}
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            found.setdefault(msgid, set()).add(filename)
    return found


@pytest.fixture(scope="module")
def extracted() -> dict[str, set[str]]:
    return _extracted()


@pytest.fixture(scope="module")
def zh() -> Catalog:
    with ZH_PO.open("rb") as fh:
        return read_po(fh, locale="zh_Hans_CN")


def test_extraction_finds_messages_in_templates_python_and_browser_code(extracted):
    files = {f for names in extracted.values() for f in names}
    assert any(f.startswith("web/templates/") for f in files)
    assert any(f.startswith("server/") and f.endswith(".py") for f in files)
    assert any(f.startswith("web/static/js/") and f.endswith(".js") for f in files)
    assert "Unmute" in extracted  # a t() in web/static/js/room/view.js
    assert "Staff sign-in" in extracted  # a template
    assert "Neighbour dispute" in extracted  # an N_() label in server/i18n.py
    assert "%(num)d case" in extracted  # an ngettext


def test_every_message_has_a_chinese_translation(extracted, zh):
    missing = []
    for msgid, files in sorted(extracted.items()):
        message = zh.get(msgid)
        strings = (
            () if message is None else (message.string if isinstance(message.string, tuple) else (message.string,))
        )
        if message is None or not strings or not all(s.strip() for s in strings) or message.fuzzy:
            missing.append(f"{msgid!r} (in {', '.join(sorted(files))})")
    assert not missing, (
        "untranslated in web/locale/zh/LC_MESSAGES/messages.po (run `make messages`, then "
        "translate):\n" + "\n".join(missing)
    )


def test_chinese_translations_keep_their_placeholders(zh):
    problems = [f"{m.id!r}: {err}" for m, errors in zh.check() for err in errors]
    assert not problems, "\n".join(problems)


def test_every_enum_value_shown_on_a_page_has_a_label():
    for enum in (
        DisputeType,
        CaseSource,
        CaseStatus,
        PartySide,
        SessionRole,
        SessionStatus,
        StaffRole,
        OrgLevel,
        OrgKind,
    ):
        unlabelled = [m for m in enum if m not in LABELS]
        assert not unlabelled, f"{enum.__name__} members without a label in server/i18n.py: {unlabelled}"


def test_every_error_code_a_page_can_show_has_a_title():
    from server.domain import errors

    codes = {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.DomainError)}
    codes |= set(HTTP_CODES.values()) | {"internal_error"}
    untitled = sorted(codes - set(ERROR_TITLES))
    assert not untitled, f"error codes without a title in server/i18n.py ERROR_TITLES: {untitled}"


def test_every_refusal_reason_of_a_join_link_has_an_explanation():
    import inspect

    from server.auth import tokens
    from server.services import invitations

    source = inspect.getsource(tokens) + inspect.getsource(invitations)
    reasons = {part.split('"', 2)[1] for part in source.split("InvalidToken(")[1:]}
    assert reasons, "no InvalidToken reasons found"
    assert reasons <= set(INVALID_TOKEN_REASONS), reasons - set(INVALID_TOKEN_REASONS)


def test_the_browser_gets_every_message_of_its_code_in_chinese(extracted):
    """The catalog a room page embeds (and /i18n/zh.json serves) holds every t() of web/static/js."""
    js = {m for m, files in extracted.items() if any(f.startswith("web/static/js/") for f in files)}
    catalogs = JsCatalogs(ROOT / "web" / "static" / "js", load_catalogs(ROOT / "web" / "locale"))
    assert set(catalogs.ids()) == js
    zh = catalogs.for_language("zh")
    assert set(zh) == js, sorted(js - set(zh))
    assert zh["Unmute"] == "解除静音"
    assert catalogs.for_language("en") == {}  # message ids are English
