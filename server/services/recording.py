"""A session's recording as the API and the pages ask for it.

`recordings/` records, writes and hashes the files (evidence.py) and makes the one-file download
(composite.py); this service puts what they keep together for the edges, so that no route or
page reaches into them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from recordings import composite, evidence
from server.domain.actors import Actor
from server.domain.errors import NotFound
from server.storage import recordings as stored
from server.storage.base import Tx

from .core import Core


class SessionRef(Protocol):
    """What the download needs of a session: which one, and its case (for the log)."""

    @property
    def id(self) -> str: ...
    @property
    def case_id(self) -> str: ...


async def summary(core: Core, session_id: str) -> dict[str, Any]:
    """The download's state, then the runs, consents and segments, read together."""
    async with core.db.read() as tx:
        return await summary_in(tx, session_id)


async def summary_in(tx: Tx, session_id: str) -> dict[str, Any]:
    """`summary`, read in the caller's transaction (a page that reads more than the recording)."""
    return {
        "composite": composite.view(await stored.composite_of(tx, session_id)),
        **await evidence.summary_in(tx, session_id),
    }


async def download_state(core: Core, session_id: str) -> dict[str, Any] | None:
    return composite.view(await composite.status(core, session_id))


def is_done(state: dict[str, Any] | None) -> bool:
    return state is not None and state.get("status") == composite.Status.done


async def download(core: Core, actor: Actor, session: SessionRef, byte_range: str | None) -> Path:
    """The finished download's file; each viewing is written to the case log first."""
    row = await composite.status(core, session.id)
    if row is None or row.status != composite.Status.done or not row.path:
        raise NotFound("this session has no finished recording download")
    path = core.settings.data_dir / row.path
    if not path.is_file():
        raise NotFound("the recording file is missing on this server")
    # One entry per viewing: a player's many range requests within a few minutes are one access.
    await composite.log_access(core, session.case_id, session.id, actor, byte_range)
    return path
