"""The recording supervisor's decisions about recorder workers, without sockets or processes.

The room, the room store (memory and Redis) and the database are real; the workers are
`Workers`, a complete Recorders whose processes run until a test makes them exit, reported as
RecorderLauncher reports an exit. One test runs the real launcher, with a "python" that exits
at once.
"""

from __future__ import annotations

import asyncio
import errno
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from recordings import evidence
from recordings.launcher import RecorderLauncher
from server.domain.actors import Actor
from server.domain.errors import Conflict
from server.domain.grants import SessionRole
from server.services.core import Core
from server.storage.models import CaseEvent, Recording
from signaling.binding import Binding, RecorderBinding
from signaling.room import RecordingState, Room, RoomEvent, recorder_pid
from signaling.schemas import JoinIn, RecorderFailedIn
from signaling.service import RoomService
from signaling.store.base import RoomStore
from signaling.store.memory import MemoryRoomStore
from signaling.store.redis import RedisRoomStore
from signaling.supervisor import (
    RECORDER_RESTART_WINDOW,
    RECORDER_RESTARTS,
    ExitHandler,
    Recorders,
    RecordingSupervisor,
)
from tests.conftest import World
from tests.support.services import redis_url
from tests.support.waiting import wait_for

URL = "http://127.0.0.1:9"  # where workers would connect; nothing is ever sent there


@dataclass
class _Process:
    case_id: str
    session_id: str
    exited: asyncio.Event = field(default_factory=asyncio.Event)


