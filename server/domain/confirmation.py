"""Judicial confirmation (司法确认): the 30 days, the signed delivery, its retries, the package.

**The 30 days.** 人民调解法 Art. 33: the parties may jointly apply to a people's court for
judicial confirmation within 30 days from the day the agreement takes effect. Heshi takes the
agreement to take effect when its version is locked (every required signer has signed). Days
are counted as the law counts periods (民法典 Art. 201): the day it takes effect is not
counted, the 30 days start the next day, and the last one ends at midnight, Beijing time.

**The delivery.** The package (a ZIP) is POSTed to the court endpoint configured for the org,
with these headers, so that the receiver can check who sent it and drop a repeat:

- `X-Heshi-Delivery`: the confirmation request's id. Every attempt of one request carries the
  same id; a receiver that has already accepted it answers 2xx again and stores nothing new.
- `X-Heshi-Timestamp`: the Unix time of this attempt, in whole seconds.
- `X-Heshi-Signature`: `sha256=` and the lowercase hex HMAC-SHA256, keyed with the org's
  shared court secret (UTF-8), of `<timestamp>.` followed by the body's exact bytes.
- `X-Heshi-Attempt`: the attempt's number (1, 2, …), for the receiver's logs.

**Retries.** A connection error, a timeout, a 5xx, a 408 or a 429 is tried again after 5 s,
10 s, 20 s … at most 10 minutes apart, until 48 hours have passed since the request was queued
(or queued again by hand); then it has failed. Any other 4xx fails at once: the court refused
this package, and sending it again would not change that. A failed request can be queued again.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from .access import CaseScope, Principal, PrincipalKind, can_manage_case, can_view_case
from .accounts import StaffRole
from .clock import LOCAL_TZ, wire_time
from .orgs import in_subtree

# ---- the 30 days -------------------------------------------------------------------------------

CONFIRMATION_DAYS = 30


@dataclass(frozen=True)
class Window:
    """The time the parties have to apply for judicial confirmation of one locked version."""

    took_effect: datetime  # when the version was locked
    last_day: date  # the 30th day, Beijing time; the window closes at the end of it
    days_left: int  # of the 30, counting today; 0 once the last day has passed
    expired: bool

    @property
    def closes_at(self) -> datetime:
        """The end of the last day (midnight Beijing time), as an aware datetime."""
        return datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)


def window(took_effect: datetime, now: datetime) -> Window:
    """The 30-day window of an agreement that took effect at `took_effect`, as seen at `now`."""
    start = took_effect.astimezone(LOCAL_TZ).date()
    last_day = start + timedelta(days=CONFIRMATION_DAYS)  # the effective day itself is not counted
    today = now.astimezone(LOCAL_TZ).date()
    left = min(CONFIRMATION_DAYS, (last_day - today).days + 1)
    return Window(took_effect, last_day, max(0, left), today > last_day)


# ---- the signature -----------------------------------------------------------------------------

DELIVERY_HEADER = "X-Heshi-Delivery"
TIMESTAMP_HEADER = "X-Heshi-Timestamp"
SIGNATURE_HEADER = "X-Heshi-Signature"
ATTEMPT_HEADER = "X-Heshi-Attempt"
PACKAGE_TYPE = "application/zip"
SIGNATURE_PREFIX = "sha256="
# How far a receiver should let the timestamp be from its own clock (a replay window).
TIMESTAMP_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 keyed with `secret` over `<timestamp>.<body>`."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def delivery_headers(secret: str, delivery_id: str, attempt: int, body: bytes, now: datetime) -> dict[str, str]:
    """The headers of one attempt to deliver `body`."""
    timestamp = int(now.timestamp())
    return {
        "Content-Type": PACKAGE_TYPE,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        ATTEMPT_HEADER: str(attempt),
    }


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    *,
    tolerance_seconds: int = TIMESTAMP_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the signature matches this body and secret, and the timestamp is
    within `tolerance_seconds` of `now`. Compared in constant time."""
    raw_timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not raw_timestamp.isdigit() or not given.startswith(SIGNATURE_PREFIX):
        return False
    timestamp = int(raw_timestamp)
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given)


# ---- retries ----------------------------------------------------------------------------------

FIRST_RETRY = timedelta(seconds=5)
MAX_RETRY = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=48)


