"""Recording tests run a real node, real recorder worker processes and aiortc participants."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Settings, load_settings
from tests.conftest import TEST_SECRET
from tests.signaling.conftest import live  # noqa: F401 — the live-node fixture
from tests.support.stores import RoomStoreChoice


@pytest.fixture
def settings(tmp_path: Path, database_url: str, room_store: RoomStoreChoice) -> Settings:
    # One-second segments, so that a few seconds of media make several of them.
    return room_store.settings(
        load_settings(
            env={},
            data_dir=str(tmp_path / "data"),
            database_url=database_url,
            secret_key=TEST_SECRET,
            public_url="http://heshi.test",
            recording_segment_seconds=1,
        )
    )