class Workers:
    """Recorders without processes: a worker runs from `launch` until `exit` ends it."""

    def __init__(self, *, cannot_start: OSError | None = None) -> None:
        self.on_exit: ExitHandler | None = None
        self.closing = False
        self.cannot_start = cannot_start
        self.launched: list[dict[str, str]] = []
        self.processes: dict[str, _Process] = {}

    async def launch(self, *, recording_id: str, case_id: str, session_id: str, connect_url: str) -> None:
        if self.running(recording_id):
            return
        if self.cannot_start is not None:
            raise self.cannot_start
        self.launched.append({"recording_id": recording_id, "session_id": session_id, "connect_url": connect_url})
        self.processes[recording_id] = _Process(case_id, session_id)

    def running(self, recording_id: str) -> bool:
        return recording_id in self.processes

    async def wait(self, recording_id: str, timeout: float) -> bool:
        process = self.processes.get(recording_id)
        if process is None:
            return True
        try:
            await asyncio.wait_for(process.exited.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def exit(self, recording_id: str, code: int) -> None:
        """The worker's process ends: forgotten first, then reported, as the launcher does."""
        process = self.processes.pop(recording_id)
        process.exited.set()
        if self.on_exit is not None and not self.closing:
            await self.on_exit(recording_id, process.case_id, process.session_id, code)

    async def close(self) -> None:
        self.closing = True
        for recording_id in list(self.processes):
            await self.exit(recording_id, -15)


class Wire:
    """The Outbox: what would have gone to clients and to workers."""

    def __init__(self) -> None:
        self.events: list[RoomEvent] = []
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.disconnected: list[str] = []

    async def deliver(self, room_id: str, events: list[RoomEvent]) -> None:
        self.events.extend(events)

    async def send(self, room_id: str, pid: str, event: str, data: dict[str, Any]) -> None:
        self.sent.append((pid, event, data))

    async def disconnect(self, sid: str) -> None:
        self.disconnected.append(sid)

    def to_workers_of(self, recording_id: str) -> list[str]:
        return [event for pid, event, _ in self.sent if pid == recorder_pid(recording_id)]


class Downloads:
    """The Composites: which sessions' downloads were asked for."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, case_id: str, session_id: str, actor: Actor) -> bool:
        self.started.append(session_id)
        return True


@dataclass
class Node:
    core: Core
    store: RoomStore
    wire: Wire
    workers: Workers
    downloads: Downloads
    supervisor: RecordingSupervisor
    service: RoomService
    mediator: Binding
    runs: set[str] = field(default_factory=set)

    async def room(self) -> Room:
        room = await self.store.view(self.mediator.session_id)
        assert room is not None
        return room

    async def start_recording(self) -> str:
        b = self.mediator
        ack = await self.service.recording_start(
            b.session_id, b.case_id, b=b, role=b.role, actor=b.actor, connect_url=URL
        )
        assert ack["ok"]
        # The run the call opened: the ack names it only while recording is still on.
        async with self.core.db.read() as s:
            runs = (await s.execute(select(Recording.id).where(Recording.session_id == b.session_id))).scalars()
            opened = set(runs) - self.runs
        assert len(opened) == 1
        self.runs |= opened
        return opened.pop()

    def recorder(self, recording_id: str) -> RecorderBinding:
        return RecorderBinding(
            recording_id=recording_id, case_id=self.mediator.case_id, session_id=self.mediator.session_id
        )

    async def run_row(self, recording_id: str) -> Recording:
        async with self.core.db.read() as s:
            run = await s.get(Recording, recording_id)
        assert run is not None
        return run

    async def recorder_up_for(self, recording_id: str) -> None:
        await self.supervisor.recorder_up(self.recorder(recording_id), f"recorder-sid-{recording_id}")

    async def log_kinds(self) -> list[str]:
        async with self.core.db.read() as s:
            return list((await s.execute(select(CaseEvent.kind).order_by(CaseEvent.seq))).scalars())


def make_node(core: Core, world: World, store: RoomStore, workers: Workers) -> Node:
    wire, downloads = Wire(), Downloads()
    supervisor = RecordingSupervisor(core, store, wire, workers, downloads)
    account_id = world.principals["demo-mediator"].account_id
    mediator = Binding(
        pid=f"a:{account_id}",
        name="mediator",
        role=SessionRole.mediator,
        case_id=world.demo.case_id,
        session_id=world.demo.session_id,
        invitation_id=None,
        account_id=account_id,
        direct_entry=True,
    )
    return Node(core, store, wire, workers, downloads, supervisor, RoomService(core, store, wire, supervisor), mediator)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RoomStore]:
    """A room store of each kind; Redis under a key prefix of this test's own, emptied afterwards."""
    if request.param == "memory":
        yield MemoryRoomStore()
        return
    url, prefix = redis_url(), f"heshi-test-{uuid.uuid4().hex[:12]}:"
    redis_store = RedisRoomStore(url, prefix=prefix)
    try:
        yield redis_store
    finally:
        await redis_store.close()
        client = aioredis.from_url(url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest.fixture
async def node(core: Core, world: World, store: RoomStore) -> Node:
    """The demo's mediator alone in a live room, on a node whose workers are `Workers`."""
    n = make_node(core, world, store, Workers())
    assert (await n.service.join(n.mediator, "mediator-sid", JoinIn(), connect_url=URL))["ok"]
    return n


# ---- the protocol ----------------------------------------------------------------------------


def test_the_launcher_and_the_fake_workers_have_every_member_of_recorders(core: Core) -> None:
    assert isinstance(RecorderLauncher(core.settings), Recorders)
    assert isinstance(Workers(), Recorders)


async def test_the_supervisor_hears_the_exits_of_whichever_launcher_it_is_given(node: Node) -> None:
    assert node.workers.on_exit == node.supervisor.worker_exited
    other = Workers()
    node.supervisor.recorders = other
    assert other.on_exit == node.supervisor.worker_exited


# ---- a worker exits --------------------------------------------------------------------------


async def test_a_worker_that_exits_while_its_run_is_on_is_replaced_at_the_same_address(node: Node) -> None:
    run = await node.start_recording()
    assert node.workers.launched == [{"recording_id": run, "session_id": node.mediator.session_id, "connect_url": URL}]

    await node.workers.exit(run, 1)

    assert len(node.workers.launched) == 2 and node.workers.launched[1]["connect_url"] == URL
    assert node.workers.running(run)
    assert node.supervisor.replacements(run) == 1
    assert (await node.room()).recording.state is not RecordingState.off
    assert (await node.run_row(run)).status == "active"


async def test_a_worker_that_keeps_dying_is_replaced_three_times_then_the_run_stops_as_a_recorder_error(
    node: Node,
) -> None:
    run = await node.start_recording()
    for _ in range(RECORDER_RESTARTS):
        await node.workers.exit(run, 1)
    assert len(node.workers.launched) == 1 + RECORDER_RESTARTS

    await node.workers.exit(run, 1)

    assert len(node.workers.launched) == 1 + RECORDER_RESTARTS, "no fourth replacement"
    assert (await node.room()).recording.state is RecordingState.off
    stopped = [e for e in node.wire.events if e.type == "recording.updated" and e.data.get("stop_reason")]
    assert stopped and stopped[-1].data["stop_reason"] == "recorder_error"
    row = await node.run_row(run)
    assert (row.status, row.stop_reason) == ("stopped", "recorder_error")
    assert "recording.error" in await node.log_kinds()
    assert node.wire.to_workers_of(run)[-1] == "recorder.stop"
    assert node.supervisor.replacements(run) == RECORDER_RESTARTS


async def test_replacements_older_than_the_window_no_longer_count(node: Node, clock: Any) -> None:
    run = await node.start_recording()
    for _ in range(RECORDER_RESTARTS):
        await node.workers.exit(run, 1)
    clock.advance(seconds=RECORDER_RESTART_WINDOW + 1)

    await node.workers.exit(run, 1)

    assert len(node.workers.launched) == 2 + RECORDER_RESTARTS
    assert node.supervisor.replacements(run) == 1
    assert (await node.room()).recording.state is not RecordingState.off


async def test_workers_that_exit_while_the_node_closes_are_not_replaced_and_the_run_stays_open(node: Node) -> None:
    run = await node.start_recording()

    await node.workers.close()
    await node.supervisor.worker_exited(run, node.mediator.case_id, node.mediator.session_id, -15)

    assert len(node.workers.launched) == 1
    assert (await node.room()).recording.state is not RecordingState.off
    assert (await node.run_row(run)).status == "active", "the run resumes when the node is back"


async def test_a_reported_exit_is_ignored_while_a_worker_for_the_run_is_running(node: Node) -> None:
    run = await node.start_recording()

    await node.supervisor.worker_exited(run, node.mediator.case_id, node.mediator.session_id, 1)

    assert len(node.workers.launched) == 1
    assert node.supervisor.replacements(run) == 0


async def test_a_worker_that_exits_while_another_recorder_is_connected_is_not_replaced(node: Node) -> None:
    run = await node.start_recording()
    await node.supervisor.recorder_up(node.recorder(run), "recorder-sid")

    await node.workers.exit(run, 1)

    assert len(node.workers.launched) == 1
    assert (await node.room()).recording.recorder_sid == "recorder-sid"


async def test_the_worker_of_a_stopped_run_exits_without_a_replacement_and_is_forgotten(node: Node) -> None:
    run = await node.start_recording()
    b = node.mediator
    assert (await node.service.recording_stop(b.session_id, b=b, actor=b.actor, reason=""))["ok"]
    assert node.wire.to_workers_of(run) == ["recorder.stop"]

    await node.workers.exit(run, 0)

    assert len(node.workers.launched) == 1
    assert node.supervisor._workers == {}


async def test_the_last_worker_of_an_earlier_run_leaves_the_current_run_alone(node: Node) -> None:
    b = node.mediator
    first = await node.start_recording()
    assert (await node.service.recording_stop(b.session_id, b=b, actor=b.actor, reason=""))["ok"]
    second = await node.start_recording()

    await node.workers.exit(first, 0)

    assert [w["recording_id"] for w in node.workers.launched] == [first, second]
    assert (await node.room()).recording.recording_id == second
    assert node.workers.running(second)


# ---- a worker's connection goes --------------------------------------------------------------


async def test_a_recorder_that_disconnects_is_replaced_once_its_process_has_exited(node: Node) -> None:
    run = await node.start_recording()
    await node.supervisor.recorder_up(node.recorder(run), "recorder-sid")

    await node.supervisor.recorder_down(node.recorder(run), "recorder-sid")
    assert len(node.workers.launched) == 1, "its process is still running: its exit comes next"
    await node.workers.exit(run, 1)

    assert len(node.workers.launched) == 2
    assert (await node.room()).recording.recorder_sid is None


async def test_a_recorder_whose_process_is_gone_is_replaced_when_it_disconnects(node: Node) -> None:
    run = await node.start_recording()
    await node.supervisor.recorder_up(node.recorder(run), "recorder-sid")
    node.workers.processes.pop(run)  # gone before its connection closed, its exit unreported

    await node.supervisor.recorder_down(node.recorder(run), "recorder-sid")

    assert len(node.workers.launched) == 2


async def test_a_recorder_that_ran_on_another_node_cannot_be_replaced_here_so_the_run_stops(
    core: Core, world: World, node: Node
) -> None:
    run = await node.start_recording()
    elsewhere = make_node(core, world, node.store, Workers())  # the same rooms, other workers
    await elsewhere.supervisor.recorder_up(node.recorder(run), "recorder-sid")

    await elsewhere.supervisor.recorder_down(node.recorder(run), "recorder-sid")

    assert elsewhere.workers.launched == []
    assert (await node.room()).recording.state is RecordingState.off
    assert (await node.run_row(run)).stop_reason == "recorder_error"


async def test_a_second_recorder_for_the_run_lets_the_older_one_go(node: Node) -> None:
    run = await node.start_recording()
    await node.supervisor.recorder_up(node.recorder(run), "old-sid")

    await node.supervisor.recorder_up(node.recorder(run), "new-sid")

    assert node.wire.disconnected == ["old-sid"]
    assert (await node.room()).recording.recorder_sid == "new-sid"


async def test_a_recorder_of_a_run_that_is_not_the_sessions_current_one_is_refused(node: Node) -> None:
    run = await node.start_recording()
    b = node.mediator
    await node.service.recording_stop(b.session_id, b=b, actor=b.actor, reason="")

    with pytest.raises(Conflict):
        await node.supervisor.recorder_up(node.recorder(run), "recorder-sid")


# ---- a worker cannot go on -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason", "logged"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "disk_full", "recording.disk_full"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk_full", "recording.disk_full"),
        (OSError(errno.EROFS, "Read-only file system"), "recorder_error", "recording.error"),
    ],
)
async def test_a_worker_that_cannot_start_stops_the_run_and_says_why(
    node: Node, error: OSError, reason: str, logged: str
) -> None:
    node.workers.cannot_start = error
    run = await node.start_recording()

    assert (await node.room()).recording.state is RecordingState.off
    row = await node.run_row(run)
    assert (row.status, row.stop_reason) == ("stopped", reason)
    assert logged in await node.log_kinds()
    assert node.workers.processes == {}


