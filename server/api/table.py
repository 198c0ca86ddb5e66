"""The route table's row: what aiohttp needs to route a request, and what the OpenAPI
document (openapi.py) says of it. Each module of handlers exports its rows as ROUTES."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

V1 = "/api/v1"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    # staff: a signed-in staff account (require_staff); person: that, or a join link's holder
    # (require_person); none: anyone.
    auth: str = "staff"
    produces: str = "application/json"
