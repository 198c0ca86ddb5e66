"""Recorder supervision: a session's recording runs and the worker processes that record them.

RoomService applies what people ask for (start, stop, consent) to the room; the supervisor
keeps each run's records in step and looks after its worker. It starts the worker, hears it
connect and go, replaces one that dies while the run is on (a few times, then stops the run
and says why), relays the worker's signals and segments, resumes a run whose room was lost,
and makes the session's download once the last worker has reported.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from recordings import evidence
from server.domain.actors import Actor, SystemReason
from server.domain.errors import Conflict, NotFound
from server.services.core import Core
from server.storage.recordings import RunStatus

from .binding import Binding, RecorderBinding
from .room import RECORDER_PID, Consent, RecordingState, Room, RoomEvent, recorder_pid
from .schemas import RecorderFailedIn, SegmentIn, SignalIn
from .store.base import Mutation, RoomStore

log = logging.getLogger("heshi.signaling")

T = TypeVar("T")

RECORDER_RESTARTS = 3  # fresh workers for one run within the window, before recording stops
RECORDER_RESTART_WINDOW = 60.0
COMPOSE_WAIT = 60.0  # the download waits this long for the last worker to report its segments

# Told of a worker's exit: recording id, case id, session id, exit code.
ExitHandler = Callable[[str, str, str, int], Awaitable[None]]


class Outbox(Protocol):
    """How the services reach clients; the Socket.IO edge implements it."""

    async def deliver(self, room_id: str, events: list[RoomEvent]) -> None: ...

    async def send(self, room_id: str, pid: str, event: str, data: dict[str, Any]) -> None: ...

    async def disconnect(self, sid: str) -> None: ...


@runtime_checkable
class Recorders(Protocol):
    """This node's recorder workers, one process per recording run (recordings.launcher
    implements it). Everything the supervisor and the edge ask of them is here."""

    # Told of every worker's exit while the node is not closing; the supervisor sets it.
    on_exit: ExitHandler | None

    @property
    def closing(self) -> bool:
        """The node is shutting down: exits are expected and no worker is replaced."""

    async def launch(self, *, recording_id: str, case_id: str, session_id: str, connect_url: str) -> None:
        """Start a worker for a run unless one is running; OSError when none can start."""

    def running(self, recording_id: str) -> bool:
        """A worker this node started for the run has not exited yet."""

    async def wait(self, recording_id: str, timeout: float) -> bool:
        """Until this node's worker for the run has exited (at once if none); False on timeout."""

    async def close(self) -> None:
        """On shutdown: every worker finishes its open segments and exits."""


class Composites(Protocol):
    """Makes a session's one-file download (recordings.composite.CompositeJobs implements it)."""

    def start(self, case_id: str, session_id: str, actor: Actor) -> bool: ...


@dataclass(frozen=True)
class RunToResume:
    """A run cut off from its worker, claimed by this node to go on, with the answers given so far."""

    recording_id: str
    consents: dict[str, Consent]


@dataclass
class _Worker:
    """What this node needs to replace the worker of a session's current run."""

    recording_id: str
    connect_url: str
    restarts: list[float] = field(default_factory=list)  # when fresh workers were started


