"""The recorder worker: one process per recording run, outside the signaling event loop.

Run as `HESHI_RECORDER_TOKEN=… HESHI_RECORDER_ICE_SERVERS='[…]' python -m recordings.worker
--url … --session … [--address IP …]` (the launcher does it).
It connects to the node like a browser does, but with a recorder credential instead of a
person's session, and becomes the room's `recorder` peer: each recorded participant sends
it their tracks over a send-only WebRTC connection (the browser offers; the worker only
answers). Every track goes through a `ReceiverTap` (encoded frames, never decoded) into a
`SegmentWriter` (WebM segments of at most N seconds, each starting on a keyframe). Each
finished segment is reported to the node, which checks its hash and appends it to the
case's evidence log.

On `recorder.stop` it finishes the open segments, reports them and exits. On a write
failure (a full disk) it stops every writer, tells the node (`recorder.failed`), which
stops the recording and tells the mediator; finished segments stay as they are. Killed
outright, it loses at most the segment being written (a `.webm.part` file).

Every peer connection uses exactly the ICE servers the node handed over (the deployment's
STUN/TURN, TURN with fresh time-limited credentials), and none when there are none: never
aiortc's default, a public STUN server abroad that a closed network cannot reach. Given
`--address`, it offers host candidates only on those addresses, not on every interface.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio
from aiortc import RTCConfiguration, RTCIceGatherer, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from recordings.aiortc_internals import restricted_host_addresses
from recordings.segments import FinishedSegment, SegmentDiskError, SegmentError, SegmentPolicy, SegmentWriter
from recordings.tap import ReceiverTap, receiver_for

log = logging.getLogger("heshi.recorder")

TOKEN_VARIABLE = "HESHI_RECORDER_TOKEN"
ICE_SERVERS_VARIABLE = "HESHI_RECORDER_ICE_SERVERS"  # JSON, as signaling.ice makes it; may hold TURN credentials
REPORT_ATTEMPTS = 5
TRANSIENT = {"unavailable", "internal_error", "rate_limited"}  # worth another try


def worker_tag() -> str:
    """When this worker started, and a random part: files of a worker started after a crash
    never collide with the files of the one before."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + secrets.token_hex(2)


def file_stem(pid: str, tag: str, connection: int, kind: str) -> str:
    """`i:3f…` → `i_3f…-20261129T072539ab12-c2-video`: one stem per participant, worker,
    connection and track kind."""
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', pid)}-{tag}-c{connection}-{kind}"


def ice_servers_from_json(text: str) -> list[RTCIceServer]:
    """The node's ICE servers (`[{urls, username?, credential?}]`) as aiortc's, one per URL.

    A URL aiortc cannot parse is left out with a warning rather than failing every offer
    later. Raises ValueError for text that is not such a list; the message never quotes it,
    since it may hold a TURN credential.
    """
    items = json.loads(text) if text.strip() else []
    if not isinstance(items, list):
        raise ValueError("expected a JSON list of ICE servers")
    servers: list[RTCIceServer] = []
    for number, item in enumerate(items, 1):
        urls = item.get("urls") if isinstance(item, dict) else None
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise ValueError(f"ICE server {number} has no list of URLs")
        for url in urls:
            server = RTCIceServer(urls=url, username=item.get("username"), credential=item.get("credential"))
            try:
                RTCIceGatherer(iceServers=[server])  # aiortc's own reading of the URL
            except ValueError as exc:
                log.warning("ICE server %s left out: aiortc cannot use it (%s)", url, exc)
                continue
            servers.append(server)
    return servers


def unbindable(addresses: Sequence[str]) -> list[str]:
    """The addresses no interface of this host has now (no host candidate can be made there)."""
    missing = []
    for address in addresses:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((address, 0))
            except OSError:
                missing.append(address)
    return missing


@dataclass
class PeerRecording:
    """One participant's send-only connection to the recorder, and its tracks' writers."""

    pid: str
    number: int
    pc: RTCPeerConnection
    writers: list[SegmentWriter] = field(default_factory=list)
    taps: list[ReceiverTap] = field(default_factory=list)

    async def close(self) -> list[FinishedSegment]:
        done: list[FinishedSegment] = []
        for w in self.writers:
            done.extend(await w.stop())
        await self.pc.close()
        return done


