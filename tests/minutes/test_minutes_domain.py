"""The minutes' rules, without a database: who writes which section, limits, ids, hashes, diffs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from server.domain import inputs
from server.domain import minutes as rules
from server.domain.errors import Forbidden, ValidationFailed
from server.domain.grants import SessionRole

NOW = datetime(2026, 12, 5, 9, 15, 5, 123456, tzinfo=UTC)
AUTHOR = {"name": "陈敏医生", "actor": "account:expert-1"}


def header() -> dict[str, Any]:
    return {"case_number": "DEMO-QS-2026-0001", "parties": [{"id": "p1", "side": "applicant", "name": "李秀英"}]}


def save(
    current: dict[str, Any], data: dict[str, Any], role: SessionRole | None = SessionRole.mediator
) -> dict[str, Any]:
    ids = (f"n{i}" for i in itertools.count())
    body = inputs.parse(rules.MinutesIn, data, "document")
    return rules.apply_save(current, body, role=role, author=AUTHOR, now=NOW, new_id=lambda: next(ids))


def test_the_empty_document_has_the_header_and_one_blank_row_per_party() -> None:
    doc = rules.empty_document(header())
    assert doc["parties"] == [{"party_id": "p1", "side": "applicant", "name": "李秀英", "claims": "", "facts": ""}]
    assert doc["entries"] == [] and doc["expert_opinion"] == "" and doc["result"] == ""


def test_the_mediator_writes_entries_whose_time_is_kept_to_the_microsecond() -> None:
    doc = save(
        rules.empty_document(header()),
        {"entries": [{"speaker": "王建国", "text": "开始调解", "at": "2026-12-05T17:15:05.000001+08:00"}]},
    )
    assert doc["entries"] == [
        {"id": "n0", "speaker": "王建国", "text": "开始调解", "at": "2026-12-05T09:15:05.000001+00:00"}
    ]


def test_an_entry_without_at_gets_the_time_of_the_save() -> None:
    doc = save(rules.empty_document(header()), {"entries": [{"speaker": "王", "text": "x"}]})
    assert doc["entries"][0]["at"] == "2026-12-05T09:15:05.123456+00:00"


@pytest.mark.parametrize(
    "at", ["2026-12-05T09:15:05", "2026-12-05T09:15:05.1234567+00:00", "yesterday", "2026-13-05T09:15:05Z"]
)
def test_a_time_without_zone_finer_than_microseconds_or_unreal_is_refused(at: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        save(rules.empty_document(header()), {"entries": [{"text": "x", "at": at}]})
    assert "entries.0.at" in (e.value.fields or {})


def test_an_entry_sent_without_its_id_keeps_the_id_of_the_entry_with_the_same_time() -> None:
    first = save(rules.empty_document(header()), {"entries": [{"text": "a", "at": "2026-12-05T09:00:00Z"}]})
    again = save(first, {"entries": [{"text": "a, edited", "at": "2026-12-05T09:00:00Z"}, {"text": "b"}]})
    assert again["entries"][0]["id"] == first["entries"][0]["id"]
    assert again["entries"][1]["id"] != again["entries"][0]["id"]


def test_two_entries_with_one_id_are_refused() -> None:
    with pytest.raises(ValidationFailed) as e:
        save(rules.empty_document(header()), {"entries": [{"id": "a", "text": "1"}, {"id": "a", "text": "2"}]})
    assert e.value.fields == {"entries.1.id": "duplicate"}


def test_the_expert_writes_only_the_expert_opinion_and_the_server_signs_it() -> None:
    doc = save(rules.empty_document(header()), {"expert_opinion": "护理记录完整"}, SessionRole.expert)
    assert doc["expert_opinion"] == "护理记录完整"
    assert doc["expert_opinion_by"] == {**AUTHOR, "at": "2026-12-05T09:15:05.123456+00:00"}
    with pytest.raises(Forbidden) as e:
        save(doc, {"result": "达成协议"}, SessionRole.expert)
    assert e.value.fields == {"result": "not_your_section"}


def test_an_expert_may_send_back_the_sections_they_did_not_change() -> None:
    base = save(
        rules.empty_document(header()),
        {"result": "x", "entries": [{"id": "e", "text": "t", "at": "2026-12-05T09:00:00Z"}]},
    )
    doc = save(
        base, {**{k: base[k] for k in ("result", "entries", "parties")}, "expert_opinion": "意见"}, SessionRole.expert
    )
    assert doc["expert_opinion"] == "意见" and doc["result"] == "x"


def test_the_mediator_and_the_clerk_may_not_write_the_expert_opinion() -> None:
    for role in (SessionRole.mediator, SessionRole.clerk):
        with pytest.raises(Forbidden) as e:
            save(rules.empty_document(header()), {"expert_opinion": "我替专家写"}, role)
        assert e.value.fields == {"expert_opinion": "not_your_section"}


@pytest.mark.parametrize(
    "role", [SessionRole.applicant, SessionRole.respondent, SessionRole.agent, SessionRole.observer, None]
)
def test_parties_observers_and_readers_write_nothing(role: SessionRole | None) -> None:
    with pytest.raises(Forbidden):
        save(rules.empty_document(header()), {"result": "x"}, role)


def test_the_header_sent_back_is_ignored() -> None:
    doc = save(rules.empty_document(header()), {"header": {"case_number": "FORGED"}, "result": "x"})
    assert doc["header"]["case_number"] == "DEMO-QS-2026-0001"


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationFailed) as e:
        save(rules.empty_document(header()), {"reslt": "typo"})
    assert "reslt" in (e.value.fields or {})


def test_a_text_over_ten_thousand_characters_is_refused() -> None:
    with pytest.raises(ValidationFailed) as e:
        save(rules.empty_document(header()), {"result": "字" * (rules.MAX_TEXT + 1)})
    assert "result" in (e.value.fields or {})


def test_more_than_two_thousand_entries_are_refused() -> None:
    with pytest.raises(ValidationFailed) as e:
        save(rules.empty_document(header()), {"entries": [{"text": ""}] * (rules.MAX_ENTRIES + 1)})
    assert "entries" in (e.value.fields or {})


def test_a_document_over_the_size_limit_is_refused_as_too_large() -> None:
    entries = [{"text": "字" * 9000, "speaker": "王"} for _ in range(10)]
    with pytest.raises(rules.TooLarge) as e:
        save(rules.empty_document(header()), {"entries": entries})
    assert e.value.http_status == 413


def test_nul_is_refused_wherever_it_is() -> None:
    with pytest.raises(ValidationFailed) as e:
        save(rules.empty_document(header()), {"entries": [{"text": "a\x00b"}]})
    assert e.value.fields == {"entries.0.text": inputs.NUL_MESSAGE}


def test_the_hash_is_of_the_canonical_json_and_does_not_depend_on_key_order() -> None:
    a = {"result": "结果", "entries": []}
    b = {"entries": [], "result": "结果"}
    assert rules.canonical(a) == '{"entries":[],"result":"结果"}'.encode()
    assert rules.sha256_of(a) == rules.sha256_of(b)


def test_changes_name_the_sections_and_the_entries_by_id() -> None:
    old = {"result": "", "entries": [{"id": "a", "text": "1"}, {"id": "b", "text": "2"}]}
    new = {"result": "r", "entries": [{"id": "a", "text": "1!"}, {"id": "c", "text": "3"}]}
    assert rules.changes(old, new) == {
        "sections": ["entries", "result"],
        "entries": {"added": ["c"], "removed": ["b"], "changed": ["a"]},
    }
    assert rules.changes(old, old)["sections"] == []
