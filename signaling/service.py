"""The room service: applies room operations through the store, persists what must outlive
the room, and hands events to the edge. Handlers in server.py call one method each."""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any, Literal, Protocol

from recordings import evidence
from server.domain.actors import Actor, SystemReason
from server.domain.errors import Conflict, DomainError, NotFound
from server.domain.grants import Grant, SessionRole, ensure_grant
from server.domain.sessions import SessionStatus
from server.services import invitations, sessions
from server.services.core import Core

from . import persistence
from .binding import Binding, RecorderBinding
from .ice import ice_servers
from .room import RECORDER_PID, Consent, RecordingState, Room, RoomEnded, RoomEvent, Seat, SeatState, recorder_pid
from .schemas import ChatHistoryIn, ChatSendIn, JoinIn, RecorderFailedIn, SegmentIn, SignalIn
from .store.base import RoomStore

log = logging.getLogger("heshi.signaling")


class Outbox(Protocol):
    """How the service reaches clients; the Socket.IO edge implements it."""

    async def deliver(self, room_id: str, events: list[RoomEvent]) -> None: ...

    async def send(self, room_id: str, pid: str, event: str, data: dict[str, Any]) -> None: ...

    async def disconnect(self, sid: str) -> None: ...


RECORDER_RESTARTS = 3  # fresh workers for one run within the window, before recording stops
RECORDER_RESTART_WINDOW = 60.0


class Recorders(Protocol):
    """Starts recorder workers (recordings.launcher implements it)."""

    async def launch(self, *, recording_id: str, case_id: str, session_id: str, connect_url: str) -> None: ...


