"""The recorder's ICE: exactly the deployment's servers, fresh TURN credentials, never a public
default, and candidates only on the addresses the operator names.

aiortc asks stun.l.google.com when a peer connection is made without a configuration; on a
closed network that is a time-out per connection, elsewhere traffic to a server abroad.
Most tests here run the worker's `Recorder` on the test's own loop against a real node, so
that its peer connections and the STUN/TURN queries they make can be watched; the last runs
a real worker process and a STUN server on loopback.

On the memory room store only: what these tests watch is the worker's own ICE configuration,
which no room store touches; starting, consenting to and stopping a recording run on both
stores in test_recording_flow, test_recording_refusals, test_disk_full and test_crash.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aioice import ice as aioice_ice
from aioice import stun
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from recordings import files, launcher, worker
from recordings.aiortc_internals import restricted_host_addresses
from server.auth.tokens import RecorderTokens
from server.config import Settings, load_settings
from server.domain.clock import FrozenClock
from signaling.ice import ice_servers, turn_credentials
from tests.conftest import TEST_SECRET
from tests.recordings.media import SineAudioTrack
from tests.recordings.sender import send_to_recorder
from tests.support.waiting import wait_for

TURN_SECRET = "coturn-static-secret"
ICE_SERVERS = "HESHI_RECORDER_ICE_SERVERS"  # the launcher sets it, the worker reads it


class InProcessWorkers:
    """Recorders that start the worker's Recorder on this event loop instead of in a process of its own."""

    def __init__(self, settings: Settings, clock: Any, **recorder_kwargs: Any) -> None:
        self.settings, self.clock, self.kwargs = settings, clock, recorder_kwargs
        self.recorders: list[worker.Recorder] = []
        self.tasks: dict[str, asyncio.Task[int]] = {}  # by recording id
        self.on_exit: Any = None  # the supervisor's; these tests stop no worker before the node
        self.closing = False

    async def launch(self, *, recording_id: str, case_id: str, session_id: str, connect_url: str) -> None:
        token = RecorderTokens(self.settings.secret_key).sign(recording_id, self.clock.now() + timedelta(hours=1))
        recorder = worker.Recorder(
            url=connect_url,
            session_id=session_id,
            token=token,
            out_dir=files.session_dir(self.settings.data_dir, case_id, session_id),
            data_dir=self.settings.data_dir,
            segment_seconds=1,
            **self.kwargs,
        )
        self.recorders.append(recorder)
        self.tasks[recording_id] = asyncio.get_running_loop().create_task(recorder.run())

    def running(self, recording_id: str) -> bool:
        task = self.tasks.get(recording_id)
        return task is not None and not task.done()

    async def wait(self, recording_id: str, timeout: float) -> bool:
        task = self.tasks.get(recording_id)
        return task is None or bool((await asyncio.wait({task}, timeout=timeout))[0])

    async def close(self) -> None:
        self.closing = True
        for recorder in self.recorders:
            recorder.stopped.set()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


def in_process_workers(live: Any, core: Any, **recorder_kwargs: Any) -> InProcessWorkers:
    workers = InProcessWorkers(core.settings, core.clock, **recorder_kwargs)
    live.signaling.supervisor.recorders = workers
    live.signaling.recorders = workers
    return workers


@pytest.fixture
def peer_configurations(monkeypatch: pytest.MonkeyPatch) -> list[RTCConfiguration | None]:
    """The configuration of every peer connection the worker makes."""
    made: list[RTCConfiguration | None] = []

    class Watched(RTCPeerConnection):
        def __init__(self, configuration: RTCConfiguration | None = None) -> None:
            made.append(configuration)
            super().__init__(configuration)

    monkeypatch.setattr(worker, "RTCPeerConnection", Watched)
    return made


@pytest.fixture
def server_queries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str, int]]]:
    """Every STUN or TURN query aioice starts in this process, stopped before it resolves a name or sends."""
    # Test-only: aioice's gathering calls these module functions; monkeypatch fails loudly if they move.
    queries: list[tuple[str, tuple[str, int]]] = []

    async def server_reflexive_candidate(protocol: Any, stun_server: tuple[str, int]) -> Any:
        queries.append(("stun", stun_server))
        raise ConnectionError("no STUN server is reachable from the tests")

    async def relayed_candidate(*, turn_server: tuple[str, int], **kwargs: Any) -> Any:
        queries.append(("turn", turn_server))
        raise ConnectionError("no TURN server is reachable from the tests")

    monkeypatch.setattr(aioice_ice, "server_reflexive_candidate", server_reflexive_candidate)
    monkeypatch.setattr(aioice_ice, "relayed_candidate", relayed_candidate)
    return queries


