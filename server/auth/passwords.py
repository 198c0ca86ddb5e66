"""Argon2id password hashing, off the event loop (a hash costs tens of milliseconds)."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None):
        self._hasher = hasher or PasswordHasher()
        # Verified against when a username does not exist, so timing does not tell. Made on
        # first use and in a thread: building a Core (often inside the event loop) stays cheap.
        self._dummy: str | None = None

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await asyncio.to_thread(self._hasher.hash, secrets.token_hex(16))
        return self._dummy

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        # Every call awaits the dummy (not only unknown usernames), so the first sign-in after
        # start-up costs the same whether or not the username exists.
        dummy = await self._dummy_hash()
        target = stored_hash or dummy

        def check() -> bool:
            try:
                return self._hasher.verify(target, password) and bool(stored_hash)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)


def generate_password(length: int = 14) -> str:
    """A password without look-alike characters (0/O, 1/l/I), to read out over the phone."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
