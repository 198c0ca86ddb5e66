"""The Socket.IO edge: connect-time binding, one dispatcher for every event, and delivery.

Each handler is thin: the dispatcher validates the payload against the event's schema and
applies flood limits; the handler calls one RoomService method (a recorder worker's events,
one RecordingSupervisor method). Every failure becomes
`{"ok": false, "error": {"code", "message", "fields"?}}` in the ack (and an `error` event),
and never reaches the connection, the room or the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio
from aiohttp import web
from pydantic import BaseModel

from recordings import evidence
from recordings.composite import CompositeJobs
from recordings.launcher import RecorderLauncher
from server.domain import inputs
from server.domain.actors import Actor
from server.domain.errors import DomainError, InvalidToken
from server.domain.grants import SessionRole
from server.http.keys import LIVE
from server.http.requests import JOIN_COOKIE, STAFF_COOKIE
from server.services import nodes
from server.services.core import Core
from server.services.minutes import MinutesConflict

from . import schemas as S
from .binding import Binding, RecorderBinding, bind, bind_recorder, check_session_id
from .limits import ConnectionLimits
from .room import RoomEvent, recorder_pid
from .service import RoomService
from .store.base import RoomStore
from .store.keys import Keys
from .store.memory import MemoryRoomStore
from .store.redis import RedisRoomStore
from .supervisor import Recorders, RecordingSupervisor

log = logging.getLogger("heshi.signaling")

MAX_MESSAGE_BYTES = 256 * 1024  # larger frames are refused by engine.io itself
SWEEP_INTERVAL = 1.0

# The binding is a Binding for EVENTS and a RecorderBinding for RECORDER_EVENTS: the table an
# event is looked up in decides which, so a handler may name the one it gets.
Handler = Callable[["SignalingServer", Any, str, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class EventSpec:
    schema: type[BaseModel]
    handler: Handler
    limit: str | None = None  # a bucket in signaling.limits, taken before the payload is read
    limit_of: Callable[[Any], str] | None = None  # a bucket chosen by the valid payload


def local_url(request: web.Request | None) -> str:
    """http://<local address>:<port> of the socket a request arrived on."""
    sockname = request.transport.get_extra_info("sockname") if request is not None and request.transport else None
    if not sockname:
        raise DomainError("cannot tell which address this server listens on; set HESHI_RECORDER_CONNECT_URL")
    host, port = sockname[0], sockname[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def personal_room(room_id: str, pid: str) -> str:
    """Every connection of a participant sits in this Socket.IO room, on whichever node."""
    return f"p:{room_id}:{pid}"


def error_ack(code: str, message: str, fields: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, **extra}
    if fields:
        err["fields"] = fields
    return {"ok": False, "error": err}


class SignalingServer:
    def __init__(self, core: Core, store: RoomStore | None = None, recorders: Recorders | None = None):
        self.core = core
        settings = core.settings
        manager = None
        if settings.redis_url:
            # redis-py's default pool of 100 makes the manager drop messages under load (DESIGN.md).
            manager = socketio.AsyncRedisManager(
                settings.redis_url,
                channel=Keys(settings.redis_prefix).socketio_channel,
                redis_options={"max_connections": settings.redis_max_connections},
            )
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            transports=["websocket"],
            cors_allowed_origins=self._origin_allowed,
            client_manager=manager,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            logger=False,
            engineio_logger=False,
        )
        # engine.io logs each refused origin at ERROR; _origin_allowed has already said it at WARNING.
        self.sio.eio.logger.addFilter(_REFUSED_ORIGIN_LOGGED)  # one object: adding it again is a no-op
        if store is None:
            if settings.redis_url:
                store = RedisRoomStore(
                    settings.redis_url, max_connections=settings.redis_max_connections, prefix=settings.redis_prefix
                )
            else:
                store = MemoryRoomStore()
        self.store = store
        # This node's workers: the supervisor starts and replaces them, the node closes them.
        self.recorders: Recorders = RecorderLauncher(settings, clock=core.clock) if recorders is None else recorders
        self.composites = CompositeJobs(core)
        self.supervisor = RecordingSupervisor(core, store, self, self.recorders, self.composites)
        self.service = RoomService(core, store, self, self.supervisor)
        self.limits: dict[str, ConnectionLimits] = {}
        self.node: nodes.NodeIdentity | None = None
        # The binding of each connection on this node, made at connect and never changed.
        self.bindings: dict[str, Binding | RecorderBinding] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._sockets_closed = False
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("*", self._on_event)

    # ---- wiring -------------------------------------------------------------------------

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app, socketio_path="socket.io")
        app.cleanup_ctx.append(self._lifetime)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.before_stop()

    async def before_stop(self) -> None:
        """Recorders finish and report; then every socket is closed, so that aiohttp need not
        wait out its shutdown timeout for WebSocket handlers that never end. Clients reconnect
        to the node that comes back. `heshi serve` calls this on SIGTERM while the node still
        reads its sockets (aiohttp's own shutdown stops reading them first); the on_shutdown
        call is for embedders, and does nothing the second time."""
        await self.stop_recorders()
        if not self._sockets_closed:
            self._sockets_closed = True
            await self.sio.shutdown()

    async def stop_recorders(self) -> None:
        """Before the node stops: workers finish and report their files. Their runs stay active
        in the database and resume when the room is made again."""
        await self.recorders.close()

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        try:
            await self._node_alive()  # before any room is made: close what a dead process left open
        except Exception:
            log.exception("could not register this node; retrying in the background")
        sweeper = asyncio.create_task(self._sweep_forever(), name="heshi-room-sweeper")
        heart = asyncio.create_task(self._heartbeat_forever(), name="heshi-node-heartbeat")
        yield
        for task in (sweeper, heart):
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.composites.close()
        await self.store.close()

    async def _node_alive(self) -> None:
        """Register this process (once), say it is alive, and interrupt the recording runs of
        processes that are not: this node before a restart, or a node that stopped answering."""
        if self.node is None:
            self.node = await nodes.register(self.core, nodes.default_name(self.core.settings.port))
            self.supervisor.node_id = self.node.id
            log.info("node %s (%s) registered", self.node.name, self.node.id)
        else:
            await nodes.heartbeat(self.core, self.node)
        interrupted = await evidence.interrupt_orphaned(
            self.core, await nodes.live_nodes(self.core, self.node), self.node.name
        )
        if not interrupted:
            return
        log.warning(
            "recording runs of a process that is gone are now interrupted: %s",
            ", ".join(o.recording_id for o in interrupted),
        )
        for orphan in interrupted:
            if await self.supervisor.take_over(orphan, self.own_url()):
                log.warning("took over recording run %s of a node that stopped answering", orphan.recording_id)

    def own_url(self) -> str:
        """Where a recorder worker on this machine reaches this node without a request to go
        by: the configured address, or the port this node listens on."""
        s = self.core.settings
        if s.recorder_connect_url:
            return s.recorder_connect_url
        host = "127.0.0.1" if s.host in ("0.0.0.0", "", "localhost") else "::1" if s.host == "::" else s.host
        return f"http://[{host}]:{s.port}" if ":" in host else f"http://{host}:{s.port}"

    async def _heartbeat_forever(self) -> None:
        delay = nodes.HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(delay)
            try:
                await self._node_alive()
                delay = nodes.HEARTBEAT_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node heartbeat failed")
                delay = min(delay * 2, 60.0)

    async def _sweep_forever(self) -> None:
        delay = SWEEP_INTERVAL
        while True:
            await asyncio.sleep(delay)
            try:
                await self.service.sweep()
                delay = SWEEP_INTERVAL
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room sweep failed")
                delay = min(delay * 2, 30.0)

    def _origin_allowed(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """Browsers send Origin; only our own pages and configured origins may connect."""
        if origin is None:
            return True  # not a browser: cookies (checked at connect) are the credential
        settings = self.core.settings
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        if origin.rstrip("/") in {own, settings.public_url, *settings.allowed_origins}:
            return True
        # Expected (a page on another site, a probe): a warning that names it, not an error.
        # engine.io asks twice per request (the check, then the CORS headers): say it once.
        if environ.get("heshi.origin_refused"):
            return False
        environ["heshi.origin_refused"] = True
        log.warning(
            "refused a WebSocket from origin %r (allowed: this host, HESHI_PUBLIC_URL, HESHI_ALLOWED_ORIGINS)",
            origin[:200],
        )
        return False

    # ---- Outbox -------------------------------------------------------------------------

    async def deliver(self, room_id: str, events: list[RoomEvent]) -> None:
        for e in events:
            # One emit per recipient: each carries that recipient's own sequence number.
            for pid in e.audience:
                await self.sio.emit("room.event", e.wire_for(pid), to=personal_room(room_id, pid))

    async def send(self, room_id: str, pid: str, event: str, data: dict[str, Any]) -> None:
        await self.sio.emit(event, data, to=personal_room(room_id, pid))

    async def disconnect(self, sid: str) -> None:
        """Close a connection once the ack of the request being handled has been queued: closing
        at once would drop the ack of the caller's own `room.leave` or `session.end`."""
        task = asyncio.get_running_loop().create_task(self.sio.disconnect(sid))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # ---- what the REST API asks (server.http.keys.LiveRecording) ---------------------

    async def start_recording(
        self, request: web.Request, session_id: str, case_id: str, actor: Actor
    ) -> dict[str, Any]:
        url = self.core.settings.recorder_connect_url or local_url(request)
        return await self.service.recording_start(
            session_id, case_id, b=None, role=SessionRole.mediator, actor=actor, connect_url=url
        )

    async def stop_recording(self, session_id: str, actor: Actor, reason: str) -> dict[str, Any]:
        return await self.service.recording_stop(session_id, b=None, actor=actor, reason=reason)

    def make_download(self, case_id: str, session_id: str, actor: Actor) -> bool:
        return self.composites.start(case_id, session_id, actor)

    def connect_url(self, sid: str) -> str:
        """Where a recorder worker on this machine reaches this node: the address the caller's
        own connection came in on (settings can name another)."""
        if self.core.settings.recorder_connect_url:
            return self.core.settings.recorder_connect_url
        request = (self.sio.get_environ(sid) or {}).get("aiohttp.request")
        return local_url(request)

    # ---- connection lifecycle -----------------------------------------------------------

    def _sent_by_client(self, sid: str) -> bool:
        """python-socketio hands a client *event* named `connect` or `disconnect` to the lifecycle
        handlers. A real connect or disconnect runs while the sid is pending, never connected."""
        return bool(self.sio.manager.is_connected(sid, "/"))

    async def _on_connect(self, sid: str, environ: Any, auth: Any = None, *extra: Any) -> Any:
        if self._sent_by_client(sid):
            return await self._on_event("connect", sid, environ, auth, *extra)
        request = environ.get("aiohttp.request")
        cookies = request.cookies if request is not None else {}
        try:
            session_id = check_session_id(auth.get("session_id") if isinstance(auth, dict) else None)
            if isinstance(auth, dict) and "recorder_token" in auth:
                return await self._on_recorder_connect(sid, session_id, auth["recorder_token"])
            b = await bind(self.core, session_id, cookies.get(JOIN_COOKIE), cookies.get(STAFF_COOKIE))
        except DomainError as exc:
            raise _refused(exc) from None
        self.bindings[sid] = b
        await self.sio.enter_room(sid, personal_room(b.session_id, b.pid))
        self.limits[sid] = ConnectionLimits(scale=self.core.settings.rate_limit_scale)

    async def _on_recorder_connect(self, sid: str, session_id: str, token: Any) -> None:
        """A recorder worker, with the credential its launcher gave it for one recording run."""
        try:
            rb = await bind_recorder(self.core, session_id, token)
            self.bindings[sid] = rb
            await self.sio.enter_room(sid, personal_room(session_id, recorder_pid(rb.recording_id)))
            self.limits[sid] = ConnectionLimits(scale=self.core.settings.rate_limit_scale * 20)
            await self.supervisor.recorder_up(rb, sid)
        except DomainError as exc:
            self.bindings.pop(sid, None)
            self.limits.pop(sid, None)
            raise _refused(exc) from None

    async def _on_disconnect(self, sid: str, reason: Any = None, *extra: Any) -> Any:
        if self._sent_by_client(sid):
            return await self._on_event("disconnect", sid, reason, *extra)
        self.limits.pop(sid, None)
        binding = self.bindings.pop(sid, None)
        if isinstance(binding, RecorderBinding):
            try:
                await self.supervisor.recorder_down(binding, sid)
            except Exception:
                log.exception("recorder disconnect handling failed for %s", sid)
        elif binding is not None:
            try:
                await self.service.disconnected(binding, sid)
            except DomainError as exc:
                log.info("disconnect of %s: %s", sid, exc.message)
            except Exception:
                log.exception("disconnect handling failed for %s", sid)

    async def _on_event(self, event: str, sid: str, data: Any = None, *extra: Any) -> dict[str, Any]:
        try:
            ack = await self._dispatch(event, sid, data, extra)
        except DomainError as exc:
            extra_info = {"retry_after": exc.details["retry_after"]} if "retry_after" in exc.details else {}
            ack = error_ack(exc.code, exc.message, exc.fields, **extra_info)
        except Exception:
            log.exception("event %r from %s failed", event, sid)
            ack = error_ack("internal_error", "the server hit an unexpected error; it has been logged")
        if not ack.get("ok", False):
            await self.sio.emit("error", {"event": event, **ack["error"]}, to=sid)
        return ack

    async def _dispatch(self, event: str, sid: str, data: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
        now = self.core.clock.timestamp()
        limits = self.limits.get(sid)
        if limits is None:
            raise DomainError("this connection is not bound to a session")
        limits.take("any", now)
        binding = self.bindings[sid]
        spec = (RECORDER_EVENTS if isinstance(binding, RecorderBinding) else EVENTS).get(event)
        if spec is None:
            return error_ack("unknown_event", f"unknown event '{event}'")
        if extra:
            raise DomainError("send one payload object per event")
        if spec.limit:
            limits.take(spec.limit, now)
        if data is None:
            data = {}
        body = inputs.parse(spec.schema, data, "payload")
        if spec.limit_of:
            limits.take(spec.limit_of(body), now)
        return await spec.handler(self, binding, sid, body)


class _RefusedOriginLogged(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "is not an accepted origin" not in record.getMessage()


_REFUSED_ORIGIN_LOGGED = _RefusedOriginLogged()


def _refused(exc: DomainError) -> socketio.exceptions.ConnectionRefusedError:
    """The client's `connect_error` gets `{message, data: {code, message}}`, and for a link that
    cannot be used `reason` too (e.g. `session_ended`: the client then offers a party the
    session's documents). (One argument alone would reach the client as the str() of whatever
    it is.)"""
    data = {"code": exc.code, "message": exc.message}
    if isinstance(exc, InvalidToken):
        data["reason"] = exc.reason
    return socketio.exceptions.ConnectionRefusedError(exc.message, data)


# ---- handlers: one line each, the rules live in RoomService, RecordingSupervisor and Room ---


async def _join(s: SignalingServer, b: Binding, sid: str, body: S.JoinIn) -> dict[str, Any]:
    return await s.service.join(b, sid, body, connect_url=s.connect_url(sid))


async def _leave(s: SignalingServer, b: Binding, sid: str, body: S.EmptyIn) -> dict[str, Any]:
    ack = await s.service.leave(b)
    await s.disconnect(sid)
    return ack


async def _sync(s: SignalingServer, b: Binding, sid: str, body: S.SyncIn) -> dict[str, Any]:
    return await s.service.sync(b, body.after_seq)


async def _admit(s: SignalingServer, b: Binding, sid: str, body: S.AdmitIn) -> dict[str, Any]:
    return await s.service.admit(b, body.pids)


async def _deny(s: SignalingServer, b: Binding, sid: str, body: S.DenyIn) -> dict[str, Any]:
    return await s.service.deny(b, body.pid, body.reason)


async def _remove(s: SignalingServer, b: Binding, sid: str, body: S.RemoveIn) -> dict[str, Any]:
    return await s.service.remove(b, body.pid, body.reason)


async def _mute(s: SignalingServer, b: Binding, sid: str, body: S.MuteIn) -> dict[str, Any]:
    return await s.service.mute(b, body.pid, body.kind)


async def _end(s: SignalingServer, b: Binding, sid: str, body: S.EndIn) -> dict[str, Any]:
    return await s.service.end(b, body.reason)


async def _publish_start(s: SignalingServer, b: Binding, sid: str, body: S.EmptyIn) -> dict[str, Any]:
    return await s.service.publish(b, True)


async def _publish_stop(s: SignalingServer, b: Binding, sid: str, body: S.EmptyIn) -> dict[str, Any]:
    return await s.service.publish(b, False)


async def _signal(s: SignalingServer, b: Binding, sid: str, body: S.SignalIn) -> dict[str, Any]:
    return await s.service.signal(b, body)


async def _recording_start(s: SignalingServer, b: Binding, sid: str, body: S.EmptyIn) -> dict[str, Any]:
    return await s.service.recording_start(
        b.session_id, b.case_id, b=b, role=b.role, actor=b.actor, connect_url=s.connect_url(sid)
    )


async def _recording_stop(s: SignalingServer, b: Binding, sid: str, body: S.RecordingStopIn) -> dict[str, Any]:
    return await s.service.recording_stop(b.session_id, b=b, actor=b.actor, reason=body.reason)


async def _recording_consent(s: SignalingServer, b: Binding, sid: str, body: S.RecordingConsentIn) -> dict[str, Any]:
    return await s.service.recording_consent(b, body.consent, body.language)


async def _recorder_signal(s: SignalingServer, rb: RecorderBinding, sid: str, body: S.SignalIn) -> dict[str, Any]:
    return await s.supervisor.recorder_signal(rb, body)


async def _recorder_segment(s: SignalingServer, rb: RecorderBinding, sid: str, body: S.SegmentIn) -> dict[str, Any]:
    return await s.supervisor.recorder_segment(rb, body)


async def _recorder_failed(
    s: SignalingServer, rb: RecorderBinding, sid: str, body: S.RecorderFailedIn
) -> dict[str, Any]:
    return await s.supervisor.recorder_failed(rb, body)


def _signal_limit(body: S.SignalIn) -> str:
    return "candidate" if body.type == "candidate" else "sdp"


async def _ice(s: SignalingServer, b: Binding, sid: str, body: S.EmptyIn) -> dict[str, Any]:
    return await s.service.ice(b)


async def _chat_send(s: SignalingServer, b: Binding, sid: str, body: S.ChatSendIn) -> dict[str, Any]:
    return await s.service.chat_send(b, body)


async def _chat_history(s: SignalingServer, b: Binding, sid: str, body: S.ChatHistoryIn) -> dict[str, Any]:
    return await s.service.chat_history(b, body)


async def _minutes_get(s: SignalingServer, b: Binding, sid: str, body: S.EmptyIn) -> dict[str, Any]:
    return await s.service.minutes_get(b)


async def _minutes_save(s: SignalingServer, b: Binding, sid: str, body: S.MinutesSaveIn) -> dict[str, Any]:
    try:
        return await s.service.minutes_save(b, body)
    except MinutesConflict as exc:  # the ack carries what the client needs to merge
        return {"ok": False, "error": exc.body()}


async def _notice_present(s: SignalingServer, b: Binding, sid: str, body: S.EmptyIn) -> dict[str, Any]:
    return await s.service.notice_present(b)


async def _notice_get(s: SignalingServer, b: Binding, sid: str, body: S.EmptyIn) -> dict[str, Any]:
    return await s.service.notice_get(b)


async def _notice_acknowledge(s: SignalingServer, b: Binding, sid: str, body: S.NoticeAcknowledgeIn) -> dict[str, Any]:
    return await s.service.notice_acknowledge(b, body)


# The protocol, in one table. docs/protocol.md documents each of these (a test checks).
EVENTS: dict[str, EventSpec] = {
    "room.join": EventSpec(S.JoinIn, _join),
    "room.leave": EventSpec(S.EmptyIn, _leave),
    "room.sync": EventSpec(S.SyncIn, _sync),
    "lobby.admit": EventSpec(S.AdmitIn, _admit, "moderation"),
    "lobby.deny": EventSpec(S.DenyIn, _deny, "moderation"),
    "moderation.remove": EventSpec(S.RemoveIn, _remove, "moderation"),
    "moderation.mute": EventSpec(S.MuteIn, _mute, "moderation"),
    "session.end": EventSpec(S.EndIn, _end, "moderation"),
    "media.publish": EventSpec(S.EmptyIn, _publish_start),
    "media.unpublish": EventSpec(S.EmptyIn, _publish_stop),
    "signal": EventSpec(S.SignalIn, _signal, limit_of=_signal_limit),
    "ice.servers": EventSpec(S.EmptyIn, _ice),
    "chat.send": EventSpec(S.ChatSendIn, _chat_send, "chat"),
    "chat.history": EventSpec(S.ChatHistoryIn, _chat_history),
    "recording.start": EventSpec(S.EmptyIn, _recording_start, "moderation"),
    "recording.stop": EventSpec(S.RecordingStopIn, _recording_stop, "moderation"),
    "recording.consent": EventSpec(S.RecordingConsentIn, _recording_consent, "moderation"),
    "minutes.get": EventSpec(S.EmptyIn, _minutes_get, "minutes"),
    "minutes.save": EventSpec(S.MinutesSaveIn, _minutes_save, "minutes"),
    "notice.present": EventSpec(S.EmptyIn, _notice_present, "notice"),
    "notice.get": EventSpec(S.EmptyIn, _notice_get, "notice"),
    "notice.acknowledge": EventSpec(S.NoticeAcknowledgeIn, _notice_acknowledge, "notice"),
}

# What a recorder worker's connection may send: nothing a participant can, and the reverse.
RECORDER_EVENTS: dict[str, EventSpec] = {
    "signal": EventSpec(S.SignalIn, _recorder_signal),
    "recorder.segment": EventSpec(S.SegmentIn, _recorder_segment),
    "recorder.failed": EventSpec(S.RecorderFailedIn, _recorder_failed),
}

SIGNALING = web.AppKey("signaling", SignalingServer)


def attach_signaling(app: web.Application, core: Core, store: RoomStore | None = None) -> SignalingServer:
    server = SignalingServer(core, store)
    server.attach(app)
    app[SIGNALING] = server
    app[LIVE] = server
    return server
