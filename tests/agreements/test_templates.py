"""Agreement templates: every built-in renders, escapes hostile text and prints real Chinese;
an admin's template dropped into the data directory is listed and used; a broken one is
reported without breaking the others."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest

from server.config import Settings, load_settings
from server.domain.errors import ValidationFailed
from server.services import pdf
from server.services.agreement_templates import (
    cn_date,
    cn_number,
    data_dir,
    fill_places,
    load_catalog,
    sample_content,
)
from tests.api.conftest import V1

from .helpers import data_url, png, term

HOSTILE = "<script>alert(1)</script>"
BUILTINS = ("general", "neighbour", "family", "labour", "medical")


@pytest.fixture
def plain_settings(tmp_path: Path) -> Settings:
    return load_settings(env={}, data_dir=str(tmp_path / "data"), secret_key="k" * 40)


def hostile_content() -> dict:
    c = sample_content()
    c["facts"] = c["matters"] = HOSTILE
    c["parties"][0]["name"] = HOSTILE
    c["terms"] = [{**term(obligation=HOSTILE, obligor=HOSTILE, manner=HOSTILE), "number": 1}]
    c["org"]["name"] = HOSTILE + "<!--heshi:seal-->"
    return c


def test_chinese_numbers_and_dates_as_legal_documents_write_them():
    assert [cn_number(n) for n in (1, 9, 10, 12, 20, 31, 99)] == ["一", "九", "十", "十二", "二十", "三十一", "九十九"]
    from datetime import date

    assert cn_date(date(2026, 12, 6)) == "二〇二六年十二月六日"


@pytest.mark.parametrize("template", BUILTINS)
def test_every_builtin_template_escapes_hostile_text_in_html_and_prints_it_as_text(plain_settings, template):
    cat = load_catalog(plain_settings)
    assert cat.problems == ()
    html = cat.render(template, hostile_content())
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Typed text cannot forge a place for a signature or the seal: it was escaped.
    assert html.count("<!--heshi:seal-->") == 1
    filled = fill_places(html, {"party:p1": (data_url(png()), "2026年12月6日")}, data_url(png(60, 60)))
    assert filled.count('<img class="signature"') == 1 and filled.count('<img class="seal"') == 1
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.render_sync(filled))).pages)
    for expected in (
        "人民调解协议书",
        HOSTILE,
        "履行义务人",
        "人民币12000.00元",
        "2026年12月31日前",
        "三十日内",
        "司法确认",
    ):
        assert expected in text, (template, expected)


def test_an_admin_template_in_the_data_dir_is_listed_and_a_broken_one_is_reported(plain_settings):
    folder = data_dir(plain_settings)
    folder.mkdir(parents=True)
    (folder / "tenancy.html").write_text(
        '{# heshi-agreement-template {"id": "tenancy", "name": {"zh": "房屋租赁纠纷调解协议书", "en": "Tenancy"},'
        ' "dispute_types": ["property"]} #}\n{% extends "_base.html" %}\n'
        "{% block special_clauses %}<p>承租人应按期腾退房屋。</p>{% endblock %}",
        encoding="utf-8",
    )

    def head(tid: str, name: str = '{"zh": "甲", "en": "a"}', kinds: str = '"*"') -> str:
        return f'{{# heshi-agreement-template {{"id": "{tid}", "name": {name}, "dispute_types": {kinds}}} #}}'

    broken = {
        "no-header.html": "<p>{{ facts }}</p>",
        "bad-json.html": "{# heshi-agreement-template {id: x} #}",
        "bad-type.html": head("x", kinds='["war"]'),
        "bad-jinja.html": head("y") + "{% if %}",
        "bad-name.html": head("z", name='{"zh": "甲"}'),
        "undefined.html": head("u") + "{{ nothing.here }}",
        "zz-dup.html": head("tenancy"),
    }
    for name, text in broken.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "latin1.html").write_bytes(b"\xff\xfe\x00broken")
    cat = load_catalog(plain_settings)
    ids = [t.id for t in cat.templates]
    assert set(BUILTINS) | {"tenancy"} == set(ids)
    assert {p.file for p in cat.problems} == set(broken) | {"latin1.html"}  # a second "tenancy" too
    assert all(p.source == "data" and p.error for p in cat.problems)
    html = cat.render("tenancy", sample_content())
    assert "承租人应按期腾退房屋" in html
    with pytest.raises(ValidationFailed):
        cat.render("no-header", sample_content())


def test_an_admin_template_with_a_builtin_id_replaces_it(plain_settings):
    folder = data_dir(plain_settings)
    folder.mkdir(parents=True)
    (folder / "mine.html").write_text(
        '{# heshi-agreement-template {"id": "general", "name": {"zh": "本会通用协议书", "en": "Ours"},'
        ' "dispute_types": "*"} #}<h1>本会通用协议书</h1>{{ facts }}',
        encoding="utf-8",
    )
    cat = load_catalog(plain_settings)
    general = cat.get("general")
    assert (general.source, general.name_zh) == ("data", "本会通用协议书")
    assert "本会通用协议书" in cat.render("general", sample_content())


async def test_the_api_lists_and_uses_an_admin_template_and_reports_a_broken_one(mediator, world, core):
    folder = data_dir(core.settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clinic.html").write_text(
        '{# heshi-agreement-template {"id": "clinic", "name": {"zh": "卫生院医疗纠纷调解协议书", "en": "Clinic"},'
        ' "dispute_types": ["medical"]} #}{% extends "_base.html" %}'
        "{% block title %}卫生院医疗纠纷调解协议书{% endblock %}",
        encoding="utf-8",
    )
    (folder / "broken.html").write_text("{# heshi-agreement-template {} #}", encoding="utf-8")
    out = await mediator.ok("GET", f"{V1}/agreement-templates")
    assert "clinic" in [t["id"] for t in out["templates"]]
    assert [p["file"] for p in out["problems"]] == ["broken.html"] and "id" in out["problems"][0]["error"]
    made = await mediator.ok(
        "POST", f"{V1}/cases/{world.demo.case_id}/agreements", {"template": "clinic", "terms": [term()]}, status=201
    )
    html = await (await mediator.get(made["preview_url"])).text()
    assert "<title>卫生院医疗纠纷调解协议书</title>" in html and "清水镇卫生院" in html
