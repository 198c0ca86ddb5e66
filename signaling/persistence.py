"""What the live room writes to the database: session events, chat, session status.

Everything here is appended to the case's hash-chained event log as well, with the
server's timestamp, so that chat, minutes and recordings line up on one timeline.
"""

from __future__ import annotations

from typing import Any

from server.domain.actors import Actor
from server.domain.clock import wire_time
from server.domain.errors import InvalidTransition
from server.domain.sessions import SessionStatus
from server.services import eventlog, sessions
from server.services.core import Core
from server.storage import chat
from server.storage.chat import MessageRecord

from .binding import Binding


async def record(
    core: Core, case_id: str, session_id: str, kind: str, actor: Actor, data: dict[str, Any] | None = None
) -> None:
    """Append a session event (join, leave, admit, deny, remove, …) to the case log."""
    async with core.db.write() as tx:
        await eventlog.append(
            tx,
            case_id=case_id,
            session_id=session_id,
            kind=f"session.{kind}",
            actor=actor,
            at=core.clock.now(),
            data=data or {},
        )


def message_view(m: MessageRecord) -> dict[str, Any]:
    return {
        "id": m.id,
        "client_id": m.client_id,
        "from": {"pid": m.sender_pid, "name": m.sender_name, "role": m.sender_role},
        "to": m.recipient_pid,
        "text": m.text,
        "at": wire_time(m.at),
    }


async def save_chat(core: Core, b: Binding, client_id: str, text: str, to: str | None) -> tuple[dict[str, Any], bool]:
    """Store a message (and its log entry) before anyone is told. Returns (message, created)."""
    async with core.db.read() as tx:
        existing = await chat.by_client_id(tx, b.session_id, b.pid, client_id)
    if existing is not None:
        return message_view(existing), False
    now = core.clock.now()
    try:
        async with core.db.write() as tx:
            msg = await chat.insert_message(
                tx,
                case_id=b.case_id,
                session_id=b.session_id,
                sender_pid=b.pid,
                sender_name=b.name,
                sender_role=b.role.value,
                recipient_pid=to,
                client_id=client_id,
                text=text,
                at=now,
            )
            await eventlog.append(
                tx,
                case_id=b.case_id,
                session_id=b.session_id,
                kind="chat.message",
                actor=b.actor,
                at=now,
                data={"message_id": msg.id, "to": to, "text": text},
            )
    except chat.DuplicateMessage:
        # The same client id raced in on another connection: the first one won.
        async with core.db.read() as tx:
            existing = await chat.by_client_id(tx, b.session_id, b.pid, client_id)
        if existing is None:
            raise
        return message_view(existing), False
    return message_view(msg), True


async def chat_history(core: Core, b: Binding, before: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Messages this participant may see, newest page first (returned oldest → newest)."""
    async with core.db.read() as tx:
        rows, has_more = await chat.visible_page(tx, b.session_id, b.pid, before=before, limit=limit)
    return [message_view(m) for m in rows], has_more


async def mark_status(core: Core, session_id: str, target: SessionStatus, actor: Actor, reason: str = "") -> bool:
    """Move the session to live or ended; False when it already was (another node did it)."""
    try:
        await sessions.mark_session_status(core, actor, session_id, target, reason)
    except InvalidTransition:
        return False
    return True
