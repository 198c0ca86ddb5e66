"""A small tmpfs: a disk that really fills up, for the recording tests. Needs root, which
`make test` and CI have; without it the test fails with the reason (tests never skip)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def tiny_tmpfs(mount: Path, size: str) -> Iterator[Path]:
    mount.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise RuntimeError(
            "this test mounts a small tmpfs to fill a disk for real: run the tests as root (make test does in CI)"
        )
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"cannot mount a tmpfs at {mount}: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