async def test_a_track_the_recorder_cannot_write_is_logged_and_recording_goes_on(node: Node) -> None:
    run = await node.start_recording()

    ack = await node.supervisor.recorder_failed(
        node.recorder(run), RecorderFailedIn(code="track_error", message="unsupported codec", pid=node.mediator.pid)
    )

    assert ack == {"ok": True}
    assert (await node.room()).recording.state is not RecordingState.off
    assert "recording.track_error" in await node.log_kinds()
    assert "recorder.stop" not in node.wire.to_workers_of(run)


async def test_a_disk_error_stops_the_run_and_tells_its_workers(node: Node) -> None:
    run = await node.start_recording()

    await node.supervisor.recorder_failed(node.recorder(run), RecorderFailedIn(code="disk_error", message="EIO"))

    assert (await node.room()).recording.state is RecordingState.off
    assert (await node.run_row(run)).stop_reason == "disk_error"
    assert node.wire.to_workers_of(run) == ["recorder.stop"]


async def test_a_failure_reported_for_an_earlier_run_stops_nothing(node: Node) -> None:
    b = node.mediator
    first = await node.start_recording()
    await node.service.recording_stop(b.session_id, b=b, actor=b.actor, reason="")
    second = await node.start_recording()

    await node.supervisor.recorder_failed(node.recorder(first), RecorderFailedIn(code="disk_full", message="full"))

    assert (await node.room()).recording.recording_id == second
    assert (await node.run_row(second)).status == "active"
    assert node.wire.to_workers_of(second) == []


