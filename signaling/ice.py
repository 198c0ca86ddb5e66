"""ICE servers for browsers, with time-limited TURN credentials compatible with coturn.

coturn's `use-auth-secret` (TURN REST API): username = "<expiry unix time>:<user id>",
credential = base64(HMAC-SHA1(static-auth-secret, username)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from server.config import Settings


def turn_credentials(secret: str, user: str, now: float, ttl: int) -> tuple[str, str]:
    username = f"{int(now) + ttl}:{user}"
    credential = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, credential


def ice_servers(settings: Settings, pid: str, now: float) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    if settings.ice_servers:
        servers.append({"urls": list(settings.ice_servers)})
    if settings.turn_urls:
        username, credential = turn_credentials(settings.turn_secret, pid, now, settings.turn_ttl_seconds)
        servers.append({"urls": list(settings.turn_urls), "username": username, "credential": credential})
    return servers