def candidates(sdp: str) -> list[tuple[str, str]]:
    """(address, type) of every candidate line."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            found.append((parts[4], parts[parts.index("typ") + 1]))
    return found


async def recording_on(live: Any) -> Any:
    mediator = await live.person("mediator")
    await mediator.join()
    assert (await mediator.call("recording.start"))["ok"]
    await mediator.wait_event("recording.updated", timeout=30, state="on", recorder_ready=True)
    return mediator


async def test_a_recorder_without_ice_servers_uses_none_and_still_connects_on_loopback(
    live, core, peer_configurations, server_queries
):  # type: ignore[no-untyped-def]
    workers = in_process_workers(live, core)
    mediator = await recording_on(live)
    with restricted_host_addresses(["127.0.0.1"]):  # both ends on loopback only
        pc = await send_to_recorder(mediator, SineAudioTrack(150))
    try:
        assert peer_configurations == [RTCConfiguration(iceServers=[])], (
            "the recorder's peer connection must get an explicit empty list, not aiortc's default"
        )
        answer = pc.remoteDescription.sdp
        assert candidates(answer) and {kind for _, kind in candidates(answer)} == {"host"}, answer
        assert server_queries == [], "no STUN or TURN server may be asked when none is configured"
        recorder_pc = workers.recorders[0].peers[mediator.pid].pc
        await wait_for(lambda: _both_connected(pc, recorder_pc), 15, "the recorder's connection")
    finally:
        await mediator.call("recording.stop")
        await pc.close()
        await workers.close()


async def _both_connected(*pcs: RTCPeerConnection) -> bool:
    return all(pc.connectionState == "connected" for pc in pcs)


async def test_a_recorder_uses_exactly_the_configured_stun_and_turn_servers(
    live, core, peer_configurations, server_queries
):  # type: ignore[no-untyped-def]
    settings = load_settings(
        env={},
        secret_key=TEST_SECRET,
        ice_servers="stun:stun.example.cn:3478",
        turn_urls="turn:turn.example.cn",
        turn_secret=TURN_SECRET,
    )
    servers = worker.ice_servers_from_json(json.dumps(ice_servers(settings, "recorder-r1", 1_800_000_000)))
    workers = in_process_workers(live, core, ice_servers=servers)
    mediator = await recording_on(live)
    with restricted_host_addresses(["127.0.0.1"]):
        pc = await send_to_recorder(mediator, SineAudioTrack(50))
    try:
        username, credential = turn_credentials(TURN_SECRET, "recorder-r1", 1_800_000_000, settings.turn_ttl_seconds)
        assert peer_configurations == [
            RTCConfiguration(
                iceServers=[
                    RTCIceServer("stun:stun.example.cn:3478"),
                    RTCIceServer("turn:turn.example.cn", username=username, credential=credential),
                ]
            )
        ]
        assert server_queries == [("stun", ("stun.example.cn", 3478)), ("turn", ("turn.example.cn", 3478))]
    finally:
        await mediator.call("recording.stop")
        await pc.close()
        await workers.close()


def test_the_worker_reads_the_nodes_ice_servers_and_leaves_out_what_aiortc_cannot_use(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert worker.ice_servers_from_json("") == [] and worker.ice_servers_from_json("[]") == []
    servers = worker.ice_servers_from_json(
        json.dumps(
            [
                {"urls": ["stun:a.example.cn", "stun:"]},
                {"urls": "turns:t.example.cn:5349", "username": "1800086400:recorder-r1", "credential": "c2VjcmV0"},
            ]
        )
    )
    assert servers == [
        RTCIceServer("stun:a.example.cn"),
        RTCIceServer("turns:t.example.cn:5349", username="1800086400:recorder-r1", credential="c2VjcmV0"),
    ]
    assert "ICE server stun: left out" in caplog.text
    for bad in ('{"urls": "stun:a"}', '[{"username": "u", "credential": "hunter2"}]', "[hunter2"):
        with pytest.raises(ValueError) as err:
            worker.ice_servers_from_json(bad)
        assert "hunter2" not in str(err.value), "a credential must not end up in an error message"


FAKE_PYTHON = """#!{python}
import json, os, sys
with open({out!r}, "w") as fh:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ)}}, fh)
"""


async def launched_worker(tmp_path: Path, settings: Settings, clock: FrozenClock, recording_id: str) -> dict[str, Any]:
    """What the launcher hands a worker: its arguments and environment, caught by a stand-in interpreter."""
    out = tmp_path / "launched.json"
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON.format(python=sys.executable, out=str(out)))
    python.chmod(0o755)
    node_launcher = launcher.RecorderLauncher(settings, clock=clock, python=str(python))
    await node_launcher.launch(
        recording_id=recording_id,
        case_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        connect_url="http://127.0.0.1:9",
    )
    assert await node_launcher.wait(recording_id, timeout=30)
    launched: dict[str, Any] = json.loads(out.read_text())
    return launched


async def test_the_launcher_hands_the_worker_fresh_turn_credentials_in_its_environment(tmp_path: Path) -> None:
    clock = FrozenClock()
    settings = load_settings(
        env={},
        data_dir=str(tmp_path / "data"),
        secret_key=TEST_SECRET,
        ice_servers="stun:stun.example.cn:3478",
        turn_urls="turn:turn.example.cn",
        turn_secret=TURN_SECRET,
        turn_ttl_seconds=3600,
        recorder_addresses="127.0.0.1, fd00::2",
    )
    run = str(uuid.uuid4())
    launched = await launched_worker(tmp_path, settings, clock, run)
    assert ICE_SERVERS in launched["env"], "the worker is told its ICE servers"
    assert launcher.ICE_SERVERS_VARIABLE == worker.ICE_SERVERS_VARIABLE == ICE_SERVERS
    servers = json.loads(launched["env"][ICE_SERVERS])
    assert servers == ice_servers(settings, f"recorder-{run}", clock.now().timestamp())
    turn = servers[1]
    assert turn["username"] == f"{int(clock.now().timestamp()) + 3600}:recorder-{run}", "valid from launch, for the TTL"
    argv = " ".join(launched["argv"])
    assert turn["credential"] not in argv and launched["env"]["HESHI_RECORDER_TOKEN"] not in argv, (
        "secrets stay out of ps"
    )
    assert launched["argv"][-4:] == ["--address", "127.0.0.1", "--address", "fd00::2"]


async def test_with_nothing_configured_the_worker_is_handed_no_ice_servers(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), secret_key=TEST_SECRET)
    launched = await launched_worker(tmp_path, settings, FrozenClock(), str(uuid.uuid4()))
    assert json.loads(launched["env"].get(ICE_SERVERS, "null")) == [], (
        "nothing configured is an empty list for the worker, not aiortc's default"
    )
    assert "--address" not in launched["argv"]


# ---- a real worker process --------------------------------------------------------------------


class LoopbackStun(asyncio.DatagramProtocol):
    """A STUN server that answers binding requests with the address they came from, as a real one does."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.asked_by: list[tuple[str, int]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.parse_message(data)
        self.asked_by.append(addr)
        response = stun.Message(
            message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE, transaction_id=request.transaction_id
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


@pytest.fixture
async def stun_server() -> AsyncIterator[tuple[LoopbackStun, int]]:
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        LoopbackStun, local_addr=("127.0.0.1", 0)
    )
    try:
        yield protocol, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


