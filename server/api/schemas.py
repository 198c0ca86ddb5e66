"""Request schemas: one per route that takes input, validated at the edge.

`extra="forbid"` makes a misspelt field an error instead of silently ignored input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from server.domain.accounts import StaffRole
from server.domain.cases import CaseSource, CaseStatus, DisputeType, PartySide
from server.domain.grants import SessionRole
from server.domain.orgs import OrgKind, OrgLevel

Str100 = Annotated[str, StringConstraints(max_length=100)]
Str200 = Annotated[str, StringConstraints(max_length=200)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]


def _iso_text(value: object) -> object:
    """Only the documented ISO 8601 text: pydantic would also read a number as seconds or milliseconds."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a time zone")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text)]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginIn(Schema):
    username: Annotated[str, StringConstraints(min_length=1, max_length=48)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class OrgIn(Schema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    code: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    kind: OrgKind
    level: OrgLevel | None = None
    parent_id: Id | None = None


class AccountIn(Schema):
    username: Annotated[str, StringConstraints(min_length=2, max_length=48)]
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    role: StaffRole
    org_id: Id
    password: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        default=None, description="omit to have one generated and returned once"
    )
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None


class AccountQuery(Schema):
    role: StaffRole | None = None
    org_id: Id | None = None


class PartyIn(Schema):
    side: PartySide
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    id_number: Annotated[str, StringConstraints(max_length=18)] | None = None
    agent_name: Str100 | None = None
    agent_phone: Annotated[str, StringConstraints(max_length=32)] | None = None


class CaseIn(Schema):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    summary: Annotated[str, StringConstraints(max_length=10_000)] = ""
    dispute_type: DisputeType
    source: CaseSource
    org_id: Id | None = Field(default=None, description="defaults to the caller's org")
    mediator_id: Id | None = Field(default=None, description="defaults to the caller when a mediator")
    parties: list[PartyIn] = Field(min_length=2, max_length=50)


class CaseQuery(Schema):
    status: CaseStatus | None = None
    dispute_type: DisputeType | None = None
    source: CaseSource | None = None
    org_id: Id | None = None
    mediator_id: Id | None = None
    year: int | None = Field(default=None, ge=2000, le=2100)
    q: Str100 | None = Field(default=None, description="matches case number, title or a party's name")
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class TransitionIn(Schema):
    to: CaseStatus
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class SessionIn(Schema):
    scheduled_at: IsoDateTime = Field(description="ISO 8601 with a time zone, e.g. 2026-12-01T09:30:00+08:00")
    title: Str200 | None = None


class InvitationIn(Schema):
    role: SessionRole
    party_id: Id | None = None
    account_id: Id | None = None
    display_name: Str100 | None = None
    direct_entry: bool | None = Field(
        default=None, description="skip the lobby; default true for mediators and experts"
    )
    ttl_hours: int | None = Field(default=None, ge=1, le=24 * 90)


class RevokeIn(Schema):
    reason: Str200 | None = None


class RecordingStopIn(Schema):
    reason: Str200 | None = None