class RequestStatus(enum.StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class Outcome(enum.StrEnum):
    """What one attempt's answer means."""

    delivered = "delivered"
    retry = "retry"  # the receiver or the way to it is not working now
    refused = "refused"  # the receiver refused this package; sending it again will not help


def outcome_of(status: int | None) -> Outcome:
    """The meaning of an HTTP status; None means there was no answer (connection error, timeout)."""
    if status is None or status >= 500 or status in (408, 429):
        return Outcome.retry
    if 200 <= status < 300:
        return Outcome.delivered
    return Outcome.refused  # other 4xx, and 1xx/3xx a court endpoint has no business answering


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 5 s, 10 s, 20 s, … at most 10 minutes."""
    if attempts < 1:
        return timedelta(0)
    factor: int = 2 ** min(attempts - 1, 20)
    return min(MAX_RETRY, FIRST_RETRY * factor)


@dataclass(frozen=True)
class NextStep:
    status: RequestStatus
    next_attempt_at: datetime | None  # for a retry


def after_attempt(
    outcome: Outcome, attempts: int, queued_at: datetime, now: datetime, retry_after: timedelta | None = None
) -> NextStep:
    """What follows an attempt (`attempts` counts it) of a request queued at `queued_at`.
    `retry_after` is the receiver's Retry-After, honoured up to the longest wait."""
    if outcome is Outcome.delivered:
        return NextStep(RequestStatus.delivered, None)
    if outcome is Outcome.refused:
        return NextStep(RequestStatus.failed, None)
    delay = retry_delay(attempts)
    if retry_after is not None:
        delay = min(MAX_RETRY, max(delay, retry_after))
    at = now + delay
    if at > queued_at + GIVE_UP_AFTER:
        return NextStep(RequestStatus.failed, None)
    return NextStep(RequestStatus.pending, at)


# ---- the package -------------------------------------------------------------------------------

MANIFEST_FORMAT = "heshi.judicial-confirmation/1"
MANIFEST_NAME = "manifest.json"


class FileKind(enum.StrEnum):
    manifest = "manifest"  # manifest.json itself (not listed in it)
    application = "application"  # 司法确认申请书
    agreement = "agreement"  # 调解协议书
    minutes = "minutes"  # 调解笔录
    signatures = "signatures"  # the signature records
    signature_image = "signature_image"  # one drawn signature


@dataclass(frozen=True)
class PackageFile:
    name: str  # path inside the ZIP
    kind: FileKind
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def manifest(
    files: list[PackageFile],
    *,
    request_id: str,
    created_at: datetime,
    case: Mapping[str, Any],
    agreement: Mapping[str, Any],
    minutes: Mapping[str, Any] | None = None,
) -> bytes:
    """`manifest.json`: what the package is, and every other file with its SHA-256 and size.
    `agreement` names the version and its `version_sha256` (of the exact text signed); `minutes`
    the revision of the session's minutes and its SHA-256, when they are in the package."""
    names = [f.name for f in files]
    if MANIFEST_NAME in names or len(set(names)) != len(names):
        raise ValueError("package file names must be unique and not the manifest's")
    doc = {
        "format": MANIFEST_FORMAT,
        "request_id": request_id,
        "created_at": wire_time(created_at),
        "case": dict(case),
        "agreement": dict(agreement),
        "minutes": dict(minutes) if minutes is not None else None,
        "files": [{"name": f.name, "kind": f.kind.value, "sha256": f.sha256, "bytes": len(f.data)} for f in files],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def check_package(files: Mapping[str, bytes]) -> list[str]:
    """What a receiver can check offline: the problems with a package's files (by name, as read
    from the ZIP) against its manifest; an empty list when every file is there and matches."""
    raw = files.get(MANIFEST_NAME)
    if raw is None:
        return [f"{MANIFEST_NAME} is missing"]
    try:
        doc = json.loads(raw)
        listed = {str(f["name"]): (str(f["sha256"]), int(f["bytes"])) for f in doc["files"]}
    except (ValueError, KeyError, TypeError):
        return [f"{MANIFEST_NAME} is not a manifest"]
    problems = []
    for name, (sha, size) in sorted(listed.items()):
        data = files.get(name)
        if data is None:
            problems.append(f"{name}: missing")
        elif len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            problems.append(f"{name}: does not match the manifest")
    problems += [f"{name}: not in the manifest" for name in sorted(set(files) - set(listed) - {MANIFEST_NAME})]
    return problems


# ---- who -------------------------------------------------------------------------------------


def can_request_confirmation(p: Principal, c: CaseScope) -> bool:
    """The case's mediators (and admins) put the package together and send it."""
    return can_manage_case(p, c)


def can_list_confirmations(p: Principal, c: CaseScope) -> bool:
    """Staff who may view the case see whether the package went out, and the days left."""
    return p.kind is PrincipalKind.staff and can_view_case(p, c)


def can_read_package(p: Principal, c: CaseScope) -> bool:
    """The package itself carries the parties' unmasked identities and their drawn signatures:
    the readers of the case log's agreement part (its mediators, reviewers over its org, admins),
    not an expert invited to one session."""
    if p.kind is not PrincipalKind.staff or not can_view_case(p, c):
        return False
    if p.staff_role is StaffRole.reviewer:
        return p.org_path is not None and in_subtree(c.org_path, p.org_path)
    return can_manage_case(p, c)
