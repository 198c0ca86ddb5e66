"""Starts recorder workers: one process per recording run, next to the node that asked.

A worker is a child of the node, so a node that goes down takes its workers with it
(PR_SET_PDEATHSIG); the recording then shows as interrupted and resumes, in new segments,
when the session's room is made again (signaling.supervisor, `resumed`). Recording in its own
process keeps media off the signaling event loop (DESIGN.md: one aiortc loop saturates at
about 40 Mbit/s).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta

from server.auth.tokens import RecorderTokens
from server.config import Settings
from server.domain.clock import Clock, SystemClock
from signaling.ice import ice_servers

from .files import session_dir

log = logging.getLogger("heshi.recordings")

TOKEN_VARIABLE = "HESHI_RECORDER_TOKEN"
ICE_SERVERS_VARIABLE = "HESHI_RECORDER_ICE_SERVERS"  # read by recordings/worker.py
CREDENTIAL_TTL = timedelta(hours=24)  # a worker connects within seconds; this only bounds a leaked one


class RecorderLauncher:
    """signaling.supervisor.Recorders with one child process per recording run."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, python: str = sys.executable):
        self.settings = settings
        self.clock = clock or SystemClock()
        self.python = python
        self.tokens = RecorderTokens(settings.secret_key)
        self.processes: dict[str, asyncio.subprocess.Process] = {}  # by recording id
        self._reapers: set[asyncio.Task[None]] = set()
        self.closing = False  # shutting down: exits are expected, nothing is replaced
        # Told of every worker's exit (the recording supervisor decides whether a new one is needed).
        self.on_exit: Callable[[str, str, str, int], Awaitable[None]] | None = None

    async def launch(self, *, recording_id: str, case_id: str, session_id: str, connect_url: str) -> None:
        running = self.processes.get(recording_id)
        if running is not None and running.returncode is None:
            return
        out_dir = session_dir(self.settings.data_dir, case_id, session_id)
        out_dir.mkdir(parents=True, exist_ok=True)
        now = self.clock.now()
        token = self.tokens.sign(recording_id, now + CREDENTIAL_TTL)
        # The worker's ICE servers are the browsers', TURN with credentials of its own; an empty
        # list when none are configured, so that it never falls back to a public STUN server.
        servers = ice_servers(self.settings, f"recorder-{recording_id}", now.timestamp())
        addresses = [arg for address in self.settings.recorder_addresses for arg in ("--address", address)]
        # Credentials go in the environment: not in `ps` output, and never mistaken for an
        # option (a base64url token may start with '-').
        proc = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "recordings.worker",
            "--url",
            connect_url,
            "--session",
            session_id,
            "--out-dir",
            str(out_dir),
            "--data-dir",
            str(self.settings.data_dir),
            "--segment-seconds",
            str(self.settings.recording_segment_seconds),
            *addresses,
            env={**os.environ, TOKEN_VARIABLE: token, ICE_SERVERS_VARIABLE: json.dumps(servers)},
        )
        self.processes[recording_id] = proc
        log.info("recorder for %s started (pid %s)", recording_id, proc.pid)
        task = asyncio.get_running_loop().create_task(self._reap(recording_id, case_id, session_id, proc))
        self._reapers.add(task)
        task.add_done_callback(self._reapers.discard)

    async def _reap(self, recording_id: str, case_id: str, session_id: str, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if self.processes.get(recording_id) is proc:
            del self.processes[recording_id]
        (log.info if code == 0 else log.warning)("recorder for %s exited with %s", recording_id, code)
        if self.on_exit is not None and not self.closing:
            try:
                await self.on_exit(recording_id, case_id, session_id, code)
            except Exception:
                log.exception("handling the exit of the recorder for %s failed", recording_id)

    def running(self, recording_id: str) -> bool:
        """This node's worker for a run has not exited yet."""
        proc = self.processes.get(recording_id)
        return proc is not None and proc.returncode is None

    async def wait(self, recording_id: str, timeout: float) -> bool:
        """Wait until this node's worker for a run has exited; False on timeout."""
        proc = self.processes.get(recording_id)
        if proc is None:
            return True
        try:
            await asyncio.wait_for(proc.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self, timeout: float = 10.0) -> None:
        """On shutdown: ask every worker to finish its segments, then wait for them."""
        if self.closing:
            return
        self.closing = True
        procs = [p for p in self.processes.values() if p.returncode is None]
        for p in procs:
            p.terminate()
        if procs:
            done, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in procs], timeout=timeout)
            for p in procs:
                if p.returncode is None:
                    p.kill()