class Recorder:
    def __init__(
        self,
        *,
        url: str,
        session_id: str,
        token: str,
        out_dir: Path,
        data_dir: Path,
        segment_seconds: float,
        ice_servers: Sequence[RTCIceServer] = (),
    ) -> None:
        self.url, self.session_id, self.token = url, session_id, token
        self.ice_servers = tuple(ice_servers)
        self.out_dir, self.data_dir = out_dir, data_dir
        self.policy = SegmentPolicy(max_seconds=segment_seconds)
        # No reconnecting: a worker that lost its node finishes its files and exits; the node
        # (or the node that takes the room over) starts a fresh one with a fresh credential.
        self.sio = socketio.AsyncClient(reconnection=False)
        self.peers: dict[str, PeerRecording] = {}
        self.connections = 0
        self.tag = worker_tag()
        self.stopped = asyncio.Event()
        self.failed = False
        self._locks: dict[str, asyncio.Lock] = {}
        self.sio.on("signal", self._on_signal)
        self.sio.on("recorder.stop", self._on_stop)
        self.sio.on("recorder.drop", self._on_drop)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", self._on_disconnect)

    async def run(self) -> int:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        await self.sio.connect(
            self.url,
            transports=["websocket"],
            wait_timeout=15,
            auth={"session_id": self.session_id, "recorder_token": self.token},
        )
        log.info("recorder of session %s connected", self.session_id)
        await self.stopped.wait()
        await self._close_all()
        log.info("recorder of session %s finished its files", self.session_id)
        if self.sio.connected:
            await self.sio.disconnect()
        return 1 if self.failed else 0

    def rtc_configuration(self) -> RTCConfiguration:
        """The configuration of every peer connection: the node's ICE servers, and only those."""
        # Always a list, even an empty one: given None, aiortc asks stun.l.google.com.
        return RTCConfiguration(iceServers=list(self.ice_servers))

    # ---- from the node ------------------------------------------------------------------

    async def _on_connect_error(self, data: Any) -> None:
        log.error("the node refused the recorder: %s", data)
        self.failed = True
        self.stopped.set()

    async def _on_disconnect(self, *args: Any) -> None:
        if not self.stopped.is_set():
            log.warning("lost the node; finishing the open segments")
            self.stopped.set()

    async def _on_stop(self, data: Any) -> None:
        log.info("recording stopped: %s", data)
        self.stopped.set()

    async def _on_drop(self, data: Any) -> None:
        """Someone withdrew their consent: finish their files now."""
        pid = str((data or {}).get("pid"))
        async with self._locks.setdefault(pid, asyncio.Lock()):
            peer = self.peers.pop(pid, None)
            if peer is not None:
                log.info("consent withdrawn: no longer recording %s", pid)
                await peer.close()

    async def _on_signal(self, data: dict[str, Any]) -> None:
        pid = str(data.get("from"))
        # One participant's signals in order: a candidate must not overtake its offer.
        async with self._locks.setdefault(pid, asyncio.Lock()):
            await self._handle_signal(pid, data)

    async def _handle_signal(self, pid: str, data: dict[str, Any]) -> None:
        try:
            if data["type"] == "offer":
                await self._offer(pid, str(data["sdp"]))
            elif data["type"] == "candidate":
                await self._candidate(pid, data.get("candidate") or {})
        except Exception:
            log.exception("signal from %s failed", data.get("from"))

    async def _offer(self, pid: str, sdp: str) -> None:
        """A participant (re)connects: a new connection, new files; the old one is finished."""
        old = self.peers.pop(pid, None)
        if old is not None:
            await old.close()  # its segments are reported by their writers' hooks
        self.connections += 1
        pc = RTCPeerConnection(self.rtc_configuration())
        peer = PeerRecording(pid, self.connections, pc)
        self.peers[pid] = peer

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._record_track(peer, track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("recorder ← %s: %s", pid, pc.connectionState)
            if pc.connectionState == "failed" and self.peers.get(pid) is peer:
                # aiortc has no ICE restart: finish these files; the browser offers anew.
                self.peers.pop(pid, None)
                await peer.close()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.sio.call("signal", {"to": pid, "type": "answer", "sdp": pc.localDescription.sdp}, timeout=10)

    def _record_track(self, peer: PeerRecording, track: MediaStreamTrack) -> None:
        tap = ReceiverTap(receiver_for(peer.pc, track))
        writer = SegmentWriter(
            self.out_dir,
            file_stem(peer.pid, self.tag, peer.number, track.kind),
            track_id=track.id,
            kind=track.kind,
            policy=self.policy,
            request_keyframe=tap.request_keyframe,
            on_segment=lambda seg: self._report(peer.pid, seg),
            on_error=lambda exc: self._write_failed(peer.pid, exc),
        )
        tap.start(writer)
        peer.taps.append(tap)
        peer.writers.append(writer)

    async def _candidate(self, pid: str, c: dict[str, Any]) -> None:
        peer = self.peers.get(pid)
        text = str(c.get("candidate", ""))
        if peer is None or not text:
            return
        candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
        candidate.sdpMid = c.get("sdpMid")
        candidate.sdpMLineIndex = c.get("sdpMLineIndex")
        await peer.pc.addIceCandidate(candidate)

    # ---- to the node --------------------------------------------------------------------

    async def _report(self, pid: str, seg: FinishedSegment) -> None:
        body = {
            "pid": pid,
            "kind": seg.kind,
            "codec": seg.codec,
            "track": seg.track_id,
            "index": seg.index,
            "path": seg.path.relative_to(self.data_dir).as_posix(),
            "sha256": seg.sha256,
            "bytes": seg.size_bytes,
            "frames": seg.frame_count,
            "duration_s": seg.duration_seconds,
            "first_wallclock": seg.first_packet_at,
            "first_rtp_ts": seg.first_rtp_timestamp,
            "sender_reports": [r.to_json() for r in seg.sender_reports][-200:],
        }
        for attempt in range(REPORT_ATTEMPTS):
            try:
                ack = await self.sio.call("recorder.segment", body, timeout=10)
                if ack.get("ok"):
                    return
                code = (ack.get("error") or {}).get("code")
                if code not in TRANSIENT:
                    log.error("segment %s refused: %s", body["path"], ack.get("error"))
                    return
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                pass
            await asyncio.sleep(0.5 * (attempt + 1))
        log.error("segment %s could not be reported; it stays on disk", body["path"])

    async def _write_failed(self, pid: str, exc: SegmentError) -> None:
        """A disk error stops the whole recording (the next file would fail too); any other
        writer error loses that one track, which the node logs, and recording goes on."""
        if not isinstance(exc, SegmentDiskError):
            log.error("track of %s not recorded: %s", pid, exc)
            try:
                await self.sio.call(
                    "recorder.failed", {"code": "track_error", "pid": pid, "message": str(exc)[:500]}, timeout=10
                )
            except socketio.exceptions.SocketIOError:
                log.exception("could not tell the node")
            return
        if self.failed:
            return
        self.failed = True
        code = "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "disk_error"
        log.error("recording stops: %s", exc)
        try:
            await self.sio.call("recorder.failed", {"code": code, "message": str(exc)[:500]}, timeout=10)
        finally:
            self.stopped.set()

    async def _close_all(self) -> None:
        peers, self.peers = list(self.peers.values()), {}
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)


