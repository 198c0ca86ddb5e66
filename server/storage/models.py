"""The SQL schema. Changing it means writing an Alembic migration (storage/migrations)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite has no time zones of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024), index=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    level: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The org's seal (公章) as a PNG, printed on its agreements; none until an admin sets one.
    seal_png: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # Where this org's judicial-confirmation packages go (its court's endpoint), and the
    # shared secret their HMAC-SHA256 signature is made with.
    court_endpoint: Mapped[str | None] = mapped_column(String(500))
    court_secret: Mapped[str | None] = mapped_column(String(200))
    # The court's name as the application for judicial confirmation addresses it (none: the
    # application says 有管辖权的人民法院, "the people's court with jurisdiction").
    court_name: Mapped[str | None] = mapped_column(String(100))
    # How long this org keeps recordings, in days after the session ended (None: kept until an
    # admin says otherwise). A case on legal hold keeps them regardless.
    recording_retention_days: Mapped[int | None] = mapped_column(Integer)
    # Whether the parties of this org's cases may watch their sessions' recordings (default no).
    parties_see_recordings: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(48), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    org: Mapped[Org] = relationship(lazy="joined")


class CaseNumberCounter(Base):
    """Next case sequence per org and year; the unique case number is allocated from it."""

    __tablename__ = "case_number_counters"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("org_id", "year", "seq", name="uq_cases_org_year_seq"),
        Index("ix_cases_org_status", "org_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    dispute_type: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    mediator_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # On legal hold, nothing of the case is deleted by retention (the case log says who set it, and why).
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    org: Mapped[Org] = relationship(lazy="joined")
    mediator: Mapped[Account | None] = relationship(lazy="joined", foreign_keys=[mediator_id])
    parties: Mapped[list[Party]] = relationship(lazy="selectin", order_by="Party.position", back_populates="case")


class Party(Base):
    __tablename__ = "parties"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    id_number: Mapped[str | None] = mapped_column(String(18))
    agent_name: Mapped[str | None] = mapped_column(String(100))
    agent_phone: Mapped[str | None] = mapped_column(String(32))

    case: Mapped[Case] = relationship(back_populates="parties")


class MediationSession(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str | None] = mapped_column(String(200))  # where people met; None: online


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str | None] = mapped_column(ForeignKey("parties.id"))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(100))
    direct_entry: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser: a staff account, or the holder of one invitation.

    The cookie carries a random token; only its SHA-256 is stored, so a database leak does
    not hand out live sessions.
    """

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    invitation_id: Mapped[str | None] = mapped_column(ForeignKey("invitations.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginFailure(Base):
    """Sign-in tries counted per throttling key, shared by every node (services/signin.py).

    The key is 'pair:<username>|<address>', 'addr:<address>' or 'user:<username>'. A try is
    counted before its password is checked, and a success takes its count back, so `hits` is
    the failures (and tries still being checked) since the key was last quiet for a window.
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseEvent(Base):
    """The case's append-only, hash-chained event log (DESIGN.md, "Evidence integrity").

    Each entry's hash covers its content and the previous entry's hash, so any edit or
    deletion breaks the chain from that point on.
    """

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[str | None] = mapped_column(String(36), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ChatMessage(Base):
    """A chat message of a live session, written before it is acknowledged.

    (session_id, sender_pid, client_id) is unique, so a client's retry never duplicates.
    """

    __tablename__ = "chat_messages"
    __table_args__ = (
        UniqueConstraint("session_id", "sender_pid", "client_id", name="uq_chat_messages_client"),
        Index("ix_chat_messages_session_at", "session_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    sender_pid: Mapped[str] = mapped_column(String(64))
    sender_name: Mapped[str] = mapped_column(String(100))
    sender_role: Mapped[str] = mapped_column(String(16))
    recipient_pid: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Recording(Base):
    """One run of server-side recording in a session, from the mediator's start to its stop.

    `status`: active → stopped, or active → interrupted (the server went down while it ran;
    it resumes as a new run when people reconnect). The composite download is made after
    the session by a background job; its progress lives here for the case page.
    """

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_session_status", "session_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    status: Mapped[str] = mapped_column(String(16))
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stop_reason: Mapped[str | None] = mapped_column(String(200))
    # The node process (`nodes.id`) whose room runs this recording: when that process is gone
    # (a restart of the same node, or a node that stopped answering), the run is interrupted.
    node_id: Mapped[str | None] = mapped_column(String(36), index=True)


class Node(Base):
    """One running server process. A node writes `seen_at` while it lives; a node whose
    `seen_at` is old, or whose `name` a newer process took (a restart), is dead."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RecordingConsent(Base):
    """A participant's answer to "may this session be recorded?", with time and person."""

    __tablename__ = "recording_consents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    pid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    invitation_id: Mapped[str | None] = mapped_column(String(36))
    account_id: Mapped[str | None] = mapped_column(String(36))
    decision: Mapped[str] = mapped_column(String(16))  # granted | refused
    language: Mapped[str] = mapped_column(String(8))  # the language the prompt was shown in
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecordingSegment(Base):
    """A finished segment file of one participant's track, with its SHA-256.

    `path` is relative to the data directory. `first_wallclock` and `sender_reports` (RTCP
    NTP↔RTP pairs) are what playback needs to line the participants' tracks up.
    """

    __tablename__ = "recording_segments"
    __table_args__ = (UniqueConstraint("path", name="uq_recording_segments_path"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    pid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # audio | video
    codec: Mapped[str] = mapped_column(String(16))
    track: Mapped[str] = mapped_column(String(100))
    index: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    first_wallclock: Mapped[datetime] = mapped_column(UTCDateTime)
    first_rtp_ts: Mapped[int] = mapped_column(BigInteger)
    sender_reports: Mapped[list[Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When retention deleted the file (the row and its log entry stay: the chain still verifies
    # and shows what was deleted, and when).
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecordingComposite(Base):
    """The one-file download of a session's recording: participants side by side, audio mixed.

    Made by a background job after the session; `status` queued → running → done | failed,
    with `progress` from 0 to 1 for the case page.
    """

    __tablename__ = "recording_composites"

    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    path: Mapped[str | None] = mapped_column(String(400))
    sha256: Mapped[str | None] = mapped_column(String(64))
    bytes: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(400))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MinutesRevision(Base):
    """One saved revision of a session's minutes (调解笔录): the whole document as saved.

    Revisions count up from 1 per session; (session_id, revision) is unique, so of many saves
    based on the same revision exactly one is written and the others get a conflict. A
    client's `save_id` makes a resent save (after a dropped connection) a no-op, never a
    second revision. `sha256` is of the canonical JSON of `document`, and goes into the case
    log with the actor who saved it.
    """

    __tablename__ = "minutes_revisions"
    __table_args__ = (
        UniqueConstraint("session_id", "revision", name="uq_minutes_revisions_session_revision"),
        UniqueConstraint("session_id", "save_id", name="uq_minutes_revisions_session_save"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    revision: Mapped[int] = mapped_column(Integer)
    base_revision: Mapped[int] = mapped_column(Integer)
    save_id: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Who must sign this revision ([{key, role, name}]), as the case stood when it was saved: a
    # later invitation or a revoked one does not change what locks it. None when it could not be
    # said then (the case had no mediator); then it is worked out when someone signs.
    signers: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)


class NoticeAcknowledgement(Base):
    """A participant acknowledged the rights and obligations notice (权利义务告知书) on their own
    device: once per person and session, with the SHA-256 of the text they were shown."""

    __tablename__ = "notice_acknowledgements"
    __table_args__ = (UniqueConstraint("session_id", "pid", name="uq_notice_acknowledgements_session_pid"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    pid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    notice_sha256: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Agreement(Base):
    """A mediation agreement (调解协议书) of a case, made from a template. Its text lives in
    versions; `current_version` is the one people may sign now."""

    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id"))
    template: Mapped[str] = mapped_column(String(64))
    current_version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgreementVersion(Base):
    """One version of an agreement's text. `content` is what the mediator entered (parties,
    facts, matters in dispute, terms); `html` is the document rendered from it, exactly as it
    was shown and signed, and `sha256` is of its UTF-8 bytes. A version is locked once every
    required signer has signed it; any change after that makes a new version."""

    __tablename__ = "agreement_versions"
    __table_args__ = (UniqueConstraint("agreement_id", "version", name="uq_agreement_versions_agreement_version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    html: Mapped[str] = mapped_column(Text, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Signature(Base):
    """A signature on one exact version of a document (an agreement version or a minutes
    revision): the drawn image, the typed name, who, when, from where, and the SHA-256 of the
    version signed. One per signer and version."""

    __tablename__ = "signatures"
    __table_args__ = (UniqueConstraint("version_id", "signer", name="uq_signatures_version_signer"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    document: Mapped[str] = mapped_column(String(16))  # agreement | minutes
    document_id: Mapped[str] = mapped_column(String(36), index=True)  # the agreement, or the session of the minutes
    version_id: Mapped[str] = mapped_column(String(36))  # agreement_versions.id or minutes_revisions.id
    version_sha256: Mapped[str] = mapped_column(String(64))
    signer: Mapped[str] = mapped_column(String(80))  # party:<party id> or account:<account id>
    signer_role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))  # as the signer typed it
    image_png: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    image_sha256: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConfirmationRequest(Base):
    """A judicial-confirmation package (司法确认) for one signed agreement version, and its
    delivery to the org's court endpoint. Deliveries live here, not in memory: any node's
    delivery loop takes a due row (a lease in `lease_until`, so two nodes never send it at
    once), posts it, and records the attempt; a restart loses nothing.

    `status`: pending → delivered, or pending → failed after the last attempt."""

    __tablename__ = "confirmation_requests"
    __table_args__ = (Index("ix_confirmation_requests_status_next", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"))
    agreement_version_id: Mapped[str] = mapped_column(ForeignKey("agreement_versions.id"))
    endpoint: Mapped[str] = mapped_column(String(500))
    package_path: Mapped[str] = mapped_column(String(400))  # relative to the data directory
    package_sha256: Mapped[str] = mapped_column(String(64))
    package_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # when the current round of attempts began (creation, or a manual retry): it gives up 48 h later
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EvidenceCheckpoint(Base):
    """A signed statement of the heads of every case log at one moment (DESIGN.md, "Evidence
    integrity"; issue 12). Append-only and chained: `hash` covers the checkpoint's canonical
    content and `prev_hash`, and `signature` is the server's Ed25519 signature of `hash`. Made at
    intervals and at every export; where a timestamp authority is configured, `tsa_token` is its
    RFC 3161 answer for `hash`. A case log rewritten later no longer matches a checkpoint issued
    before, so a rewrite with database access is caught too.
    """

    __tablename__ = "evidence_checkpoints"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(16))  # interval | export
    heads: Mapped[dict[str, Any]] = mapped_column(JSON)  # case id -> {"seq": n, "hash": h}
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    key_fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the raw public key
    signature: Mapped[str] = mapped_column(String(128))  # hex Ed25519 signature of `hash`
    tsa_url: Mapped[str | None] = mapped_column(String(500))
    tsa_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    tsa_error: Mapped[str | None] = mapped_column(String(400))


class CaseExport(Base):
    """An evidence export of one case: a ZIP with the case's files, its full log, the checkpoints
    that cover it and a manifest signed with the server's Ed25519 key (`heshi verify` checks it
    offline). Built in the background: queued -> running -> done | failed."""

    __tablename__ = "case_exports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    path: Mapped[str | None] = mapped_column(String(400))  # relative to the data directory
    sha256: Mapped[str | None] = mapped_column(String(64))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    checkpoint_seq: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(400))
