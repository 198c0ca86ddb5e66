"""Recording tests run a real node, real recorder worker processes and aiortc participants."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Settings
from tests.conftest import settings_for
from tests.signaling.conftest import live  # noqa: F401 — the live-node fixture
from tests.support.stores import RoomStoreChoice


@pytest.fixture
def settings(tmp_path: Path, database_url: str, room_store: RoomStoreChoice) -> Settings:
    # One-second segments, so that a few seconds of media make several of them.
    return settings_for(tmp_path, database_url, room_store, recording_segment_seconds=1)
