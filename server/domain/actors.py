"""Who caused a fact in the case log: one value type, written as `kind:id` in every entry.

A staff account (`account:<account id>`), the holder of one invitation link
(`invitation:<invitation id>`), a recorder worker of one recording run
(`recorder:<recording id>`), or the system itself, always with a named reason
(`system:<reason>`). Services that write to the log take an `Actor`; there is no default
and `None` is refused, so no entry can fall back to a guess.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .access import Principal, PrincipalKind


class ActorKind(enum.StrEnum):
    account = "account"
    invitation = "invitation"
    recorder = "recorder"
    system = "system"


class SystemReason(enum.StrEnum):
    """Why the system itself acted: each reason is a fact a reader of the log can check."""

    cli = "cli"  # an operator at the server's command line (`heshi …`)
    idle_timeout = "idle-timeout"  # a live session with nobody connected ended by itself
    grace_expired = "grace-expired"  # a dropped participant did not come back in time
    node_restart = "node-restart"  # a node started again and found its earlier runs cut off
    node_lost = "node-lost"  # a node stopped answering; another node closed what it ran
    room_lost = "room-lost"  # a live room was made again after its state was lost
    court_delivery = "court-delivery"  # the delivery loop sent a judicial-confirmation package
    evidence_export = "evidence-export"  # the export builder made (or failed to make) an evidence package
    retention = "retention"  # the retention job deleted a recording file its org no longer keeps


_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ActorKind):
            raise TypeError(f"Actor.kind must be an ActorKind, not {self.kind!r}")
        if self.kind is ActorKind.system:
            SystemReason(self.id)  # ValueError for a reason that is not named
        elif not isinstance(self.id, str) or not _ID_RE.match(self.id):
            raise ValueError(f"an {self.kind.value} actor needs an id, got {self.id!r}")

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def account(cls, account_id: str | None) -> Actor:
        if not account_id:
            raise ValueError("an account actor needs an account id")
        return cls(ActorKind.account, account_id)

    @classmethod
    def invitation(cls, invitation_id: str | None) -> Actor:
        if not invitation_id:
            raise ValueError("an invitation actor needs an invitation id")
        return cls(ActorKind.invitation, invitation_id)

    @classmethod
    def recorder(cls, recording_id: str) -> Actor:
        return cls(ActorKind.recorder, recording_id)

    @classmethod
    def system(cls, reason: SystemReason) -> Actor:
        return cls(ActorKind.system, SystemReason(reason).value)

    @classmethod
    def of(cls, p: Principal) -> Actor:
        """The actor behind a signed-in principal: the invitation for a link holder (even one
        bound to an account, since the link is what let them in), else the account; the system,
        with its reason, when it acts with a principal's rights (`heshi demo`)."""
        if p.system_reason is not None:
            return cls.system(SystemReason(p.system_reason))
        if p.kind is PrincipalKind.invitation:
            return cls.invitation(p.invitation_id)
        return cls.account(p.account_id)

    @classmethod
    def parse(cls, text: str) -> Actor:
        """The inverse of str(); ValueError for anything an entry could not have been written with."""
        kind, sep, ident = text.partition(":")
        if not sep:
            raise ValueError(f"not an actor: {text!r}")
        return cls(ActorKind(kind), ident)

    @property
    def pid(self) -> str | None:
        """The live-session participant id this actor had, if it was a participant."""
        if self.kind is ActorKind.invitation:
            return f"i:{self.id}"
        if self.kind is ActorKind.account:
            return f"a:{self.id}"
        return None

    @classmethod
    def of_pid(cls, pid: str) -> Actor | None:
        """The actor behind a live-session participant id (`i:<invitation>`, `a:<account>`), if any."""
        kind, sep, ident = pid.partition(":")
        if not sep or not ident:
            return None
        if kind == "i":
            return cls.invitation(ident)
        if kind == "a":
            return cls.account(ident)
        return None
