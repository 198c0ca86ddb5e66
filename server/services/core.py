"""The Core: everything a service call needs, built once per process and closed on shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.passwords import Passwords
from server.auth.tokens import InvitationTokens
from server.config import Settings, ensure_secret_key
from server.domain.clock import Clock, SystemClock
from server.storage.database import Database


@dataclass
class Core:
    settings: Settings
    db: Database
    clock: Clock
    passwords: Passwords
    tokens: InvitationTokens

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Core:
        settings = ensure_secret_key(settings)
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            clock=clock or SystemClock(),
            passwords=Passwords(),
            tokens=InvitationTokens(settings.secret_key),
        )

    def join_url(self, token: str) -> str:
        return f"{self.settings.public_url}/j/{token}"

    async def close(self) -> None:
        await self.db.close()
