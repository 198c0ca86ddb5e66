"""Hashing recording files: the one SHA-256 that segments, the evidence log and the download share."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_of(path: Path, *, fsync: bool = False) -> tuple[str, int]:
    """The file's SHA-256 (hex) and size in bytes, read in 1 MiB blocks; `fsync` first makes
    sure what was hashed is what the disk holds."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        if fsync:
            os.fsync(f.fileno())
    return digest.hexdigest(), size
