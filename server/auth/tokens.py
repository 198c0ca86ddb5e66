"""Signed invitation tokens: short enough for a QR code, bound to one invitation and an expiry.

Format: base64url(16-byte invitation UUID + 4-byte expiry, Unix seconds) "." base64url(MAC),
where MAC is the first 16 bytes of HMAC-SHA256 under a key derived for this purpose only.
The signature makes forgery and tampering detectable without a database read; expiry and
revocation are checked against the database row, which is the authority.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from server.domain.errors import InvalidToken

MAX_TOKEN_LENGTH = 128
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Decode unpadded base64url, accepting only the one canonical spelling of the bytes.

    The lenient decoder skips foreign characters, takes '+' and '/' for '-' and '_', and
    ignores the spare low bits of the last character, so one token would have many
    spellings; a link that was altered must not still work.
    """
    if not _B64URL_RE.fullmatch(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical base64url spelling")
    return data


@dataclass(frozen=True)
class TokenClaims:
    invitation_id: str
    expires_at: datetime


class InvitationTokens:
    def __init__(self, secret_key: str):
        self._key = hmac.new(secret_key.encode(), b"heshi/invitation-token/v1", hashlib.sha256).digest()

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:16]

    def sign(self, invitation_id: str, expires_at: datetime) -> str:
        body = uuid.UUID(invitation_id).bytes + struct.pack(">I", int(expires_at.timestamp()))
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def verify(self, token: str, now: datetime) -> TokenClaims:
        """Check shape, signature and expiry; raise InvalidToken naming which one failed."""
        if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise InvalidToken("malformed", "this link is not a valid invitation link")
        body_text, mac_text = token.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            raise InvalidToken("malformed", "this link is not a valid invitation link") from None
        if len(body) != 20 or len(mac) != 16:
            raise InvalidToken("malformed", "this link is not a valid invitation link")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidToken("bad_signature", "this invitation link has been altered or was not issued here")
        invitation_id = str(uuid.UUID(bytes=body[:16]))
        expires_at = datetime.fromtimestamp(struct.unpack(">I", body[16:])[0], tz=timezone.utc)
        if now >= expires_at:
            raise InvalidToken("expired", "this invitation link has expired; ask the mediator for a new one")
        return TokenClaims(invitation_id, expires_at)
