"""A recording's files: where a session's go, and the one SHA-256 that segments, the evidence
log and the download share."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath


def session_folder(case_id: str, session_id: str) -> PurePosixPath:
    """A session's recording directory relative to the data directory, as the evidence log
    names it: `recordings/<case>/<session>`."""
    return PurePosixPath("recordings", case_id, session_id)


def session_dir(data_dir: Path, case_id: str, session_id: str) -> Path:
    """Where a session's files go: `<data dir>/recordings/<case>/<session>/`."""
    return Path(data_dir) / session_folder(case_id, session_id)


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
