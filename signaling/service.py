"""The room service: applies room operations through the store, persists what must outlive
the room, and hands events to the edge. Handlers in server.py call one method each.
Recording runs and their worker processes are the RecordingSupervisor's (supervisor.py)."""

from __future__ import annotations

import logging
from typing import Any

from server.domain import minutes as minutes_rules
from server.domain.actors import Actor, SystemReason
from server.domain.clock import wire_time
from server.domain.errors import Conflict, DomainError, NotFound
from server.domain.grants import Grant, SessionRole, ensure_grant
from server.domain.sessions import SessionStatus
from server.services import invitations, minutes, notices, sessions
from server.services.core import Core

from . import persistence
from .binding import Binding
from .ice import ice_servers
from .room import RECORDER_PID, Consent, NotAdmitted, RecordingState, Room, RoomEnded, Seat, SeatState
from .schemas import ChatHistoryIn, ChatSendIn, JoinIn, MinutesSaveIn, NoticeAcknowledgeIn, SignalIn
from .store.base import RoomStore, StoreUnavailable
from .supervisor import Outbox, RecordingSupervisor, need_room, relayed

log = logging.getLogger("heshi.signaling")


class RoomService:
    def __init__(self, core: Core, store: RoomStore, outbox: Outbox, supervisor: RecordingSupervisor):
        self.core = core
        self.store = store
        self.outbox = outbox
        self.supervisor = supervisor
        s = core.settings
        self.grace = float(s.session_grace_seconds)
        self.idle = float(s.session_idle_minutes * 60)

    def now(self) -> float:
        return self.core.clock.timestamp()

    async def _update(self, room_id: str, fn: Any) -> Any:
        """Run a room operation; deliver the events it caused; return its result."""
        result, events = await self.store.update(room_id, fn)
        if events:
            await self.outbox.deliver(room_id, events)
        return result

    async def _room(self, b: Binding) -> Room:
        """The room, read-only: checks before relaying or chatting never change it."""
        room = await self.store.view(b.session_id)
        if room is None:
            raise NotFound("this session has no live room; join first")
        return room

    # ---- joining and leaving ------------------------------------------------------------

    async def join(self, b: Binding, sid: str, body: JoinIn, connect_url: str = "") -> dict[str, Any]:
        # The room of an ended session is gone from the store; a connection bound before the end
        # must not bring it back.
        if (await sessions.load_session(self.core, b.session_id)).status == SessionStatus.ended.value:
            raise RoomEnded("this mediation session has ended")
        now = self.now()
        seat = Seat(
            pid=b.pid,
            name=b.name,
            role=b.role,
            state=SeatState.lobby,
            invitation_id=b.invitation_id,
            account_id=b.account_id,
            direct_entry=b.direct_entry,
            sid=sid,
        )
        previous_token: dict[str, str | None] = {}

        # A session that was recording when its node went down goes on recording. The room may
        # be gone (the memory store) or have outlived the node (Redis), and everyone rejoins at
        # once: only the join that claims the run resumes it, before taking its seat.
        current = await self.store.view(b.session_id)
        if current is None or current.recording.state is not RecordingState.off:
            resume = await self.supervisor.claim_resume(b.session_id, room_live=current is not None, actor=b.actor)
            if resume is not None:
                await self.supervisor.resume(
                    resume, b.case_id, b.session_id, connect_url, new_room=lambda: self._new_room(b)
                )

        def op(room: Room | None) -> tuple[Room, tuple[Any, dict[str, Any]]]:
            if room is None:
                room = self._new_room(b)
            old = room.seats.get(b.pid)
            previous_token["value"] = old.resume_token if old else None
            result = room.join(seat, now)
            return room, (result, room.snapshot_for(b.pid))

        (result, snapshot) = await self._update(b.session_id, op)
        if result.replaced_sid:
            await self.outbox.disconnect(result.replaced_sid)
        missed: list[dict[str, Any]] | None = None
        token_ok = bool(body.resume_token) and body.resume_token == previous_token.get("value")
        if result.resumed and token_ok and body.last_seq is not None:
            missed = [
                e.wire_for(b.pid)
                for e in await self.store.events_after(b.session_id, body.last_seq)
                if b.pid in e.audience and e.seq <= snapshot["seq"]
            ]
        if not result.resumed:
            await persistence.record(
                self.core,
                b.case_id,
                b.session_id,
                "join",
                b.actor,
                {"pid": b.pid, "name": b.name, "role": b.role.value, "state": result.seat.state.value},
            )
        else:
            await persistence.record(self.core, b.case_id, b.session_id, "rejoin", b.actor, {"pid": b.pid})
        if b.role is SessionRole.mediator:
            await persistence.mark_status(self.core, b.session_id, SessionStatus.live, b.actor)
        history: dict[str, Any] | None = None
        if result.seat.state is SeatState.admitted:
            messages, more = await persistence.chat_history(self.core, b, None, 50)
            history = {"messages": messages, "has_more": more}
        return {
            "ok": True,
            "resume_token": result.seat.resume_token,
            "resumed": result.resumed,
            "missed": missed,
            "room": snapshot,
            "chat": history,
            "ice_servers": ice_servers(self.core.settings, b.pid, now),
        }

    def _new_room(self, b: Binding) -> Room:
        return Room(room_id=b.session_id, case_id=b.case_id, max_publishers=self.core.settings.max_publishers)

    async def disconnected(self, b: Binding, sid: str) -> None:
        """A socket closed: keep the seat for the grace period."""
        now = self.now()

        def op(room: Room | None) -> tuple[Room | None, bool]:
            if room is None:
                return None, False
            return room, room.disconnected(b.pid, sid, now)

        await self._update(b.session_id, op)

    async def leave(self, b: Binding) -> dict[str, Any]:
        now = self.now()

        def op(room: Room | None) -> tuple[Room | None, Seat | None]:
            if room is None:
                return None, None
            return room, room.leave(b.pid, now)

        if await self._update(b.session_id, op) is not None:
            await persistence.record(self.core, b.case_id, b.session_id, "leave", b.actor, {"pid": b.pid})
        return {"ok": True}

    async def sync(self, b: Binding, after_seq: int) -> dict[str, Any]:
        """Events after `after_seq` that this participant may see (fills gaps in live delivery)."""
        room = await self._room(b)
        room.seat(b.pid)
        buffered = await self.store.events_after(b.session_id, after_seq)
        events = [e.wire_for(b.pid) for e in buffered if b.pid in e.audience]
        # Complete when the buffer reaches back to after_seq + 1; events for others are gaps by design.
        complete = after_seq >= room.seq or (bool(buffered) and buffered[0].seq == after_seq + 1)
        # The snapshot always comes along: a client just admitted from the lobby needs the
        # roster, and one whose gap the buffer no longer covers needs the whole state.
        return {"ok": True, "events": events, "seq": room.seq, "complete": complete, "room": room.snapshot_for(b.pid)}

    # ---- moderation ---------------------------------------------------------------------

    async def admit(self, b: Binding, pids: list[str] | None) -> dict[str, Any]:
        now = self.now()
        admitted = await self._update(b.session_id, lambda room: _apply(room, lambda r: r.admit(b.pid, pids, now)))
        for pid in admitted:
            await persistence.record(self.core, b.case_id, b.session_id, "admit", b.actor, {"pid": pid})
        return {"ok": True, "admitted": admitted}

    async def deny(self, b: Binding, pid: str, reason: str) -> dict[str, Any]:
        now = self.now()
        seat = await self._update(b.session_id, lambda room: _apply(room, lambda r: r.deny(b.pid, pid, reason, now)))
        await self._revoke(b.actor, seat, reason or "denied by the mediator")
        await persistence.record(self.core, b.case_id, b.session_id, "deny", b.actor, {"pid": pid, "reason": reason})
        if seat.sid and seat.connected:
            await self.outbox.disconnect(seat.sid)  # after lobby.denied has gone out, as with removal
        return {"ok": True}

    async def remove(self, b: Binding, pid: str, reason: str) -> dict[str, Any]:
        now = self.now()
        seat = await self._update(b.session_id, lambda room: _apply(room, lambda r: r.remove(b.pid, pid, reason, now)))
        await self._revoke(b.actor, seat, reason or "removed by the mediator")
        await persistence.record(self.core, b.case_id, b.session_id, "remove", b.actor, {"pid": pid, "reason": reason})
        if seat.sid:
            await self.outbox.disconnect(seat.sid)
        return {"ok": True}

    async def _revoke(self, by: Actor, seat: Seat, reason: str) -> None:
        """Removing or denying someone also withdraws their link, so it cannot bring them back.
        The case log names the moderator who did it."""
        if seat.invitation_id:
            try:
                await invitations.withdraw(self.core, by, seat.invitation_id, reason)
            except DomainError as exc:  # already revoked: nothing more to do
                log.info("revoke %s: %s", seat.invitation_id, exc.message)

    async def mute(self, b: Binding, pid: str, kind: str) -> dict[str, Any]:
        now = self.now()
        await self._update(b.session_id, lambda room: _apply(room, lambda r: r.request_mute(b.pid, pid, kind, now)))
        return {"ok": True}

    async def end(self, b: Binding | None, reason: str, *, room_id: str | None = None) -> dict[str, Any]:
        """End the session for everyone (mediator, or the idle timeout when `b` is None)."""
        now = self.now()
        room_id = room_id or (b.session_id if b else None)
        assert room_id is not None

        recording: list[str | None] = []

        def op(room: Room | None) -> tuple[Room, Room]:
            room = need_room(room)
            recording.append(room.recording.recording_id)  # read under the lock: a start may race the end
            room.end(b.pid if b else None, reason, now)
            return room, room

        room = await self._update(room_id, op)
        recording_id = recording[-1]
        actor = b.actor if b else Actor.system(SystemReason.idle_timeout)
        await self.supervisor.session_ended(room_id, room.case_id, recording_id, actor)
        await persistence.mark_status(self.core, room_id, SessionStatus.ended, actor, reason)
        await persistence.record(self.core, room.case_id, room_id, "end", actor, {"reason": reason})
        await self.store.update(room_id, lambda _r: (None, None))
        for seat in room.seats.values():
            if seat.sid and seat.connected:
                await self.outbox.disconnect(seat.sid)
        return {"ok": True}

    # ---- media --------------------------------------------------------------------------

    async def publish(self, b: Binding, on: bool) -> dict[str, Any]:
        now = self.now()
        if on:
            await self._update(b.session_id, lambda room: _apply(room, lambda r: r.start_publishing(b.pid, now)))
        else:
            await self._update(b.session_id, lambda room: _apply(room, lambda r: r.stop_publishing(b.pid, now)))
        return {"ok": True, "publishing": on}

    # ---- recording ----------------------------------------------------------------------

    async def recording_start(
        self, session_id: str, case_id: str, *, b: Binding | None, role: SessionRole, actor: Actor, connect_url: str
    ) -> dict[str, Any]:
        """Ask everyone present for consent and start the recorder. `b` None: the REST API, where
        staff who manage the case act in `role` mediator. The grant is checked either way."""
        ensure_grant(role, Grant.control_recording)
        room = await self.store.view(session_id)
        if room is None:
            raise NotFound("this session has no live room; recording starts once people have joined")
        # The room checks again under its lock; checking first means a refused start writes nothing.
        if b is not None:
            ensure_grant(room.seat(b.pid).role, Grant.control_recording)
        if room.recording.state is not RecordingState.off:
            raise Conflict("recording is already on or waiting for consent")
        run_id = await self.supervisor.open_run(case_id, session_id, actor)
        now = self.now()
        try:
            await self._update(
                session_id, lambda r: _apply(r, lambda r: r.start_recording(b.pid if b else None, run_id, now))
            )
        except DomainError:
            await self.supervisor.abandon_run(run_id, actor)
            raise
        await self.supervisor.launch(run_id, case_id, session_id, connect_url)
        after = await self.store.view(session_id)
        return {
            "ok": True,
            "recording": after.recording.public() if after else None,
            "pending": after.pending_consent() if after else [],
        }

    async def recording_consent(self, b: Binding, consent: bool, language: str) -> dict[str, Any]:
        room = await self._room(b)
        room.check_consent(b.pid)  # nothing is stored for someone who may not answer
        recording_id = room.recording.recording_id
        assert recording_id is not None
        decision = Consent.granted if consent else Consent.refused
        await self.supervisor.save_consent(recording_id, b, decision, language)  # before anyone is told
        now = self.now()

        def op(r: Room | None) -> tuple[Room, Consent | None]:
            r = need_room(r)
            was = r.recording.consents.get(b.pid)
            r.answer_consent(b.pid, decision, now)
            return r, was

        try:
            was = await self._update(b.session_id, op)
        except DomainError:
            if decision is Consent.refused:  # stored as refused: never keep recording them
                await self.supervisor.drop(b.session_id, recording_id, b.pid)
            raise
        if was is Consent.granted and decision is Consent.refused:
            # A yes withdrawn: the recorder lets go of this person's media at once.
            await self.supervisor.drop(b.session_id, recording_id, b.pid)
        return {"ok": True, "consent": decision.value}

    async def recording_stop(self, session_id: str, *, b: Binding | None, actor: Actor, reason: str) -> dict[str, Any]:
        now = self.now()
        recording_id = await self._update(
            session_id,
            lambda r: _apply(
                r, lambda r: r.stop_recording(b.pid if b else None, reason or "stopped by the mediator", now)
            ),
        )
        if recording_id is None:
            raise Conflict("recording is not on")
        await self.supervisor.stopped(session_id, recording_id, actor, reason or "stopped by the mediator")
        return {"ok": True}

    async def signal(self, b: Binding, body: SignalIn) -> dict[str, Any]:
        room = await self._room(b)
        room.relay_check(b.pid, body.to)
        data = relayed(b.pid, body)
        if body.to == RECORDER_PID:
            assert room.recording.recording_id is not None
            await self.supervisor.to_recorder(b.session_id, room.recording.recording_id, "signal", data)
        else:
            await self.outbox.send(b.session_id, body.to, "signal", data)
        return {"ok": True}

    async def ice(self, b: Binding) -> dict[str, Any]:
        return {"ok": True, "ice_servers": ice_servers(self.core.settings, b.pid, self.now())}

    # ---- chat ---------------------------------------------------------------------------

    async def chat_send(self, b: Binding, body: ChatSendIn) -> dict[str, Any]:
        room = await self._room(b)
        audience = room.chat_audience(b.pid, body.to)
        message, created = await persistence.save_chat(self.core, b, body.client_id, body.text, body.to)
        if created:
            await self._update(b.session_id, lambda r: _apply(r, lambda x: x.chat_sent(message, audience, self.now())))
        return {"ok": True, "message": message, "duplicate": not created}

    async def chat_history(self, b: Binding, body: ChatHistoryIn) -> dict[str, Any]:
        room = await self._room(b)
        ensure_grant(room.seat(b.pid).role, Grant.read_chat)
        if room.seat(b.pid).state is not SeatState.admitted:
            raise NotAdmitted("wait until the mediator admits you")
        messages, more = await persistence.chat_history(self.core, b, body.before, body.limit)
        return {"ok": True, "messages": messages, "has_more": more}

    # ---- minutes --------------------------------------------------------------------------

    async def _minutes_seat(self, b: Binding) -> None:
        """The caller must be admitted (not in the lobby) and read the minutes. When room state is
        unreachable (Redis down) the binding made at connect decides: the minutes do not depend on
        Redis (DESIGN.md), and the service still checks the role's grants."""
        try:
            room = await self.store.view(b.session_id)
        except StoreUnavailable as exc:
            log.warning("minutes of %s without room state (%s): the connection's role decides", b.session_id, exc)
            return
        if room is None:
            raise NotFound("this session has no live room; join first")
        room.check_minutes_reader(b.pid)

    @staticmethod
    def _editor(b: Binding) -> minutes.Editor:
        return minutes.editor_of_participant(b.case_id, b.session_id, b.role, b.actor, b.name)

    async def minutes_get(self, b: Binding) -> dict[str, Any]:
        await self._minutes_seat(b)
        view = await minutes.current(self.core, self._editor(b))
        return {"ok": True, "minutes": view.public()}

    async def minutes_save(self, b: Binding, body: MinutesSaveIn) -> dict[str, Any]:
        """Write the revision to the database, then tell the room (best effort: the revision is
        kept and acknowledged even when the room cannot be told)."""
        await self._minutes_seat(b)
        saved = await minutes.save(
            self.core, self._editor(b), base_revision=body.base_revision, save_id=body.save_id, body=body.document
        )
        view = saved.minutes
        if saved.created:
            # Names the revision, not its text: the room keeps its last events (in Redis too)
            # and replays them on reconnect, and a document may be 200 KiB. Readers fetch it.
            update = {
                "revision": view.revision,
                "base_revision": body.base_revision,
                "sha256": view.sha256,
                "save_id": body.save_id,
                "changes": minutes_rules.brief(saved.changes),
                "by": {"pid": b.pid, "name": b.name, "role": b.role.value},
                "at": wire_time(view.at) if view.at else None,
            }
            await self._tell_room(b.session_id, lambda r: r.minutes_saved(update, self.now()))
        return {"ok": True, "revision": view.revision, "sha256": view.sha256, "duplicate": not saved.created}

    async def _tell_room(self, room_id: str, fn: Any) -> None:
        """Deliver a room event about something already stored; a room that cannot be reached
        (Redis down, or the room gone) is logged, never an error for what was stored."""
        try:
            await self._update(room_id, lambda room: _apply(room, fn))
        except Exception as exc:  # the fact is in the database; only the live update is lost
            log.warning("could not tell room %s: %s", room_id, exc)

    # ---- the rights and obligations notice ------------------------------------------------

    async def notice_present(self, b: Binding) -> dict[str, Any]:
        room = await self._room(b)
        room.check_notice_presenter(b.pid)  # before anything is logged
        shown = await notices.present(self.core, case_id=b.case_id, session_id=b.session_id, role=b.role, actor=b.actor)
        data = {"notice_sha256": shown.sha256, "html": shown.html, "by": {"pid": b.pid, "name": b.name}}
        await self._update(b.session_id, lambda r: _apply(r, lambda x: x.notice_presented(data, self.now())))
        return {"ok": True, "notice_sha256": shown.sha256}

    async def notice_get(self, b: Binding) -> dict[str, Any]:
        """The notice, whether it has been presented in this session, and whether this participant
        has acknowledged it (after a reconnect or a reload)."""
        await self._minutes_seat(b)
        shown = notices.notice(self.core)
        where = await notices.standing(self.core, case_id=b.case_id, session_id=b.session_id, pid=b.pid)
        return {
            "ok": True,
            "notice_sha256": shown.sha256,
            "html": shown.html,
            "presented_at": wire_time(where.presented_at) if where.presented_at else None,
            "acknowledged_at": wire_time(where.acknowledged.at) if where.acknowledged else None,
        }

    async def notice_acknowledge(self, b: Binding, body: NoticeAcknowledgeIn) -> dict[str, Any]:
        await self._minutes_seat(b)
        ack, created = await notices.acknowledge(
            self.core,
            case_id=b.case_id,
            session_id=b.session_id,
            pid=b.pid,
            name=b.name,
            role=b.role,
            actor=b.actor,
            notice_sha256=body.notice_sha256,
            language=body.language,
        )
        if created:
            data = {"pid": b.pid, "name": b.name, "role": b.role.value, "at": wire_time(ack.at)}
            await self._tell_room(b.session_id, lambda r: r.notice_acknowledged(data, self.now()))
        return {"ok": True, "acknowledged_at": wire_time(ack.at), "duplicate": not created}

    # ---- housekeeping -------------------------------------------------------------------

    async def sweep(self) -> None:
        """Release seats whose grace period ran out; end sessions idle for too long."""
        now = self.now()
        for room_id in await self.store.room_ids():
            try:
                # Look before locking: most rooms have nothing to sweep, and an update copies
                # (memory) or round-trips (Redis) the whole room.
                current = await self.store.view(room_id)
                if current is not None and not current.needs_sweep(now, self.grace, self.idle):
                    continue
                gone, idle, case_id = await self._update(room_id, lambda room: _sweep(room, now, self.grace, self.idle))
                for seat in gone:
                    # The seat was released by the server, not by the person: say so.
                    await persistence.record(
                        self.core,
                        case_id,
                        room_id,
                        "leave",
                        Actor.system(SystemReason.grace_expired),
                        {"pid": seat.pid, "reason": "grace period expired"},
                    )
                if idle:
                    await self.end(None, "idle timeout", room_id=room_id)
            except DomainError as exc:
                log.info("sweep %s: %s", room_id, exc.message)
            except Exception:
                log.exception("sweep of room %s failed", room_id)


def _apply(room: Room | None, fn: Any) -> tuple[Room, Any]:
    """A store mutation that runs `fn` on an existing room and keeps the room."""
    room = need_room(room)
    return room, fn(room)


def _sweep(
    room: Room | None, now: float, grace: float, idle: float
) -> tuple[Room | None, tuple[list[Seat], bool, str]]:
    if room is None:
        return None, ([], False, "")
    gone = room.expire(now, grace)
    idle_out = not room.ended and room.empty_since is not None and now - room.empty_since >= idle
    return room, (gone, idle_out, room.case_id)
