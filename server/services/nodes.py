"""Server processes sharing one database: who is alive, so that what a dead one ran is closed.

Each `heshi serve` process registers itself at start-up with a random id and a stable name
(the host and port it serves, so that a restarted node has the same name as before), then
writes `seen_at` every HEARTBEAT_SECONDS. A process is dead when another process took its
name (the node was restarted) or when it has not been seen for NODE_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import timedelta

from server.storage import nodes as stored

from .core import Core

HEARTBEAT_SECONDS = 15.0
NODE_TIMEOUT_SECONDS = 60.0
FORGET_AFTER = timedelta(days=7)  # rows of processes long gone are deleted


@dataclass(frozen=True)
class NodeIdentity:
    id: str
    name: str


def default_name(port: int) -> str:
    return f"{socket.gethostname()}:{port}"


async def register(core: Core, name: str) -> NodeIdentity:
    now = core.clock.now()
    async with core.db.write() as tx:
        node_id = await stored.add(tx, name, now, forget_before=now - FORGET_AFTER)
    return NodeIdentity(node_id, name[:200])


async def heartbeat(core: Core, me: NodeIdentity) -> None:
    async with core.db.write() as tx:
        await stored.seen(tx, me.id, core.clock.now())


async def live_nodes(core: Core, me: NodeIdentity) -> dict[str, str]:
    """The processes that are alive as far as `me` can tell, by id, with their names."""
    cutoff = core.clock.now() - timedelta(seconds=NODE_TIMEOUT_SECONDS)
    async with core.db.read() as tx:
        rows = await stored.seen_since(tx, cutoff)
    alive = {node_id: name for node_id, name in rows.items() if node_id == me.id or name != me.name}
    alive[me.id] = me.name
    return alive


async def names_of(core: Core, node_ids: set[str]) -> dict[str, str]:
    async with core.db.read() as tx:
        return await stored.names_of(tx, node_ids)