class RecordingSupervisor:
    def __init__(
        self, core: Core, store: RoomStore, outbox: Outbox, recorders: Recorders, composites: Composites | None = None
    ):
        self.core = core
        self.store = store
        self.outbox = outbox
        self.composites = composites
        self.node_id: str | None = None  # this process in the `nodes` table; owns the runs it starts
        # By session id, the current run's worker on this node. A new run replaces the entry;
        # the session's end, or the exit of a worker whose run is over, removes it.
        self._workers: dict[str, _Worker] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.recorders = recorders

    @property
    def recorders(self) -> Recorders:
        return self._recorders

    @recorders.setter
    def recorders(self, recorders: Recorders) -> None:
        """Whichever launcher starts the workers tells the supervisor of their exits."""
        recorders.on_exit = self.worker_exited
        self._recorders = recorders

    def now(self) -> float:
        return self.core.clock.timestamp()

    async def _update(self, room_id: str, fn: Mutation[T]) -> T:
        """Run a room operation; deliver the events it caused; return its result."""
        result, events = await self.store.update(room_id, fn)
        if events:
            await self.outbox.deliver(room_id, events)
        return result

    def _worker(self, session_id: str, recording_id: str) -> _Worker | None:
        worker = self._workers.get(session_id)
        return worker if worker is not None and worker.recording_id == recording_id else None

    def replacements(self, recording_id: str) -> int:
        """Fresh workers this node has started for a run that is still its session's latest."""
        return sum(len(w.restarts) for w in self._workers.values() if w.recording_id == recording_id)

    # ---- a run's records, as the room asks ----------------------------------------------

    async def open_run(self, case_id: str, session_id: str, actor: Actor) -> str:
        """A new run, owned by this node; it records once the room has taken it."""
        run = await evidence.start_run(
            self.core, case_id=case_id, session_id=session_id, actor=actor, node_id=self.node_id
        )
        return run.id

    async def abandon_run(self, recording_id: str, actor: Actor) -> None:
        """The room refused the run opened for it."""
        await evidence.stop_run(self.core, recording_id, actor=actor, reason="could not start")

    async def save_consent(self, recording_id: str, b: Binding, consent: Consent, language: str) -> None:
        """Stored, with time and person, before anyone is told."""
        person = evidence.Person(b.pid, b.name, b.role.value, b.invitation_id, b.account_id)
        await evidence.save_consent(self.core, recording_id, person, b.actor, consent.value, language)

    async def claim_resume(self, session_id: str, *, room_live: bool, actor: Actor) -> RunToResume | None:
        """The session's run, if it should go on recording from this node now: None when there
        is none, when it is recording somewhere, or when another join or node claimed it first.

        A run is resumed once it was cut off from its worker: `interrupted` (its node restarted
        or stopped answering, whether or not its room outlived it in a shared store), or still
        `active` while its room is gone (the room's state was lost before any sweep noticed).
        The claim is one conditional write, so of everyone rejoining at once, on any node,
        exactly one resumes the run; the log says it was interrupted, then who resumed it."""
        run = await evidence.active_run(self.core, session_id)
        if run is None:
            return None
        if run.status == RunStatus.active:
            if room_live:
                return None
            await evidence.mark_interrupted(
                self.core, run.id, Actor.system(SystemReason.room_lost), reason="the room was lost (server restart)"
            )
        if not await evidence.mark_resumed(self.core, run.id, actor, node_id=self.node_id):
            return None
        consents = await evidence.consents_of(self.core, run.id)
        return RunToResume(run.id, {pid: Consent(c) for pid, c in consents.items()})

    async def resume(
        self, run: RunToResume, case_id: str, session_id: str, connect_url: str, new_room: Callable[[], Room] | None
    ) -> bool:
        """A claimed run goes on: the room takes it back (asking whoever has not answered) and
        a fresh worker records it in new segments. Without `new_room`, only a room that is
        still live takes it; False, and the run interrupted again, when there is none."""
        now = self.now()

        def op(room: Room | None) -> tuple[Room | None, bool]:
            if room is None:
                if new_room is None:
                    return None, False
                room = new_room()
            room.resume_recording(run.recording_id, run.consents, now)
            return room, True

        if not await self._update(session_id, op):
            await evidence.mark_interrupted(
                self.core, run.recording_id, Actor.system(SystemReason.room_lost), reason="its room ended meanwhile"
            )
            return False
        await self.launch(run.recording_id, case_id, session_id, connect_url)
        return True

    async def take_over(self, orphan: evidence.Orphan, connect_url: str) -> bool:
        """A node stopped answering while recording: if the run's room lives on (a shared
        store, with people still in it on other nodes), this node records it from now on
        rather than wait for someone to rejoin."""
        if not orphan.node_lost or await self.store.view(orphan.session_id) is None:
            return False
        run = await self.claim_resume(orphan.session_id, room_live=True, actor=Actor.system(SystemReason.node_lost))
        if run is None:
            return False
        return await self.resume(run, orphan.case_id, orphan.session_id, connect_url, new_room=None)

    async def stopped(self, session_id: str, recording_id: str, actor: Actor, reason: str) -> None:
        """The room stopped recording: the run closes, and its worker finishes its open
        segments, reports them, and exits."""
        await evidence.stop_run(self.core, recording_id, actor=actor, reason=reason)
        await self.to_recorder(
            session_id, recording_id, "recorder.stop", {"recording_id": recording_id, "reason": reason}
        )

    async def session_ended(self, session_id: str, case_id: str, recording_id: str | None, actor: Actor) -> None:
        """The session ended: the run that was on stops, and whatever was recorded becomes
        the session's download."""
        if recording_id is not None:
            await self.stopped(session_id, recording_id, actor, "session_ended")
        if recording_id is not None or await evidence.was_recorded(self.core, session_id):
            self._compose_after(recording_id, case_id, session_id, actor)
        self._workers.pop(session_id, None)

    async def drop(self, session_id: str, recording_id: str, pid: str) -> None:
        """The worker lets go of this person's media at once (consent refused or withdrawn)."""
        await self.to_recorder(session_id, recording_id, "recorder.drop", {"pid": pid})

    async def to_recorder(self, session_id: str, recording_id: str, event: str, data: dict[str, Any]) -> None:
        """To the workers of one run only: a finishing worker of an earlier run hears nothing new."""
        await self.outbox.send(session_id, recorder_pid(recording_id), event, data)

    def _compose_after(self, recording_id: str | None, case_id: str, session_id: str, actor: Actor) -> None:
        """Once the worker has reported its last segments, make the session's download."""
        composites = self.composites
        if composites is None:
            return

        async def later() -> None:
            if recording_id is not None:
                await self.recorders.wait(recording_id, timeout=COMPOSE_WAIT)
            composites.start(case_id, session_id, actor)

        task = asyncio.get_running_loop().create_task(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- the worker ---------------------------------------------------------------------

    async def launch(self, recording_id: str, case_id: str, session_id: str, connect_url: str) -> None:
        """Start the run's worker on this node. One that cannot start stops the run, as a
        worker that fails does."""
        worker = self._worker(session_id, recording_id)
        if worker is None:
            self._workers[session_id] = _Worker(recording_id, connect_url)
        else:
            worker.connect_url = connect_url
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
            room = need_room(room)
            if room.recording.recording_id != rb.recording_id:
                raise Conflict("this recording run is not the session's current one")
            older = room.recording.recorder_sid
            room.recorder_connected(sid, now)
            return room, older if older != sid else None

        older = await self._update(rb.session_id, op)
        if older is not None:
            await self.outbox.disconnect(older)

    async def recorder_down(self, rb: RecorderBinding, sid: str) -> None:
        """A recorder worker's connection closed."""
        now = self.now()

        def op(room: Room | None) -> tuple[Room | None, bool]:
            if room is None or room.recording.recorder_sid != sid:
                return room, False
            room.recorder_connected(None, now)
            return room, room.recording.state is not RecordingState.off

        if not await self._update(rb.session_id, op):
            return
        log.warning("recorder of %s went away while recording was on", rb.session_id)
        if not self.recorders.running(rb.recording_id):
            # Its process has already exited (or ran on another node): replace it from here.
            await self.worker_exited(rb.recording_id, rb.case_id, rb.session_id, -1)
        # Otherwise its exit comes next, and `worker_exited` replaces it then.

    async def worker_exited(self, recording_id: str, case_id: str, session_id: str, code: int) -> None:
        """A recorder worker this node started has exited. If its run is still on and no recorder
        is connected (it crashed, lost the node, or never connected), start a fresh one, a few
        times; the files it finished are kept, and the new one writes new files."""
        if self.recorders.closing or self.recorders.running(recording_id):
            return  # the node is going down (the run resumes after), or a fresh worker is already up
        room = await self.store.view(session_id)
        r = room.recording if room is not None else None
        worker = self._worker(session_id, recording_id)
        if r is None or r.recording_id != recording_id or r.state is RecordingState.off:
            if worker is not None:
                del self._workers[session_id]  # its run is over: nothing will replace this worker
            return
        if r.recorder_sid is not None:
            return
        now = self.now()
        if worker is not None:
            worker.restarts[:] = [t for t in worker.restarts if now - t < RECORDER_RESTART_WINDOW]
        # No worker known here: the run was started on another node, and where a fresh
        # worker would connect is not known on this one.
        if worker is None or len(worker.restarts) >= RECORDER_RESTARTS:
            log.error("recorder of %s keeps failing (exit code %s); recording stops", session_id, code)
            await self.recorder_failed(
                RecorderBinding(recording_id=recording_id, case_id=case_id, session_id=session_id),
                RecorderFailedIn(code="error", message=f"the recorder stopped unexpectedly (exit code {code})"),
            )
            return
        worker.restarts.append(now)
        log.warning("recorder of %s exited with %s while recording was on; starting another", session_id, code)
        await self.launch(recording_id, case_id, session_id, worker.connect_url)

    # ---- what a worker sends ------------------------------------------------------------

    async def recorder_signal(self, rb: RecorderBinding, body: SignalIn) -> dict[str, Any]:
        room = await self.store.view(rb.session_id)
        if room is None:
            raise NotFound("this session has no live room")
        room.relay_check(RECORDER_PID, body.to)
        await self.outbox.send(rb.session_id, body.to, "signal", relayed(RECORDER_PID, body))
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
            await self.stopped(rb.session_id, stopped, rb.actor, reason)
        return {"ok": True}


def relayed(sender: str, body: SignalIn) -> dict[str, Any]:
    """A signal as its recipient gets it: the sender named by the server, never by the client."""
    data: dict[str, Any] = {"from": sender, "type": body.type}
    if body.sdp is not None:
        data["sdp"] = body.sdp
    if body.candidate is not None:
        data["candidate"] = body.candidate.model_dump(exclude_none=True)
    return data


def need_room(room: Room | None) -> Room:
    if room is None:
        raise NotFound("this session has no live room; join first")
    return room