class TestARealWorkerProcess:
    @pytest.fixture
    def settings(self, settings: Settings, stun_server: tuple[LoopbackStun, int]) -> Settings:
        return replace(settings, recorder_addresses=("127.0.0.1",), ice_servers=(f"stun:127.0.0.1:{stun_server[1]}",))

    async def test_offers_candidates_only_on_the_configured_address_and_asks_only_the_configured_stun(
        self, live, stun_server
    ):  # type: ignore[no-untyped-def]
        stun_protocol, _ = stun_server
        mediator = await recording_on(live)
        with restricted_host_addresses(["127.0.0.1"]):  # the test's own sender, on loopback only too
            pc = await send_to_recorder(mediator, SineAudioTrack(150))
        try:
            found = candidates(pc.remoteDescription.sdp)
            hosts = {address for address, kind in found if kind == "host"}
            assert hosts == {"127.0.0.1"}, f"HESHI_RECORDER_ADDRESSES=127.0.0.1, but the worker offered {found}"
            assert ("127.0.0.1", "srflx") in found, "the worker asked the configured STUN server"
            assert stun_protocol.asked_by and {host for host, _ in stun_protocol.asked_by} == {"127.0.0.1"}
            await wait_for(lambda: _both_connected(pc), 15, "the connection to the worker")
        finally:
            await mediator.call("recording.stop")
            await pc.close()
