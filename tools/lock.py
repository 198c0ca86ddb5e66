"""Regenerate the lock files (`make lock`): every Python package `make run` and `make test` install.

    requirements-build.lock  pip, and setuptools to build the editable install of Heshi itself
    requirements.lock        what `make run` installs: pyproject.toml's dependencies and theirs
    requirements-test.lock   what `make test` installs: the same plus the `test` extra and theirs

Each pins one version per package, with the sha256 of every file of that version on the
index (wheels for every platform and the sdist), so pip installs them with --require-hashes.
The resolution is universal (uv's --universal): one file serves every node, x86_64 or aarch64,
whatever its Python 3.11 patch release; a package needed only somewhere carries a marker.

Versions already in a lock file are kept unless pyproject.toml asks for another one; --upgrade
moves every unpinned (transitive) package to its newest release. The runtime lock takes its
versions from the test lock, so a package is pinned the same in both, and the script checks it.
It then checks that on Linux x86_64 and aarch64 every locked package has a wheel (nothing is
built from source on install) and that nothing outside the lock gets resolved there.

Needs uv (`make lock` installs the pinned version into .venv); `make run`/`make test` do not.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
BUILD_LOCK = ROOT / "requirements-build.lock"
RUN_LOCK = ROOT / "requirements.lock"
TEST_LOCK = ROOT / "requirements-test.lock"

PYTHON = "3.11"  # pyproject.toml: requires-python = ">=3.11,<3.12"
# Targets the lock must install on without building anything: both architectures, at a glibc
# as old as manylinux_2_28 (av ships nothing older), at a 3.11 release before and after
# aiohttp stopped needing async-timeout (3.11.3).
CHECK_PLATFORMS = ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]
CHECK_PYTHONS = ["3.11.0", "3.11.14"]

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def pins(text: str) -> set[tuple[str, str]]:
    """(normalised name, version) of every `name==version` requirement in a lock or uv output."""
    return {(re.sub(r"[-_.]+", "-", name).lower(), version) for name, version in PIN.findall(text)}


def compile_lock(uv: str, output: Path, args: list[str], stdin: str | None = None) -> None:
    cmd = [uv, "pip", "compile", *args, "--universal", "--python-version", PYTHON, "--generate-hashes"]
    cmd += ["--custom-compile-command", "make lock", "--quiet", "--output-file", output.name]
    subprocess.run(cmd, cwd=ROOT, input=stdin, text=True, check=True)


def check_platforms(uv: str) -> list[str]:
    """Resolve for each concrete target, wheels only, held to the test lock; report what is not in it."""
    locked = pins(TEST_LOCK.read_text())
    problems = []
    for platform in CHECK_PLATFORMS:
        for python in CHECK_PYTHONS:
            cmd = [uv, "pip", "compile", "pyproject.toml", "--extra", "test", "--constraint", TEST_LOCK.name]
            cmd += ["--python-platform", platform, "--python-version", python, "--only-binary", ":all:"]
            cmd += ["--no-header", "--no-annotate", "--quiet"]
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                problems.append(f"{platform}, Python {python}: cannot install from wheels:\n{done.stderr.strip()}")
                continue
            extra = sorted(pins(done.stdout) - locked)
            if extra:
                problems.append(f"{platform}, Python {python}: resolves outside the lock: {extra}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--upgrade", action="store_true", help="move transitive packages to their newest release")
    parser.add_argument("--uv", default=shutil.which("uv"), help="the uv executable (default: uv on PATH)")
    opts = parser.parse_args()
    if not opts.uv:
        parser.error("uv not found: run `make lock`, which installs it into .venv, or pass --uv")
    upgrade = ["--upgrade"] if opts.upgrade else []

    build_requires = tomllib.loads(PYPROJECT.read_text())["build-system"]["requires"]
    compile_lock(opts.uv, BUILD_LOCK, ["-", *upgrade], stdin="\n".join(["pip", *build_requires]) + "\n")
    compile_lock(opts.uv, TEST_LOCK, ["pyproject.toml", "--extra", "test", *upgrade])
    # uv prefers the versions already in the output file: seeding it with the test lock makes the
    # runtime resolution, a subset of the test one, pick the very same versions.
    with tempfile.TemporaryDirectory() as tmp:
        previous = Path(tmp) / RUN_LOCK.name
        if RUN_LOCK.exists():
            shutil.copy2(RUN_LOCK, previous)
        shutil.copy2(TEST_LOCK, RUN_LOCK)
        try:
            compile_lock(opts.uv, RUN_LOCK, ["pyproject.toml"])
        except subprocess.CalledProcessError:
            if previous.exists():
                shutil.copy2(previous, RUN_LOCK)
            raise

    problems = []
    differ = sorted(pins(RUN_LOCK.read_text()) - pins(TEST_LOCK.read_text()))
    if differ:
        problems.append(f"{RUN_LOCK.name} pins differently from {TEST_LOCK.name}: {differ}")
    problems += check_platforms(opts.uv)
    for problem in problems:
        print(f"lock: {problem}", file=sys.stderr)
    if problems:
        return 1
    for lock in (BUILD_LOCK, RUN_LOCK, TEST_LOCK):
        print(f"{lock.name}: {len(pins(lock.read_text()))} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
