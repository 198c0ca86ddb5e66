"""Whom a client asks for recording consent comes from the server's grant table, in every snapshot."""

from __future__ import annotations

from pathlib import Path

from server.domain.grants import ROLE_GRANTS, Grant, SessionRole
from signaling.room import CONSENTING_ROLES
from tests.signaling.test_room_unit import T0, meeting, new_room, seat

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")


def test_the_consenting_roles_are_the_roles_the_grant_table_asks_for_consent() -> None:
    asked = [role.value for role in SessionRole if Grant.consent_recording in ROLE_GRANTS[role]]
    assert list(CONSENTING_ROLES) == asked
    # What docs/protocol.md promises today: the mediator's start counts as consent, observers send nothing.
    assert list(CONSENTING_ROLES) == ["applicant", "respondent", "agent", "expert", "clerk"]


def test_every_snapshot_names_the_consenting_roles_whoever_it_is_for() -> None:
    room = meeting(("a", SessionRole.applicant), ("o", SessionRole.observer))
    room.join(seat("r", SessionRole.respondent), T0)  # waits in the lobby
    for pid in ("m", "a", "o", "r"):
        assert room.snapshot_for(pid)["consenting_roles"] == ["applicant", "respondent", "agent", "expert", "clerk"], (
            pid
        )
    assert room.snapshot_for("r")["you"]["state"] == "lobby"


def test_a_snapshot_gives_each_reader_a_list_of_its_own() -> None:
    room = new_room()
    room.join(seat("m", SessionRole.mediator), T0)
    room.snapshot_for("m")["consenting_roles"].append("observer")
    assert "observer" not in room.snapshot_for("m")["consenting_roles"]


async def test_the_join_and_sync_acks_carry_the_consenting_roles(live) -> None:
    mediator = await live.person("mediator")
    ack = await mediator.join()
    assert ack["room"]["consenting_roles"] == list(CONSENTING_ROLES)
    applicant = await live.person("applicant")
    waiting = await applicant.join()
    assert waiting["room"]["you"]["state"] == "lobby"
    assert waiting["room"]["consenting_roles"] == list(CONSENTING_ROLES)
    sync = await mediator.call("room.sync", {"after_seq": 0})
    assert sync["ok"] and sync["room"]["consenting_roles"] == list(CONSENTING_ROLES)


def test_the_protocol_document_describes_the_field() -> None:
    assert "`consenting_roles`" in DOC
    snapshot = DOC.split("### `room.join`", 1)[1].split("\n### ", 1)[0]
    assert "consenting_roles" in snapshot