class RoomService:
    def __init__(
        self, core: Core, store: RoomStore, outbox: Outbox, recorders: Recorders | None = None, composites: Any = None
    ):
        self.core = core
        self.composites = composites  # recordings.composite.CompositeJobs: the download, made after the session
        self.store = store
        self.outbox = outbox
        self.recorders = recorders
        self.node_id: str | None = None  # this process in the `nodes` table; owns the runs it starts
        self._recorder_urls: dict[str, str] = {}  # recording id -> where its workers connect
        self._recorder_restarts: dict[str, list[float]] = {}
        self._background: set[asyncio.Task[None]] = set()
        if recorders is not None and hasattr(recorders, "on_exit"):
            recorders.on_exit = self.worker_exited
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

        # A session that was recording when its room was lost (a restart) goes on recording.
        # Everyone rejoins at once after a restart: only the join that makes the room resumes.
        resume = None
        if await self.store.view(b.session_id) is None:
            run = await evidence.active_run(self.core, b.session_id)
            if run is not None:
                resume = (run.id, {p: Consent(c) for p, c in (await evidence.consents_of(self.core, run.id)).items()})
        resumed_here: list[bool] = []

        def op(room: Room | None) -> tuple[Room, tuple[Any, dict[str, Any]]]:
            if room is None:
                room = Room(room_id=b.session_id, case_id=b.case_id, max_publishers=self.core.settings.max_publishers)
                if resume is not None:
                    room.resume_recording(resume[0], resume[1], now)
                    resumed_here.append(True)
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
        if resume is not None and resumed_here:
            await evidence.mark_interrupted(
                self.core, resume[0], Actor.system(SystemReason.room_lost), reason="the room was lost (server restart)"
            )
            await evidence.mark_resumed(self.core, resume[0], b.actor, node_id=self.node_id)
            await self._launch_recorder(resume[0], b.case_id, b.session_id, connect_url)
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
            room = _need(room)
            recording.append(room.recording.recording_id)  # read under the lock: a start may race the end
            room.end(b.pid if b else None, reason, now)
            return room, room

        room = await self._update(room_id, op)
        recording_id = recording[-1]
        actor = b.actor if b else Actor.system(SystemReason.idle_timeout)
        if recording_id is not None:
            await self._recording_stopped(room_id, recording_id, actor, "session_ended")
        if recording_id is not None or await evidence.was_recorded(self.core, room_id):
            self._compose_after(recording_id, room.case_id, room_id, actor)
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
        run = await evidence.start_run(
            self.core, case_id=case_id, session_id=session_id, actor=actor, node_id=self.node_id
        )
        now = self.now()
        try:
            await self._update(
                session_id, lambda r: _apply(r, lambda r: r.start_recording(b.pid if b else None, run.id, now))
            )
        except DomainError:
            await evidence.stop_run(self.core, run.id, actor=actor, reason="could not start")
            raise
        await self._launch_recorder(run.id, case_id, session_id, connect_url)
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
        # Stored, with time and person, before anyone is told.
        await evidence.save_consent(
            self.core,
            recording_id,
            evidence.Person(b.pid, b.name, b.role.value, b.invitation_id, b.account_id),
            b.actor,
            decision.value,
            language,
        )
        now = self.now()

        def op(r: Room | None) -> tuple[Room, Consent | None]:
            r = _need(r)
            was = r.recording.consents.get(b.pid)
            r.answer_consent(b.pid, decision, now)
            return r, was

        try:
            was = await self._update(b.session_id, op)
        except DomainError:
            if decision is Consent.refused:  # stored as refused: never keep recording them
                await self._to_recorder(b.session_id, recording_id, "recorder.drop", {"pid": b.pid})
            raise
        if was is Consent.granted and decision is Consent.refused:
            # A yes withdrawn: the recorder lets go of this person's media at once.
            await self._to_recorder(b.session_id, recording_id, "recorder.drop", {"pid": b.pid})
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
        await self._recording_stopped(session_id, recording_id, actor, reason or "stopped by the mediator")
        return {"ok": True}

    async def _recording_stopped(self, session_id: str, recording_id: str, actor: Actor, reason: str) -> None:
        await evidence.stop_run(self.core, recording_id, actor=actor, reason=reason)
        # The recorder finishes its open segments, reports them, and exits.
        await self._to_recorder(
            session_id, recording_id, "recorder.stop", {"recording_id": recording_id, "reason": reason}
        )

    async def _to_recorder(self, session_id: str, recording_id: str, event: str, data: dict[str, Any]) -> None:
        """To the workers of one run only: a finishing worker of an earlier run hears nothing new."""
        await self.outbox.send(session_id, recorder_pid(recording_id), event, data)

    def _compose_after(self, recording_id: str | None, case_id: str, session_id: str, actor: Actor) -> None:
        """Once the recorder has reported its last segments, make the session's download."""
        if self.composites is None:
            return

        async def later() -> None:
            wait = getattr(self.recorders, "wait", None)
            if wait is not None and recording_id is not None:
                await wait(recording_id, timeout=60.0)
            self.composites.start(case_id, session_id, actor)

        task = asyncio.get_running_loop().create_task(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _launch_recorder(self, recording_id: str, case_id: str, session_id: str, connect_url: str) -> None:
        self._recorder_urls[recording_id] = connect_url
        if self.recorders is None:
            log.warning("recording %s has no recorder launcher on this node", recording_id)
            return
        try:
            await self.recorders.launch(
                recording_id=recording_id, case_id=case_id, session_id=session_id, connect_url=connect_url
            )
        except OSError as exc:  # no disk for its directory, no process
            log.error("cannot start the recorder for %s: %s", recording_id, exc)
            code: Literal["disk_full", "error"] = "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "error"
            await self.recorder_failed(
                RecorderBinding(recording_id=recording_id, case_id=case_id, session_id=session_id),
                RecorderFailedIn(code=code, message=f"cannot start the recorder: {exc}"[:500]),
            )

    async def recorder_up(self, rb: RecorderBinding, sid: str) -> None:
        """A recorder worker connected. One per room: an older one still connected is let go."""
        now = self.now()

        def op(room: Room | None) -> tuple[Room, str | None]:
            room = _need(room)
            if room.recording.recording_id != rb.recording_id:
                raise Conflict("this recording run is not the session's current one")
            older = room.recording.recorder_sid
            room.recorder_connected(sid, now)
            return room, older if older != sid else None

        older = await self._update(rb.session_id, op)
        if older is not None:
            await self.outbox.disconnect(older)

    async def recorder_down(self, rb: RecorderBinding, sid: str) -> None:
        now = self.now()

        def op(room: Room | None) -> tuple[Room | None, bool]:
            if room is None or room.recording.recorder_sid != sid:
                return room, False
            room.recorder_connected(None, now)
            return room, room.recording.state is not RecordingState.off

        if not await self._update(rb.session_id, op):
            return
        log.warning("recorder of %s went away while recording was on", rb.session_id)
        running = getattr(self.recorders, "running", None)
        if running is None or not running(rb.recording_id):
            # Its process has already exited (or ran on another node): replace it from here.
            await self.worker_exited(rb.recording_id, rb.case_id, rb.session_id, -1)
        # Otherwise its exit comes next, and `worker_exited` replaces it then.

    async def worker_exited(self, recording_id: str, case_id: str, session_id: str, code: int) -> None:
        """A recorder worker this node started has exited. If its run is still on and no recorder
        is connected (it crashed, lost the node, or never connected), start a fresh one, a few
        times; the files it finished are kept, and the new one writes new files."""
        running = getattr(self.recorders, "running", None)
        if getattr(self.recorders, "closing", False) or (running is not None and running(recording_id)):
            return  # the node is going down (the run resumes after), or a fresh worker is already up
        room = await self.store.view(session_id)
        r = room.recording if room is not None else None
        if r is None or r.recording_id != recording_id or r.state is RecordingState.off or r.recorder_sid is not None:
            return
        restarts = self._recorder_restarts.setdefault(recording_id, [])
        now = self.now()
        restarts[:] = [t for t in restarts if now - t < RECORDER_RESTART_WINDOW]
        url = self._recorder_urls.get(recording_id)
        rb = RecorderBinding(recording_id=recording_id, case_id=case_id, session_id=session_id)
        if len(restarts) >= RECORDER_RESTARTS or url is None:
            log.error("recorder of %s keeps failing (exit code %s); recording stops", session_id, code)
            await self.recorder_failed(
                rb, RecorderFailedIn(code="error", message=f"the recorder stopped unexpectedly (exit code {code})")
            )
            return
        restarts.append(now)
        log.warning("recorder of %s exited with %s while recording was on; starting another", session_id, code)
        await self._launch_recorder(recording_id, case_id, session_id, url)

    async def recorder_signal(self, rb: RecorderBinding, body: SignalIn) -> dict[str, Any]:
        room = await self.store.view(rb.session_id)
        if room is None:
            raise NotFound("this session has no live room")
        room.relay_check(RECORDER_PID, body.to)
        await self.outbox.send(rb.session_id, body.to, "signal", _relayed(RECORDER_PID, body))
        return {"ok": True}

    async def recorder_segment(self, rb: RecorderBinding, body: SegmentIn) -> dict[str, Any]:
        segment_id = await evidence.save_segment(self.core, rb.recording_id, rb.actor, body.model_dump())
        return {"ok": True, "segment_id": segment_id}

    async def recorder_failed(self, rb: RecorderBinding, body: RecorderFailedIn) -> dict[str, Any]:
        """The recorder cannot go on (a full disk): stop cleanly and tell the mediator why.
        A `track_error` (one track it cannot write, e.g. an unsupported codec) is logged only."""
        await evidence.note(
            self.core,
            rb.recording_id,
            rb.actor,
            f"recording.{body.code}",
            {"message": body.message, **({"pid": body.pid} if body.pid else {})},
        )
        if body.code == "track_error":
            return {"ok": True}
        now = self.now()
        reason = {"disk_full": "disk_full", "disk_error": "disk_error"}.get(body.code, "recorder_error")

        def op(room: Room | None) -> tuple[Room | None, str | None]:
            if room is None or room.recording.recording_id != rb.recording_id:
                return room, None
            return room, room.stop_recording(None, reason, now)

        stopped = await self._update(rb.session_id, op)
        if stopped is not None:
            await self._recording_stopped(rb.session_id, stopped, rb.actor, reason)
        return {"ok": True}

    async def signal(self, b: Binding, body: SignalIn) -> dict[str, Any]:
        room = await self._room(b)
        room.relay_check(b.pid, body.to)
        data = _relayed(b.pid, body)
        if body.to == RECORDER_PID:
            assert room.recording.recording_id is not None
            await self._to_recorder(b.session_id, room.recording.recording_id, "signal", data)
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
            from .room import NotAdmitted

            raise NotAdmitted("wait until the mediator admits you")
        messages, more = await persistence.chat_history(self.core, b, body.before, body.limit)
        return {"ok": True, "messages": messages, "has_more": more}

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


def _relayed(sender: str, body: SignalIn) -> dict[str, Any]:
    """A signal as its recipient gets it: the sender named by the server, never by the client."""
    data: dict[str, Any] = {"from": sender, "type": body.type}
    if body.sdp is not None:
        data["sdp"] = body.sdp
    if body.candidate is not None:
        data["candidate"] = body.candidate.model_dump(exclude_none=True)
    return data


def _need(room: Room | None) -> Room:
    if room is None:
        raise NotFound("this session has no live room; join first")
    return room


def _apply(room: Room | None, fn: Any) -> tuple[Room, Any]:
    """A store mutation that runs `fn` on an existing room and keeps the room."""
    room = _need(room)
    return room, fn(room)


def _sweep(
    room: Room | None, now: float, grace: float, idle: float
) -> tuple[Room | None, tuple[list[Seat], bool, str]]:
    if room is None:
        return None, ([], False, "")
    gone = room.expire(now, grace)
    idle_out = not room.ended and room.empty_since is not None and now - room.empty_since >= idle
    return room, (gone, idle_out, room.case_id)
