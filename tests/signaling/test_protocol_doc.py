"""docs/protocol.md is enough to write a client: every event the code knows is documented there."""

from __future__ import annotations

import re
from pathlib import Path

import signaling.room
import signaling.server
import signaling.service
import signaling.supervisor
from signaling.server import EVENTS, RECORDER_EVENTS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
ROOM_SOURCE = Path(signaling.room.__file__).read_text(encoding="utf-8")
SERVER_SOURCE = Path(signaling.server.__file__).read_text(encoding="utf-8")
SERVICE_SOURCE = Path(signaling.service.__file__).read_text(encoding="utf-8")
SUPERVISOR_SOURCE = Path(signaling.supervisor.__file__).read_text(encoding="utf-8")


def documented(name: str) -> bool:
    """Named in code style (`name`) somewhere in the document, alone or in a pair like `a` / `b`."""
    return f"`{name}`" in DOC


def emitted_room_event_types() -> set[str]:
    return set(re.findall(r'_emit\(\s*"([^"]+)"', ROOM_SOURCE))


def test_the_room_source_emits_the_event_types_this_test_expects_to_find() -> None:
    # Guards the grep itself: if _emit calls change shape, the check below must not pass vacuously.
    found = emitted_room_event_types()
    assert {"participant.joined", "lobby.updated", "chat.message", "session.ended"} <= found
    assert len(found) >= 12


def test_every_client_event_in_the_events_table_is_documented() -> None:
    assert EVENTS, "the EVENTS table is empty"
    missing = sorted(name for name in EVENTS if not documented(name))
    assert missing == [], f"client → server events missing from docs/protocol.md: {missing}"


def test_every_room_event_type_emitted_by_the_room_is_documented() -> None:
    missing = sorted(t for t in emitted_room_event_types() if not documented(t))
    assert missing == [], f"room.event types missing from docs/protocol.md: {missing}"


def test_every_socket_event_the_server_emits_is_documented() -> None:
    names = set(re.findall(r'\.emit\(\s*"([^"]+)"', SERVER_SOURCE))
    for source in (SERVICE_SOURCE, SUPERVISOR_SOURCE):
        names |= set(re.findall(r'outbox\.send\([^)]*?"([a-z.]+)"', source))
    # What the supervisor sends to a run's workers goes through to_recorder.
    names |= set(re.findall(r'to_recorder\(\s*[^)]*?"([a-z.]+)"', SUPERVISOR_SOURCE, flags=re.DOTALL))
    assert {"room.event", "error", "signal", "recorder.stop", "recorder.drop"} <= names
    missing = sorted(n for n in names if not documented(n))
    assert missing == [], f"server → client events missing from docs/protocol.md: {missing}"


def test_the_client_event_table_of_the_document_names_no_event_the_server_lacks() -> None:
    section = DOC.split("## Client → server events", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z.]+)` \|", section, flags=re.MULTILINE)
    assert rows, "the client → server table was not found"
    assert sorted(set(rows) - set(EVENTS)) == []
    assert sorted(set(EVENTS) - set(rows)) == []


def test_every_recorder_event_in_the_recorder_events_table_is_documented() -> None:
    assert RECORDER_EVENTS, "the RECORDER_EVENTS table is empty"
    missing = sorted(name for name in RECORDER_EVENTS if not documented(name))
    assert missing == [], f"recorder → server events missing from docs/protocol.md: {missing}"


def test_the_recorder_event_table_of_the_document_names_exactly_the_recorders_events() -> None:
    # `signal` is in both tables: only the recorder section's own table shows what a recorder may send.
    section = DOC.split("## The recorder worker's connection", 1)[1].split("\n## ", 1)[0]
    # The section also has a table of connect refusals: take the table whose header is `| event |`.
    table = re.search(r"^\| event \|.*?(?=^[^|]|\Z)", section, flags=re.MULTILINE | re.DOTALL)
    assert table, "the recorder's event table was not found"
    rows = re.findall(r"^\| `([a-z.]+)` \|", table.group(0), flags=re.MULTILINE)
    assert rows, "the recorder's event table was not found"
    assert sorted(set(rows) - set(RECORDER_EVENTS)) == []
    assert sorted(set(RECORDER_EVENTS) - set(rows)) == []