# ---- the end of the session, and a room that was lost ----------------------------------------


async def test_the_download_is_made_once_the_last_worker_has_reported(node: Node) -> None:
    run = await node.start_recording()

    await node.service.end(node.mediator, "done")
    await asyncio.sleep(0)
    assert node.downloads.started == [], "its worker is still writing its last segments"
    await node.workers.exit(run, 0)

    async def asked() -> bool:
        return node.downloads.started == [node.mediator.session_id]

    await wait_for(asked, 5, "the download to be asked for")
    assert node.supervisor._workers == {}


async def test_a_session_that_recorded_nothing_gets_no_download(node: Node) -> None:
    await node.service.end(node.mediator, "done")
    await asyncio.sleep(0)

    assert node.downloads.started == []


async def test_the_join_that_makes_a_lost_room_again_resumes_its_run_with_a_fresh_worker(node: Node) -> None:
    run = await node.start_recording()
    await node.store.update(node.mediator.session_id, lambda room: (None, None))  # the room is lost
    await node.workers.exit(run, -9)  # and its worker with it: nothing to replace without a room

    assert (await node.service.join(node.mediator, "mediator-sid-2", JoinIn(), connect_url=URL))["ok"]

    assert len(node.workers.launched) == 2 and node.workers.running(run)
    room = await node.room()
    assert room.recording.recording_id == run and room.recording.interrupted
    kinds = await node.log_kinds()
    assert kinds.index("recording.interrupted") < kinds.index("recording.resumed")
    assert (await evidence.active_run(node.core, node.mediator.session_id)) is not None


def other_person(node: Node, world: World) -> Binding:
    """A second person in the room: the demo's expert."""
    b, account_id = node.mediator, world.principals["demo-expert"].account_id
    return Binding(
        pid=f"a:{account_id}",
        name="expert",
        role=SessionRole.expert,
        case_id=b.case_id,
        session_id=b.session_id,
        invitation_id=None,
        account_id=account_id,
        direct_entry=True,
    )