def _die_with_parent() -> None:
    """Linux: the worker ends when the node that launched it ends (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recordings.worker", description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--session", required=True)
    ap.add_argument("--token", help="the recorder credential (default: $HESHI_RECORDER_TOKEN)")
    ap.add_argument("--out-dir", required=True, type=Path)
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--segment-seconds", type=float, default=10.0)
    ap.add_argument(
        "--address",
        action="append",
        default=[],
        dest="addresses",
        metavar="IP",
        help="offer ICE host candidates only on this address (repeat for more; default: every interface)",
    )
    args = ap.parse_args(argv)
    token = args.token or os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        ap.error(f"no recorder credential: pass --token or set {TOKEN_VARIABLE}")
    for address in args.addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            ap.error(f"--address: not an IP address: {address!r}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        ice_servers = ice_servers_from_json(os.environ.get(ICE_SERVERS_VARIABLE, ""))
    except ValueError as exc:
        ap.error(f"{ICE_SERVERS_VARIABLE}: {exc}")
    log.info(
        "ICE servers: %s; host candidates on %s",
        ", ".join(str(s.urls) for s in ice_servers) or "none",
        ", ".join(args.addresses) or "every interface",
    )
    for address in unbindable(args.addresses):
        log.warning("no interface has the address %s now: no candidate there", address)
    _die_with_parent()
    recorder = Recorder(
        url=args.url,
        session_id=args.session,
        token=token,
        out_dir=args.out_dir.resolve(),
        data_dir=args.data_dir.resolve(),
        segment_seconds=args.segment_seconds,
        ice_servers=ice_servers,
    )

    async def go() -> int:
        loop = asyncio.get_running_loop()

        def on_term() -> None:
            log.info("told to stop: finishing the open segments")
            recorder.stopped.set()

        loop.add_signal_handler(signal.SIGTERM, on_term)
        return await recorder.run()

    # The worker is a process of its own, so aioice's host addresses may be replaced process-wide.
    with restricted_host_addresses(args.addresses):
        return asyncio.run(go())


if __name__ == "__main__":
    sys.exit(main())
