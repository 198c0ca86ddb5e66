"""Agreement templates: Jinja2 files an admin can add without touching code.

Built-in templates live in `<web dir>/templates/agreements/`; an admin drops more into
`<HESHI_DATA_DIR>/agreement-templates/`. A template is one `*.html` file that starts with a
Jinja comment holding JSON:

    {# heshi-agreement-template
       {"id": "neighbour", "name": {"zh": "邻里纠纷人民调解协议书", "en": "Neighbour dispute agreement"},
        "dispute_types": ["neighbour"]} #}

`dispute_types` is a list of `server.domain.cases.DisputeType` values, or "*" for every
type. Files whose names start with `_` are partials (`_base.html`, which templates extend)
and are not listed. A data-dir template with the id of a built-in one replaces it. A broken
file (no header, bad JSON, bad fields, a Jinja error, or one that fails on sample content) is
reported in `Catalog.problems` and never listed, so it cannot break the others.

Templates render with autoescape on, in Jinja's sandbox, with undefined names an error. A
template marks where signatures and the seal go with `signature_place(signer)` and
`seal_place()`: HTML comments the stored text keeps, and that `fill_places` swaps for the
images when the PDF is made (a value anyone typed is escaped, so it can never forge one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from server.config import Settings
from server.domain.cases import DisputeType
from server.domain.errors import ValidationFailed

HEADER_RE = re.compile(r"^\ufeff?\s*\{#\s*heshi-agreement-template\s(.*?)#\}", re.DOTALL)
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SIGNER_RE = re.compile(r"^(party|account):[A-Za-z0-9-]{1,36}$")
PLACE_RE = re.compile(r"<!--heshi:(signature (?:party|account):[A-Za-z0-9-]{1,36}|seal)-->")
DATA_SUBDIR = "agreement-templates"

DISPUTE_TYPE_ZH = {
    "neighbour": "邻里纠纷",
    "family": "婚姻家庭纠纷",
    "land": "土地纠纷",
    "labour": "劳动争议",
    "medical": "医疗纠纷",
    "property": "物业、房屋租赁纠纷",
    "contract": "合同、债务纠纷",
    "traffic": "交通事故纠纷",
    "ip": "知识产权纠纷",
    "finance": "金融保险纠纷",
    "other": "其他纠纷",
}
SIDE_ZH = {"applicant": "申请人", "respondent": "被申请人"}
_DIGITS = "〇一二三四五六七八九"


def cn_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 99 → 九十九 (terms are numbered this way)."""
    if n <= 0 or n >= 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones else "")


def cn_date(d: date) -> str:
    """A date as Chinese legal documents write it: 二〇二六年十二月六日."""
    return "".join(_DIGITS[int(c)] for c in str(d.year)) + f"年{cn_number(d.month)}月{cn_number(d.day)}日"


def date_zh(iso: str) -> str:
    """2026-12-31 → 2026年12月31日; "" stays ""."""
    if not iso:
        return ""
    d = date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def signature_place(signer: str) -> Markup:
    """Where `signer`'s signature goes (an HTML comment; see fill_places)."""
    if not isinstance(signer, str) or not SIGNER_RE.match(signer):
        raise ValueError(f"not a signer: {signer!r}")
    return Markup(f"<!--heshi:signature {signer}-->")


def seal_place() -> Markup:
    """Where the org's seal goes."""
    return Markup("<!--heshi:seal-->")


@dataclass(frozen=True)
class TemplateInfo:
    id: str
    name_zh: str
    name_en: str
    dispute_types: tuple[str, ...]
    source: str  # builtin | data
    file: str  # the file's name, for admins

    def fits(self, dispute_type: str) -> bool:
        return dispute_type in self.dispute_types


@dataclass(frozen=True)
class TemplateProblem:
    file: str
    source: str
    error: str


@dataclass(frozen=True)
class Catalog:
    """The templates that can be used, and the files that could not be read as templates."""

    templates: tuple[TemplateInfo, ...]
    problems: tuple[TemplateProblem, ...]
    env: jinja2.Environment

    def get(self, template_id: str) -> TemplateInfo:
        for t in self.templates:
            if t.id == template_id:
                return t
        raise ValidationFailed(f"template: no agreement template '{template_id}'", fields={"template": "unknown"})

    def render(self, template_id: str, content: Mapping[str, Any]) -> str:
        """The HTML of `content` in a template; ValidationFailed when the template fails on it."""
        info = self.get(template_id)
        try:
            return self.env.get_template(_key(info)).render(**content)
        except jinja2.TemplateError as exc:
            raise ValidationFailed(
                f"template: '{template_id}' ({info.file}) failed: {exc}", fields={"template": "broken"}
            ) from None


def builtin_dir(settings: Settings) -> Path:
    return settings.web_dir / "templates" / "agreements"


def data_dir(settings: Settings) -> Path:
    return settings.data_dir / DATA_SUBDIR


def _key(info: TemplateInfo) -> str:
    """The loader name of a template: data-dir files are looked up before built-in ones."""
    return f"{info.source}/{info.file}"


