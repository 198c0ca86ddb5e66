"""Chat messages of a session: named queries and writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from server.domain.errors import NotFound

from .base import Tx
from .models import ChatMessage


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: str
    case_id: str
    session_id: str
    sender_pid: str
    sender_name: str
    sender_role: str
    recipient_pid: str | None
    client_id: str
    text: str
    at: datetime

    @classmethod
    def of(cls, m: ChatMessage) -> MessageRecord:
        return cls(
            m.id,
            m.case_id,
            m.session_id,
            m.sender_pid,
            m.sender_name,
            m.sender_role,
            m.recipient_pid,
            m.client_id,
            m.text,
            m.at,
        )


class DuplicateMessage(Exception):
    """Another connection stored a message with the same sender and client id first."""


async def by_client_id(tx: Tx, session_id: str, sender_pid: str, client_id: str) -> MessageRecord | None:
    row = (
        await tx.execute(
            select(ChatMessage).where(
                ChatMessage.session_id == session_id,
                ChatMessage.sender_pid == sender_pid,
                ChatMessage.client_id == client_id,
            )
        )
    ).scalar_one_or_none()
    return MessageRecord.of(row) if row is not None else None


async def insert_message(
    tx: Tx,
    *,
    case_id: str,
    session_id: str,
    sender_pid: str,
    sender_name: str,
    sender_role: str,
    recipient_pid: str | None,
    client_id: str,
    text: str,
    at: datetime,
) -> MessageRecord:
    """Store a message; DuplicateMessage when its (session, sender, client id) is taken."""
    row = ChatMessage(
        case_id=case_id,
        session_id=session_id,
        sender_pid=sender_pid,
        sender_name=sender_name,
        sender_role=sender_role,
        recipient_pid=recipient_pid,
        client_id=client_id,
        text=text,
        at=at,
    )
    tx.add(row)
    try:
        await tx.flush()
    except IntegrityError as exc:
        raise DuplicateMessage(client_id) from exc
    return MessageRecord.of(row)


async def visible_page(
    tx: Tx, session_id: str, pid: str, *, before: str | None, limit: int
) -> tuple[list[MessageRecord], bool]:
    """The newest `limit` messages `pid` may see (public, or private to or from them), older than
    message `before` when given; oldest first, and whether older ones remain. NotFound when
    `before` is not a message of this session."""
    visible = or_(ChatMessage.recipient_pid.is_(None), ChatMessage.recipient_pid == pid, ChatMessage.sender_pid == pid)
    q = select(ChatMessage).where(ChatMessage.session_id == session_id, visible)
    if before:
        anchor = await tx.get(ChatMessage, before)
        if anchor is None or anchor.session_id != session_id:
            raise NotFound("no such message in this session", fields={"before": "not_found"})
        q = q.where(or_(ChatMessage.at < anchor.at, and_(ChatMessage.at == anchor.at, ChatMessage.id < anchor.id)))
    rows = list((await tx.execute(q.order_by(ChatMessage.at.desc(), ChatMessage.id.desc()).limit(limit + 1))).scalars())
    return [MessageRecord.of(m) for m in reversed(rows[:limit])], len(rows) > limit
