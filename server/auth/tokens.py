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
from datetime import UTC, datetime

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
    row_id: str  # the invitation's id, or the recording's
    expires_at: datetime

    @property
    def invitation_id(self) -> str:
        return self.row_id


class SignedIdTokens:
    """Tokens naming one row id (a UUID) until an expiry, under a key derived for one purpose."""

    purpose = b"heshi/invitation-token/v1"
    what = "invitation link"
    malformed = "this link is not a valid invitation link"
    expired_hint = "; ask the mediator for a new one"

    def __init__(self, secret_key: str):
        self._key = hmac.new(secret_key.encode(), self.purpose, hashlib.sha256).digest()

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:16]

    def sign(self, row_id: str, expires_at: datetime) -> str:
        body = uuid.UUID(row_id).bytes + struct.pack(">I", int(expires_at.timestamp()))
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def verify(self, token: str, now: datetime) -> TokenClaims:
        """Check shape, signature and expiry; raise InvalidToken naming which one failed."""
        malformed = self.malformed
        if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise InvalidToken("malformed", malformed)
        body_text, mac_text = token.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            raise InvalidToken("malformed", malformed) from None
        if len(body) != 20 or len(mac) != 16:
            raise InvalidToken("malformed", malformed)
        if not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidToken("bad_signature", f"this {self.what} has been altered or was not issued here")
        row_id = str(uuid.UUID(bytes=body[:16]))
        expires_at = datetime.fromtimestamp(struct.unpack(">I", body[16:])[0], tz=UTC)
        if now >= expires_at:
            raise InvalidToken("expired", f"this {self.what} has expired{self.expired_hint}")
        return TokenClaims(row_id, expires_at)


class InvitationTokens(SignedIdTokens):
    """Join links: the id is the invitation's."""


class RecorderTokens(SignedIdTokens):
    """What a recorder worker connects with: the id is the recording run's. A separate key,
    so that an invitation token can never pass for a recorder's, nor the other way round."""

    purpose = b"heshi/recorder-token/v1"
    what = "recorder credential"
    malformed = "this recorder credential is not valid"
    expired_hint = ""