async def node_goes_down(node: Node, run: str) -> list[evidence.Orphan]:
    """The node dies with its worker (no exit is reported), and a live node notices."""
    node.workers.processes.pop(run)
    return await evidence.interrupt_orphaned(node.core, {}, me_name="another-node")


async def test_a_room_that_outlived_its_node_resumes_its_run_once_though_everyone_rejoins_at_once(
    node: Node, core: Core, world: World
) -> None:
    run = await node.start_recording()
    expert = other_person(node, world)
    assert (await node.service.join(expert, "expert-sid", JoinIn(), connect_url=URL))["ok"]
    await node.recorder_up_for(run)
    assert [o.recording_id for o in await node_goes_down(node, run)] == [run]
    assert (await node.room()).recording.recorder_sid is not None  # the room still names the dead worker

    survivor = make_node(core, world, node.store, Workers())
    acks = await asyncio.gather(
        survivor.service.join(node.mediator, "mediator-sid-2", JoinIn(), connect_url=URL),
        survivor.service.join(expert, "expert-sid-2", JoinIn(), connect_url=URL),
    )

    assert all(a["ok"] for a in acks)
    assert [w["recording_id"] for w in survivor.workers.launched] == [run]
    room = await node.room()
    assert room.recording.recording_id == run and room.recording.interrupted
    assert room.recording.recorder_sid is None  # until the fresh worker connects
    kinds = await node.log_kinds()
    assert kinds.count("recording.interrupted") == 1 and kinds.count("recording.resumed") == 1
    assert kinds.index("recording.interrupted") < kinds.index("recording.resumed")
    assert (await node.run_row(run)).status == "active"


async def test_a_join_while_the_run_records_on_a_live_node_resumes_nothing(node: Node, world: World) -> None:
    run = await node.start_recording()
    assert (await node.service.join(other_person(node, world), "expert-sid", JoinIn(), connect_url=URL))["ok"]
    assert [w["recording_id"] for w in node.workers.launched] == [run]
    assert "recording.resumed" not in await node.log_kinds()


async def test_when_a_node_stops_answering_another_takes_over_its_run_while_the_room_lives_on(
    node: Node, core: Core, world: World
) -> None:
    run = await node.start_recording()
    (orphan,) = await node_goes_down(node, run)
    orphan = evidence.Orphan(orphan.recording_id, orphan.case_id, orphan.session_id, node_lost=True)
    survivor = make_node(core, world, node.store, Workers())

    assert await survivor.supervisor.take_over(orphan, URL)
    assert not await survivor.supervisor.take_over(orphan, URL)  # once

    assert [w["recording_id"] for w in survivor.workers.launched] == [run]
    assert (await node.room()).recording.interrupted
    async with core.db.read() as s:
        resumed = (await s.execute(select(CaseEvent).where(CaseEvent.kind == "recording.resumed"))).scalar_one()
    assert resumed.actor == "system:node-lost"


async def test_no_take_over_of_a_restarted_nodes_run_nor_of_one_whose_room_is_gone(
    node: Node, core: Core, world: World
) -> None:
    run = await node.start_recording()
    (restarted,) = await node_goes_down(node, run)
    survivor = make_node(core, world, node.store, Workers())
    assert not restarted.node_lost
    assert not await survivor.supervisor.take_over(restarted, URL)  # its people rejoin it

    await node.store.update(node.mediator.session_id, lambda room: (None, None))  # the room is gone too
    lost = evidence.Orphan(run, restarted.case_id, restarted.session_id, node_lost=True)
    assert not await survivor.supervisor.take_over(lost, URL)
    assert survivor.workers.launched == []
    assert (await node.run_row(run)).status == "interrupted"  # the next join resumes it


# ---- the real launcher -----------------------------------------------------------------------


async def test_with_the_real_launcher_a_worker_that_never_starts_is_replaced_then_the_run_stops(
    core: Core, world: World, store: RoomStore
) -> None:
    launcher = RecorderLauncher(core.settings, clock=core.clock, python="/bin/false")  # exits with 1 at once
    n = make_node(core, world, store, Workers())
    n.supervisor.recorders = launcher
    assert (await n.service.join(n.mediator, "mediator-sid", JoinIn(), connect_url=URL))["ok"]
    run = await n.start_recording()

    async def stopped() -> bool:
        return (await n.run_row(run)).status == "stopped"

    await wait_for(stopped, 20, "the run to stop")
    assert (await n.run_row(run)).stop_reason == "recorder_error"
    assert n.supervisor.replacements(run) == RECORDER_RESTARTS
    assert await launcher.wait(run, 5)
    await launcher.close()
