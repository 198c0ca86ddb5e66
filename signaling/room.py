"""The room state machine: seats, lobby, publishers and sequenced events. Pure: no I/O.

A room belongs to one mediation session (room id = session id). Each operation checks the
actor's grants first, changes the state, and appends the events it causes to `outbox`,
each with the exact audience that may see it. The store persists the state and the outbox
atomically; the edge emits the outbox. `audience_for()` is the one place that decides who
hears what (caucus rooms will change it here and nowhere else).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from server.domain.clock import wire_time
from server.domain.errors import Conflict, DomainError, Forbidden, NotFound
from server.domain.grants import Grant, SessionRole, ensure_grant, has_grant


class SeatState(enum.StrEnum):
    lobby = "lobby"
    admitted = "admitted"


class LobbyReason(enum.StrEnum):
    waiting_for_mediator = "waiting_for_mediator"
    waiting_for_admission = "waiting_for_admission"


class NotAdmitted(Forbidden):
    code = "not_admitted"


class ParticipantGone(NotFound):
    code = "unknown_participant"


class PublisherLimit(Conflict):
    code = "publisher_limit"


class RoomEnded(Conflict):
    code = "session_ended"


class RecordingState(enum.StrEnum):
    off = "off"
    waiting_for_consent = "waiting_for_consent"  # asked; starts when everyone present has answered
    on = "on"


class Consent(enum.StrEnum):
    granted = "granted"
    refused = "refused"


RECORDER_PID = "recorder"  # the server's recording peer, as browsers address it

# The roles asked for consent before they are recorded, in the order of SessionRole: sent in
# every snapshot, so that clients ask exactly whom the grant table says and keep no copy of it.
CONSENTING_ROLES: tuple[str, ...] = tuple(r.value for r in SessionRole if has_grant(r, Grant.consent_recording))


def recorder_pid(recording_id: str) -> str:
    """Where the server reaches the workers of one recording run (their personal room)."""
    return f"{RECORDER_PID}:{recording_id}"


@dataclass
class RoomRecording:
    """Recording as the live room sees it. The database keeps the durable record (runs,
    consents, segments); this is what decides, event by event, who is recorded."""

    state: RecordingState = RecordingState.off
    recording_id: str | None = None
    consents: dict[str, Consent] = field(default_factory=dict)  # pid -> answer, for this run
    recorder_sid: str | None = None  # the recorder worker's connection, once it is up
    interrupted: bool = False  # resumed after the server went down mid-recording

    def public(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "recording_id": self.recording_id,
            "recorder_ready": self.recorder_sid is not None,
            "interrupted": self.interrupted,
        }


class Refused(Forbidden):
    """A denied or removed participant trying to come back."""

    code = "refused"


@dataclass
class Seat:
    pid: str
    name: str
    role: SessionRole
    state: SeatState
    invitation_id: str | None = None
    account_id: str | None = None
    direct_entry: bool = False
    connected: bool = True
    sid: str | None = None
    resume_token: str = ""
    joined_at: float = 0.0
    disconnected_at: float | None = None
    publishing: bool = False
    pseq: int = 0  # the last per-participant sequence number given to this seat

    def public(self) -> dict[str, Any]:
        """What other participants see of a seat: no sids, no tokens, no account ids."""
        return {
            "pid": self.pid,
            "name": self.name,
            "role": self.role.value,
            "state": self.state.value,
            "connected": self.connected,
            "publishing": self.publishing,
        }


@dataclass
class RoomEvent:
    seq: int  # the room's sequence: one per event, the same on every node
    type: str
    data: dict[str, Any]
    audience: list[str]
    at: float
    # Each recipient's own sequence: consecutive per participant, so a client can tell a
    # lost event (a gap) from an event that was meant for someone else.
    pseqs: dict[str, int] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "data": self.data, "at": wire_time(self.at)}

    def wire_for(self, pid: str) -> dict[str, Any]:
        return {**self.wire(), "pseq": self.pseqs.get(pid, 0)}


@dataclass
class JoinResult:
    seat: Seat
    resumed: bool  # the seat existed (reconnect or reload) and was taken over
    replaced_sid: str | None  # an older connection of the same participant, to disconnect


@dataclass
class Room:
    room_id: str
    case_id: str
    max_publishers: int = 6
    seq: int = 0
    seats: dict[str, Seat] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # pid -> reason (denied or removed)
    ended: bool = False
    empty_since: float | None = None
    recording: RoomRecording = field(default_factory=RoomRecording)
    outbox: list[RoomEvent] = field(default_factory=list)

    # ---- queries ------------------------------------------------------------------------

    def seat(self, pid: str) -> Seat:
        seat = self.seats.get(pid)
        if seat is None:
            raise ParticipantGone("that participant is not in this session", pid=pid)
        return seat

    def admitted(self) -> list[Seat]:
        return [s for s in self.seats.values() if s.state is SeatState.admitted]

    def lobby(self) -> list[Seat]:
        return [s for s in self.seats.values() if s.state is SeatState.lobby]

    def mediator_present(self) -> bool:
        return any(
            s.role is SessionRole.mediator and s.connected and s.state is SeatState.admitted
            for s in self.seats.values()
        )

    def publishers(self) -> list[Seat]:
        return [s for s in self.seats.values() if s.publishing]

    def lobby_reason(self) -> LobbyReason:
        return LobbyReason.waiting_for_admission if self.mediator_present() else LobbyReason.waiting_for_mediator

    def audience_for(self, kind: str, *, sender: str | None = None, to: str | None = None) -> list[str]:
        """Who may see an event of this kind. The single rule of who hears whom."""
        if kind == "moderators":
            return [s.pid for s in self.admitted() if has_grant(s.role, Grant.moderate)]
        if kind == "private":
            assert sender is not None and to is not None
            return sorted({sender, to})
        if kind == "minutes":
            return [s.pid for s in self.admitted() if has_grant(s.role, Grant.read_minutes)]
        return [s.pid for s in self.admitted()]

    def snapshot_for(self, pid: str) -> dict[str, Any]:
        """The state a participant is allowed to see, on join and on resync."""
        seat = self.seat(pid)
        snap: dict[str, Any] = {
            "seq": self.seq,
            "pseq": seat.pseq,
            "you": seat.public(),
            "max_publishers": self.max_publishers,
            "consenting_roles": list(CONSENTING_ROLES),
        }
        if seat.state is SeatState.admitted:
            snap["participants"] = [s.public() for s in self.admitted()]
            snap["recording"] = self._recording_view(seat)
        else:
            snap["lobby_reason"] = self.lobby_reason().value
        if has_grant(seat.role, Grant.moderate):
            snap["lobby"] = [s.public() for s in self.lobby()]
            snap["recording_consents"] = self._consents_view()
        return snap

    # ---- events -------------------------------------------------------------------------

    def _emit(self, type_: str, data: dict[str, Any], audience: list[str], now: float) -> None:
        if not audience:
            return
        self.seq += 1
        pseqs = {}
        for pid in audience:
            seat = self.seats.get(pid)
            if seat is not None:
                seat.pseq += 1
                pseqs[pid] = seat.pseq
        self.outbox.append(RoomEvent(self.seq, type_, data, audience, now, pseqs))

    def _lobby_changed(self, now: float) -> None:
        self._emit("lobby.updated", {"lobby": [s.public() for s in self.lobby()]}, self.audience_for("moderators"), now)
        reason = self.lobby_reason().value
        for s in self.lobby():
            self._emit("lobby.status", {"reason": reason}, [s.pid], now)

    def _ensure_open(self) -> None:
        if self.ended:
            raise RoomEnded("this mediation session has ended")

    def _ensure_admitted(self, pid: str) -> Seat:
        seat = self.seat(pid)
        if seat.state is not SeatState.admitted:
            raise NotAdmitted("wait until the mediator admits you")
        return seat

    def _admitted_target(self, pid: str) -> Seat:
        """The admitted member an action is aimed at (the lobby is not part of the meeting)."""
        seat = self.seats.get(pid)
        if seat is None or seat.state is not SeatState.admitted:
            raise ParticipantGone("that participant is not in this session", pid=pid)
        return seat

    # ---- operations ---------------------------------------------------------------------

    def join(self, seat: Seat, now: float) -> JoinResult:
        """Take a seat, or take back one's own seat after a drop or a reload."""
        self._ensure_open()
        if seat.pid in self.refused:
            raise Refused("you cannot rejoin this session: " + self.refused[seat.pid], reason=self.refused[seat.pid])
        existing = self.seats.get(seat.pid)
        token = secrets.token_urlsafe(24)
        if existing is not None:
            replaced = existing.sid if existing.connected and existing.sid != seat.sid else None
            was_connected = existing.connected
            existing.sid, existing.connected, existing.disconnected_at = seat.sid, True, None
            existing.resume_token = token
            existing.name = seat.name
            self.empty_since = None
            if existing.state is SeatState.admitted:
                self._emit(
                    "participant.reconnected",
                    {"participant": existing.public(), "renegotiate": True},
                    [p for p in self.audience_for("room") if p != seat.pid],
                    now,
                )
                if existing.role is SessionRole.mediator and not was_connected:
                    self._mediator_arrived(now)
            else:
                self._lobby_changed(now)
            return JoinResult(existing, resumed=True, replaced_sid=replaced)
        seat.resume_token = token
        seat.joined_at = now
        seat.connected = True
        seat.disconnected_at = None
        self.empty_since = None
        if seat.role is SessionRole.mediator:
            seat.state = SeatState.admitted
            self.seats[seat.pid] = seat
            self._emit("participant.joined", {"participant": seat.public()}, self.audience_for("room"), now)
            self._arrived_while_recording(seat, now)
            self._mediator_arrived(now)
        elif seat.direct_entry and self.mediator_present():
            seat.state = SeatState.admitted
            self.seats[seat.pid] = seat
            self._emit("participant.joined", {"participant": seat.public()}, self.audience_for("room"), now)
            self._arrived_while_recording(seat, now)
        else:
            seat.state = SeatState.lobby
            self.seats[seat.pid] = seat
            self._lobby_changed(now)
        return JoinResult(seat, resumed=False, replaced_sid=None)

    def _mediator_arrived(self, now: float) -> None:
        """Direct-entry invitees waiting only for a mediator come in; the rest are told to wait."""
        for s in self.lobby():
            if s.direct_entry:
                self._admit_seat(s, now)
        self._lobby_changed(now)

    def _admit_seat(self, seat: Seat, now: float) -> None:
        seat.state = SeatState.admitted
        self._emit("participant.joined", {"participant": seat.public()}, self.audience_for("room"), now)
        self._arrived_while_recording(seat, now)

    def admit(self, actor: str, pids: list[str] | None, now: float) -> list[str]:
        """Admit the named lobby members, or everyone waiting when `pids` is None."""
        self._ensure_open()
        ensure_grant(self._ensure_admitted(actor).role, Grant.moderate)
        targets = self.lobby() if pids is None else [self.seat(p) for p in pids]
        admitted = []
        for s in targets:
            if s.state is SeatState.lobby:
                self._admit_seat(s, now)
                admitted.append(s.pid)
        if admitted:
            self._lobby_changed(now)
        return admitted

    def deny(self, actor: str, pid: str, reason: str, now: float) -> Seat:
        self._ensure_open()
        ensure_grant(self._ensure_admitted(actor).role, Grant.moderate)
        seat = self.seat(pid)
        if seat.state is not SeatState.lobby:
            raise Conflict("only people waiting in the lobby can be denied; remove admitted participants instead")
        self._emit("lobby.denied", {"reason": reason}, [pid], now)
        del self.seats[pid]
        self.refused[pid] = reason or "denied"
        self._lobby_changed(now)
        return seat

    def remove(self, actor: str, pid: str, reason: str, now: float) -> Seat:
        self._ensure_open()
        ensure_grant(self._ensure_admitted(actor).role, Grant.moderate)
        if pid == actor:
            raise Conflict("you cannot remove yourself; leave or end the session instead")
        seat = self.seat(pid)
        self._emit(
            "participant.removed", {"pid": pid, "reason": reason}, sorted(set(self.audience_for("room")) | {pid}), now
        )
        del self.seats[pid]
        self.refused[pid] = reason or "removed"
        self._forget_consent(pid, now)
        if seat.state is SeatState.lobby:
            self._lobby_changed(now)
        return seat

    def request_mute(self, actor: str, pid: str, kind: str, now: float) -> None:
        self._ensure_open()
        ensure_grant(self._ensure_admitted(actor).role, Grant.moderate)
        self._admitted_target(pid)
        self._emit("mute.requested", {"by": actor, "kind": kind}, [pid], now)

    def start_publishing(self, pid: str, now: float) -> None:
        self._ensure_open()
        seat = self._ensure_admitted(pid)
        ensure_grant(seat.role, Grant.publish)
        if seat.publishing:
            return
        if len(self.publishers()) >= self.max_publishers:
            raise PublisherLimit(
                f"this session already has the maximum of {self.max_publishers} people sending "
                "audio and video; you can still watch, listen and chat",
                max_publishers=self.max_publishers,
            )
        seat.publishing = True
        self._emit("publisher.added", {"pid": pid}, self.audience_for("room"), now)

    def stop_publishing(self, pid: str, now: float) -> None:
        seat = self.seat(pid)
        if seat.publishing:
            seat.publishing = False
            self._emit("publisher.removed", {"pid": pid}, self.audience_for("room"), now)

    def disconnected(self, pid: str, sid: str, now: float) -> bool:
        """A connection dropped. The seat is kept for the grace period; False if it was stale."""
        seat = self.seats.get(pid)
        if seat is None or seat.sid != sid or not seat.connected:
            return False
        seat.connected = False
        seat.disconnected_at = now
        if seat.state is SeatState.admitted:
            self._emit(
                "participant.reconnecting", {"pid": pid}, [p for p in self.audience_for("room") if p != pid], now
            )
            if seat.role is SessionRole.mediator and not self.mediator_present():
                for s in self.lobby():
                    self._emit("lobby.status", {"reason": LobbyReason.waiting_for_mediator.value}, [s.pid], now)
        else:
            self._lobby_changed(now)
        if not any(s.connected for s in self.seats.values()):
            self.empty_since = now
        if self.recording.state is RecordingState.waiting_for_consent:
            self._settle_recording(now)  # someone who dropped no longer holds the start back
        return True

    def leave(self, pid: str, now: float) -> Seat | None:
        """Give up a seat now (explicit leave, or the grace period ran out)."""
        seat = self.seats.pop(pid, None)
        if seat is None:
            return None
        self._forget_consent(pid, now)
        if seat.state is SeatState.admitted:
            self._emit("participant.left", {"pid": pid}, self.audience_for("room"), now)
            if seat.role is SessionRole.mediator and not self.mediator_present():
                for s in self.lobby():
                    self._emit("lobby.status", {"reason": LobbyReason.waiting_for_mediator.value}, [s.pid], now)
        else:
            self._lobby_changed(now)
        if not any(s.connected for s in self.seats.values()) and self.empty_since is None:
            self.empty_since = now
        return seat

    def needs_sweep(self, now: float, grace: float, idle: float) -> bool:
        """Whether a seat's grace period or the room's idle time has run out (a cheap read)."""
        if not self.ended and self.empty_since is not None and now - self.empty_since >= idle:
            return True
        return any(
            not s.connected and s.disconnected_at is not None and now - s.disconnected_at >= grace
            for s in self.seats.values()
        )

    def expire(self, now: float, grace: float) -> list[Seat]:
        """Release the seats whose grace period has run out."""
        gone = [
            s
            for s in self.seats.values()
            if not s.connected and s.disconnected_at is not None and now - s.disconnected_at >= grace
        ]
        return [seat for s in gone if (seat := self.leave(s.pid, now)) is not None]

    def end(self, actor: str | None, reason: str, now: float) -> None:
        """End the session for everyone. `actor` None: the server (idle timeout)."""
        self._ensure_open()
        if actor is not None:
            ensure_grant(self._ensure_admitted(actor).role, Grant.moderate)
        self.stop_recording(None, "session_ended", now)
        self._emit("session.ended", {"reason": reason, "by": actor}, list(self.seats), now)
        self.ended = True

    def chat_audience(self, sender: str, to: str | None) -> list[str]:
        """Check who may chat with whom, and return who hears the message."""
        self._ensure_open()
        seat = self._ensure_admitted(sender)
        ensure_grant(seat.role, Grant.chat)
        if to is None:
            return self.audience_for("room")
        target = self._admitted_target(to)
        if to == sender:
            raise DomainError("you cannot send a private message to yourself")
        # Private messages run between the mediator and one participant, never party to party.
        if not (has_grant(seat.role, Grant.moderate) or has_grant(target.role, Grant.moderate)):
            raise Forbidden("private messages go to or from the mediator only")
        return self.audience_for("private", sender=sender, to=to)

    def chat_sent(self, message: dict[str, Any], audience: list[str], now: float) -> None:
        self._emit("chat.message", message, audience, now)

    # ---- minutes and the rights notice ----------------------------------------------------

    def check_minutes_reader(self, pid: str) -> Seat:
        """Someone reading or writing the minutes live: an admitted member (not the lobby) whose
        role reads them. What they may write is the minutes service's rule."""
        self._ensure_open()
        seat = self._ensure_admitted(pid)
        ensure_grant(seat.role, Grant.read_minutes)
        return seat

    def minutes_saved(self, update: dict[str, Any], now: float) -> None:
        """A revision of the minutes was saved (already in the database): everyone admitted who reads them hears it."""
        self._emit("minutes.updated", update, self.audience_for("minutes"), now)

    def check_notice_presenter(self, pid: str) -> Seat:
        self._ensure_open()
        seat = self._ensure_admitted(pid)
        ensure_grant(seat.role, Grant.moderate)
        return seat

    def notice_presented(self, notice: dict[str, Any], now: float) -> None:
        """The mediator presented the rights notice: every admitted member's device shows it."""
        self._emit("notice.presented", notice, self.audience_for("room"), now)

    def notice_acknowledged(self, acknowledgement: dict[str, Any], now: float) -> None:
        self._emit("notice.acknowledged", acknowledgement, self.audience_for("room"), now)

    def relay_check(self, sender: str, target: str) -> Seat | None:
        """Offers, answers and candidates flow only between two admitted, connected members,
        or between a recorded participant and the recorder."""
        self._ensure_open()
        if sender == RECORDER_PID:
            if target not in self.recorded_pids():
                raise ParticipantGone("that participant is not being recorded", pid=target)
            return self.seats[target]
        self._ensure_admitted(sender)
        if sender == target:
            raise DomainError("cannot signal to yourself")
        if target == RECORDER_PID:
            if sender not in self.recorded_pids():
                raise Forbidden("you are not being recorded: recording is off, or you have not consented")
            if self.recording.recorder_sid is None:
                raise ParticipantGone("the recorder is not running yet", pid=target)
            return None
        seat = self.seats.get(target)
        if seat is None or seat.state is not SeatState.admitted:
            raise ParticipantGone("that participant is not in this session", pid=target)
        return seat

    # ---- recording ----------------------------------------------------------------------
    #
    # The mediator asks; everyone present who would be recorded answers; recording runs once
    # nobody present is left to answer. Only those who said yes (and the mediator who asked)
    # are recorded. Someone who arrives later is asked on arrival and is not recorded until
    # they say yes. Everyone in the room sees the state; the moderators see every answer.

    def _asked(self, seat: Seat) -> bool:
        """Whether this seat's answer is needed: an admitted member who would send media."""
        return seat.state is SeatState.admitted and has_grant(seat.role, Grant.consent_recording)

    def pending_consent(self) -> list[str]:
        """Present members who have not answered yet: they hold back the start."""
        if self.recording.state is RecordingState.off:
            return []
        return [
            s.pid
            for s in self.seats.values()
            if self._asked(s) and s.connected and s.pid not in self.recording.consents
        ]

    def recorded_pids(self) -> list[str]:
        """Who the recorder receives media from, right now."""
        if self.recording.state is not RecordingState.on:
            return []
        return [
            s.pid
            for s in self.admitted()
            if has_grant(s.role, Grant.publish) and self.recording.consents.get(s.pid) is Consent.granted
        ]

    def _recording_view(self, seat: Seat) -> dict[str, Any]:
        return {
            **self.recording.public(),
            "recorded": self.recorded_pids(),
            "your_consent": (c.value if (c := self.recording.consents.get(seat.pid)) else None),
        }

    def _consents_view(self) -> dict[str, Any]:
        return {
            "consents": {pid: c.value for pid, c in self.recording.consents.items()},
            "pending": self.pending_consent(),
        }

    def _recording_changed(self, now: float) -> None:
        for pid in self.audience_for("room"):
            self._emit("recording.updated", self._recording_view(self.seats[pid]), [pid], now)
        self._emit("recording.consents", self._consents_view(), self.audience_for("moderators"), now)

    def _ask(self, seat: Seat, now: float) -> None:
        """Ask a member who has not answered; the mediator, who runs the recording, is not asked."""
        if seat.pid in self.recording.consents:
            return
        if has_grant(seat.role, Grant.control_recording):
            self.recording.consents[seat.pid] = Consent.granted
        elif self._asked(seat):
            self._emit("recording.consent_requested", {"recording_id": self.recording.recording_id}, [seat.pid], now)

    def _arrived_while_recording(self, seat: Seat, now: float) -> None:
        if self.recording.state is RecordingState.off:
            return
        self._ask(seat, now)
        self._recording_changed(now)

    def _forget_consent(self, pid: str, now: float) -> None:
        """A seat given up: someone who comes back later is asked again."""
        if self.recording.consents.pop(pid, None) is not None or self.recording.state is not RecordingState.off:
            self._settle_recording(now)

    def _settle_recording(self, now: float) -> None:
        """Start once nobody present is left to answer; tell everyone what changed."""
        r = self.recording
        if r.state is RecordingState.waiting_for_consent and not self.pending_consent():
            r.state = RecordingState.on
        if r.state is not RecordingState.off:
            self._recording_changed(now)

    def start_recording(self, actor: str | None, recording_id: str, now: float) -> None:
        """The mediator asks to record. `actor` None: an authorised staff member over the REST
        API, who need not be in the room."""
        self._ensure_open()
        if actor is not None:
            ensure_grant(self._ensure_admitted(actor).role, Grant.control_recording)
        if self.recording.state is not RecordingState.off:
            raise Conflict("recording is already on or waiting for consent")
        self.recording = RoomRecording(state=RecordingState.waiting_for_consent, recording_id=recording_id)
        for seat in self.admitted():
            self._ask(seat, now)
        self._settle_recording(now)

    def resume_recording(self, recording_id: str, consents: dict[str, Consent], now: float) -> None:
        """After a restart: the run that was on goes on, with the answers already given."""
        self.recording = RoomRecording(
            state=RecordingState.waiting_for_consent,
            recording_id=recording_id,
            consents=dict(consents),
            interrupted=True,
        )
        for seat in self.admitted():
            self._ask(seat, now)
        self._settle_recording(now)

    def check_consent(self, pid: str) -> Seat:
        """Whether `pid` may answer now (checked before the answer is stored, and again after)."""
        self._ensure_open()
        seat = self._ensure_admitted(pid)
        ensure_grant(seat.role, Grant.consent_recording)
        if self.recording.state is RecordingState.off:
            raise Conflict("recording has not been requested")
        return seat

    def answer_consent(self, pid: str, consent: Consent, now: float) -> Seat:
        """A participant's answer. Changing it later is allowed: a yes withdrawn stops their recording."""
        seat = self.check_consent(pid)
        self.recording.consents[pid] = consent
        self._settle_recording(now)
        return seat

    def stop_recording(self, actor: str | None, reason: str, now: float) -> str | None:
        """Stop the run (the mediator, the REST API, the end of the session, or a full disk).
        Returns the run's id, or None when nothing was on."""
        if actor is not None:
            ensure_grant(self._ensure_admitted(actor).role, Grant.control_recording)
        if self.recording.state is RecordingState.off:
            return None
        recording_id = self.recording.recording_id
        self.recording = RoomRecording()
        for pid in self.audience_for("room"):
            self._emit(
                "recording.updated", {**self._recording_view(self.seats[pid]), "stop_reason": reason}, [pid], now
            )
        return recording_id

    def recorder_connected(self, sid: str | None, now: float) -> None:
        """The recorder worker came up (a sid) or went away (None)."""
        if self.recording.state is RecordingState.off and sid is not None:
            raise Conflict("recording is off")
        self.recording.recorder_sid = sid
        if self.recording.state is not RecordingState.off:
            self._recording_changed(now)

    # ---- serialisation ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("outbox")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Room:
        seats = {
            pid: Seat(**{**s, "role": SessionRole(s["role"]), "state": SeatState(s["state"])})
            for pid, s in d["seats"].items()
        }
        r = d.get("recording") or {}
        recording = RoomRecording(
            state=RecordingState(r.get("state", "off")),
            recording_id=r.get("recording_id"),
            consents={p: Consent(c) for p, c in r.get("consents", {}).items()},
            recorder_sid=r.get("recorder_sid"),
            interrupted=r.get("interrupted", False),
        )
        return cls(
            room_id=d["room_id"],
            case_id=d["case_id"],
            max_publishers=d["max_publishers"],
            seq=d["seq"],
            seats=seats,
            refused=dict(d["refused"]),
            ended=d["ended"],
            empty_since=d["empty_since"],
            recording=recording,
        )


def event_to_dict(e: RoomEvent) -> dict[str, Any]:
    """An event as kept in shared room state (not as sent: `at` stays POSIX seconds here)."""
    return {"seq": e.seq, "type": e.type, "data": e.data, "at": e.at, "audience": e.audience, "pseqs": e.pseqs}


def event_from_dict(d: dict[str, Any]) -> RoomEvent:
    return RoomEvent(
        seq=d["seq"],
        type=d["type"],
        data=d["data"],
        audience=list(d["audience"]),
        at=d["at"],
        pseqs=dict(d.get("pseqs", {})),
    )
