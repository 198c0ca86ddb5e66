"""The server's Ed25519 evidence key: it signs checkpoints and export manifests.

Generated at first start (or first use) as `DATA_DIR/evidence/signing-key.pem` (PKCS #8, PEM),
the directory owner-only (0700) and the file owner-only (0600); loaded thereafter. Several
nodes share the data directory, and so the key. Two processes starting at once agree on one
key: each writes a private temporary file and links it into place, and the one that loses
the race reads the winner's. The public key is published (`GET /api/v1/evidence/public-key`)
with the SHA-256 fingerprint of its 32 raw bytes, and every export carries it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.domain.evidence import key_fingerprint

from .core import Core

log = logging.getLogger("heshi.evidence")

KEY_DIR = "evidence"
KEY_FILE = "signing-key.pem"


class EvidenceKeyError(Exception):
    """The key file cannot be used (unreadable, not an Ed25519 private key)."""


@dataclass(frozen=True)
class ServerKey:
    private: Ed25519PrivateKey
    public_raw: bytes
    public_pem: bytes
    fingerprint: str  # SHA-256 (hex) of the raw public key

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> ServerKey:
        public = private.public_key()
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return cls(private, raw, pem, key_fingerprint(raw))

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def public_view(self) -> dict[str, Any]:
        """What the API publishes and an export carries."""
        return {
            "algorithm": "Ed25519",
            "public_key_pem": self.public_pem.decode("ascii"),
            "public_key_hex": self.public_raw.hex(),
            "fingerprint_sha256": self.fingerprint,
        }


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_DIR / KEY_FILE


def load_or_create(data_dir: Path) -> ServerKey:
    """The key under `data_dir`, generated there on first use."""
    folder = Path(data_dir) / KEY_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _owner_only(folder, 0o700)
    path = folder / KEY_FILE
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = folder / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
                log.info("evidence: generated the server's Ed25519 signing key at %s", path)
            except FileExistsError:
                pass  # another process won the race: use its key
        finally:
            tmp.unlink(missing_ok=True)
    _owner_only(path, 0o600)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise EvidenceKeyError(f"the evidence signing key {path} cannot be used: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise EvidenceKeyError(f"the evidence signing key {path} is not an Ed25519 private key")
    return ServerKey.of(private)


def _owner_only(path: Path, mode: int) -> None:
    """Tighten a key file or its directory that someone made readable by others."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        log.warning("evidence: %s was mode %o; making it owner-only (%o)", path, current, mode)
        path.chmod(mode)


async def server_key(core: Core) -> ServerKey:
    """The key of this installation (read from the data directory; made on first use)."""
    return await asyncio.to_thread(load_or_create, core.settings.data_dir)
