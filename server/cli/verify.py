"""`heshi verify PACKAGE.zip [--public-key FILE]`: check an evidence export offline.

Reads the ZIP without extracting anything (so a name like `../x` can name nothing on disk, and
is refused anyway), and hands it to `server.domain.evidence_verify.verify_package`, with
`openssl ts -verify` to check timestamp tokens. It needs neither the server's database nor
its configuration nor the network. Exit status: 0 intact (a summary on standard output), 1 an
item does not match (named on standard output, with why), 2 the command cannot run (no such
file, an unreadable key file).
"""

from __future__ import annotations

import hashlib
import stat
import sys
import zipfile
import zlib
from pathlib import Path
from typing import TextIO

from server.domain.evidence_verify import Mismatch, verify_package
from server.services.timestamps import check_token

CHUNK = 1 << 20
DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError)


class ZipPackage:
    """A package's files as the ZIP holds them, read in place (`PackageReader`)."""

    def __init__(self, z: zipfile.ZipFile) -> None:
        self._z = z
        self._infos = z.infolist()
        # orig_filename: zipfile cuts a name at a NUL character, and that must not pass unseen
        self._by_name = {i.orig_filename: i for i in self._infos}

    def names(self) -> list[str]:
        return [i.orig_filename for i in self._infos]

    def is_regular(self, name: str) -> bool:
        info = self._by_name[name]
        if info.is_dir():
            return False
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0: the archiver gave permissions only
        return info.create_system != 3 or kind in (0, stat.S_IFREG)

    def size(self, name: str) -> int:
        return self._by_name[name].file_size

    def read(self, name: str) -> bytes:
        try:
            return self._z.read(self._by_name[name])
        except DAMAGE as exc:
            raise Mismatch(name, f"the archive is damaged here ({type(exc).__name__}: {exc})") from None

    def digest(self, name: str) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        try:
            with self._z.open(self._by_name[name]) as fh:
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except DAMAGE as exc:
            raise Mismatch(name, f"the archive is damaged here ({type(exc).__name__}: {exc})") from None
        return digest.hexdigest(), size


class UsageError(Exception):
    """The command cannot run: exit status 2."""


def verify_file(package: Path, public_key: Path | None = None) -> list[str]:
    """The summary lines of an intact package; Mismatch for the first item that does not match,
    UsageError when the files cannot be read at all."""
    key_pem: bytes | None = None
    if public_key is not None:
        try:
            key_pem = public_key.read_bytes()
        except OSError as exc:
            raise UsageError(f"--public-key: cannot read {public_key}: {exc.strerror or exc}") from None
    try:
        fh = package.open("rb")
    except OSError as exc:
        raise UsageError(f"cannot read {package}: {exc.strerror or exc}") from None
    with fh:
        try:
            z = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError):
            raise Mismatch(package.name, "not a ZIP archive (an evidence export is one ZIP file)") from None
        with z:
            return verify_package(ZipPackage(z), public_key_pem=key_pem, timestamps=check_token).lines()


def run(package: str, public_key: str | None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """What `heshi verify` prints, and its exit status."""
    path = Path(package)
    try:
        lines = verify_file(path, Path(public_key) if public_key else None)
    except UsageError as exc:
        print(f"heshi verify: {exc}", file=err)
        return 2
    except Mismatch as exc:
        print(f"{path.name}: NOT INTACT", file=out)
        print(f"  first mismatch: {exc.item}", file=out)
        print(f"  why:            {exc.reason}", file=out)
        return 1
    print(f"{path.name}: {lines[0]}", file=out)
    for line in lines[1:]:
        print(line, file=out)
    return 0
