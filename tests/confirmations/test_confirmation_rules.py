"""The pure rules of judicial confirmation: the 30 days, the signature, the retries, the manifest."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from server.domain.confirmation import (
    GIVE_UP_AFTER,
    MANIFEST_NAME,
    FileKind,
    Outcome,
    PackageFile,
    RequestStatus,
    after_attempt,
    check_package,
    delivery_headers,
    manifest,
    outcome_of,
    retry_delay,
    signature,
    verify_signature,
    window,
)

# 2026-12-01 10:00 in Beijing
LOCKED = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_the_30_days_start_the_day_after_the_agreement_takes_effect_and_end_at_midnight_beijing_time() -> None:
    w = window(LOCKED, LOCKED)
    assert w.last_day == date(2026, 12, 31)
    assert w.days_left == 30 and not w.expired
    assert w.closes_at == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 1 January 00:00 in Beijing


def test_the_days_left_count_down_to_one_on_the_last_day_then_it_has_expired() -> None:
    assert window(LOCKED, LOCKED + timedelta(days=1)).days_left == 30  # 2 December: the first of the 30
    assert window(LOCKED, LOCKED + timedelta(days=2)).days_left == 29
    last = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 on 31 December in Beijing
    assert window(LOCKED, last).days_left == 1 and not window(LOCKED, last).expired
    after = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # midnight in Beijing
    assert window(LOCKED, after).days_left == 0 and window(LOCKED, after).expired


def test_the_day_it_takes_effect_is_beijings_day_not_utcs() -> None:
    # 1 December 23:30 UTC is already 2 December in Beijing
    assert window(datetime(2026, 12, 1, 23, 30, tzinfo=UTC), LOCKED).last_day == date(2027, 1, 1)


def test_the_signature_is_hmac_sha256_over_the_timestamp_a_dot_and_the_body() -> None:
    body = "包裹".encode() + b"\x00\xff"
    expected = hmac.new(b"secret", b"1764554400." + body, hashlib.sha256).hexdigest()
    assert signature("secret", 1764554400, body) == "sha256=" + expected


def test_every_attempt_carries_the_delivery_id_timestamp_signature_and_attempt_number() -> None:
    h = delivery_headers("secret", "req-1", 3, b"zip", LOCKED)
    assert h["X-Heshi-Delivery"] == "req-1"
    assert h["X-Heshi-Timestamp"] == str(int(LOCKED.timestamp()))
    assert h["X-Heshi-Attempt"] == "3"
    assert h["Content-Type"] == "application/zip"
    assert verify_signature("secret", h, b"zip", LOCKED)


@pytest.mark.parametrize(
    "why, secret, body, at",
    [
        ("another secret", "other", b"zip", LOCKED),
        ("another body", "secret", b"zap", LOCKED),
        ("replayed ten minutes later", "secret", b"zip", LOCKED + timedelta(minutes=10)),
    ],
)
def test_a_receiver_refuses_what_does_not_verify(why: str, secret: str, body: bytes, at: datetime) -> None:
    assert not verify_signature(secret, delivery_headers("secret", "req-1", 1, b"zip", LOCKED), body, at), why


def test_answers_mean_delivered_retry_or_refused() -> None:
    assert outcome_of(200) is Outcome.delivered and outcome_of(202) is Outcome.delivered
    for status in (None, 500, 502, 503, 408, 429):
        assert outcome_of(status) is Outcome.retry, status
    for status in (400, 401, 403, 404, 409, 413, 422):
        assert outcome_of(status) is Outcome.refused, status


def test_retries_wait_5_10_20_seconds_and_so_on_at_most_ten_minutes() -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 10)] == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert retry_delay(10_000) == timedelta(minutes=10)


def test_after_48_hours_of_retries_the_request_has_failed() -> None:
    queued = LOCKED
    step = after_attempt(Outcome.retry, 3, queued, queued + timedelta(minutes=1))
    assert step == type(step)(RequestStatus.pending, queued + timedelta(minutes=1, seconds=20))
    late = queued + GIVE_UP_AFTER - timedelta(minutes=1)
    assert after_attempt(Outcome.retry, 300, queued, late).status is RequestStatus.failed
    assert after_attempt(Outcome.refused, 1, queued, queued).status is RequestStatus.failed
    assert after_attempt(Outcome.delivered, 7, queued, late).status is RequestStatus.delivered


def test_a_receivers_retry_after_is_honoured_up_to_ten_minutes() -> None:
    step = after_attempt(Outcome.retry, 1, LOCKED, LOCKED, retry_after=timedelta(seconds=90))
    assert step.next_attempt_at == LOCKED + timedelta(seconds=90)
    step = after_attempt(Outcome.retry, 1, LOCKED, LOCKED, retry_after=timedelta(days=1))
    assert step.next_attempt_at == LOCKED + timedelta(minutes=10)


def test_the_manifest_lists_every_file_with_its_sha256_and_a_receiver_can_check_them() -> None:
    files = [
        PackageFile("application.pdf", FileKind.application, b"%PDF-a"),
        PackageFile("x.png", FileKind.signature_image, b"png"),
    ]
    head = manifest(
        files, request_id="r", created_at=LOCKED, case={"number": "N-1"}, agreement={"version_sha256": "ab" * 32}
    )
    doc = json.loads(head)
    assert doc["format"] == "heshi.judicial-confirmation/1"
    assert doc["agreement"]["version_sha256"] == "ab" * 32
    assert doc["files"][0] == {
        "name": "application.pdf",
        "kind": "application",
        "sha256": hashlib.sha256(b"%PDF-a").hexdigest(),
        "bytes": 6,
    }
    package = {MANIFEST_NAME: head, "application.pdf": b"%PDF-a", "x.png": b"png"}
    assert check_package(package) == []
    assert check_package({**package, "x.png": b"pnG"}) == ["x.png: does not match the manifest"]
    assert check_package({**package, "extra.txt": b""}) == ["extra.txt: not in the manifest"]
    assert check_package({k: v for k, v in package.items() if k != "x.png"}) == ["x.png: missing"]