def _environment(settings: Settings) -> jinja2.Environment:
    builtin, data = builtin_dir(settings), data_dir(settings)
    loader = jinja2.PrefixLoader(
        {
            "builtin": jinja2.FileSystemLoader(str(builtin)),
            "data": jinja2.FileSystemLoader(str(data)),
        }
    )
    # Partials (`{% extends "_base.html" %}`) come from the data dir first, then the built-ins.
    partials = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(data)), jinja2.FileSystemLoader(str(builtin))])
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.ChoiceLoader([loader, partials]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(signature_place=signature_place, seal_place=seal_place)
    env.filters.update(cn_number=cn_number, date_zh=date_zh)
    return env


def _header(text: str) -> dict[str, Any]:
    match = HEADER_RE.match(text)
    if match is None:
        raise ValueError("no '{# heshi-agreement-template {...} #}' header at the start of the file")
    try:
        head = json.loads(match.group(1))
    except ValueError as exc:
        raise ValueError(f"the header is not valid JSON: {exc}") from None
    if not isinstance(head, dict):
        raise ValueError("the header must be a JSON object")
    return head


def _info(head: dict[str, Any], source: str, file: str) -> TemplateInfo:
    tid = head.get("id")
    if not isinstance(tid, str) or not ID_RE.match(tid):
        raise ValueError("'id' must be 1-64 characters of a-z, 0-9, '-' and '_'")
    name = head.get("name")
    if not isinstance(name, dict) or not all(isinstance(name.get(k), str) and name[k].strip() for k in ("zh", "en")):
        raise ValueError("'name' must be an object with a Chinese ('zh') and an English ('en') name")
    kinds = head.get("dispute_types")
    every = [t.value for t in DisputeType]
    if kinds == "*":
        kinds = every
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        raise ValueError(f"'dispute_types' must be \"*\" or a list of: {', '.join(every)}")
    unknown = [k for k in kinds if k not in every]
    if unknown:
        raise ValueError(f"unknown dispute types {unknown}; known: {', '.join(every)}")
    return TemplateInfo(tid, name["zh"].strip(), name["en"].strip(), tuple(kinds), source, file)


def sample_content() -> dict[str, Any]:
    """Content every template must render without error (checked when the catalog is read)."""
    parties = [
        {
            "id": "p1",
            "side": "applicant",
            "side_zh": "申请人",
            "name": "甲",
            "id_number": None,
            "phone": None,
            "agent_name": None,
            "signer": "party:p1",
        },
        {
            "id": "p2",
            "side": "respondent",
            "side_zh": "被申请人",
            "name": "乙",
            "id_number": "110***********002X",
            "phone": "139****5678",
            "agent_name": "丙",
            "signer": "party:p2",
        },
    ]
    return {
        "template": "sample",
        "version": 1,
        "case": {
            "id": "c",
            "number": "X-2026-0001",
            "title": "样例",
            "dispute_type": "other",
            "dispute_type_zh": "其他",
        },
        "org": {"id": "o", "name": "样例人民调解委员会"},
        "mediator": {"id": "m", "name": "调解员", "signer": "account:m"},
        "parties": parties,
        "applicants": parties[:1],
        "respondents": parties[1:],
        "facts": "事实",
        "matters": "争议",
        "terms": [
            {
                "number": 1,
                "obligation": "支付",
                "obligor": "乙",
                "amount": "100.00",
                "deadline": "2026-12-31",
                "manner": "转账",
            }
        ],
        "signers": [],
        "copies": 3,
        "date": "2026-12-06",
        "date_cn": "二〇二六年十二月六日",
    }


def load_catalog(settings: Settings) -> Catalog:
    """Read the built-in and the admin's templates; report each file that cannot be used."""
    env = _environment(settings)
    found: dict[str, TemplateInfo] = {}
    problems: list[TemplateProblem] = []
    sample = sample_content()
    for source, folder in (("builtin", builtin_dir(settings)), ("data", data_dir(settings))):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.html")):
            if path.name.startswith("_"):
                continue
            try:
                info = _info(_header(path.read_text(encoding="utf-8")), source, path.name)
                if source == "data" and info.id in found and found[info.id].source == "data":
                    raise ValueError(f"id '{info.id}' is already used by {found[info.id].file}")
                env.get_template(_key(info)).render(**sample)
            except (OSError, UnicodeDecodeError, ValueError, jinja2.TemplateError) as exc:
                problems.append(TemplateProblem(path.name, source, f"{type(exc).__name__}: {exc}"))
                continue
            found[info.id] = info  # a data-dir template replaces the built-in of the same id
    ordered = sorted(found.values(), key=lambda t: (t.id != "general", t.id))
    return Catalog(tuple(ordered), tuple(problems), env)


def fill_places(html: str, signatures: Mapping[str, tuple[str, str]], seal_data_url: str | None) -> str:
    """The stored HTML with its signature places holding the signatures (signer → (PNG data
    URL, date text)) and its seal place holding the seal. Places without one stay empty."""

    def fill(match: re.Match[str]) -> str:
        what = match.group(1)
        if what == "seal":
            return f'<img class="seal" src="{seal_data_url}" alt="">' if seal_data_url else ""
        signer = what.split(" ", 1)[1]
        if signer not in signatures:
            return ""
        url, when = signatures[signer]
        return f'<img class="signature" src="{url}" alt=""><span class="signed-at">{when}</span>'

    return PLACE_RE.sub(fill, html)
