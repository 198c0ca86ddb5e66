"""The lock files pin every Python package that `make run` and `make test` install, with hashes.

pip installs them with --require-hashes --no-deps (Makefile), so a package missing here is
missing on every node, and one listed without a hash stops the install. `make lock` rewrites
them after a change to pyproject.toml (README, "Dependencies").
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
TEST_EXTRA = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]]
BUILD = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
LOCKS = {
    "requirements.lock": RUNTIME,
    "requirements-test.lock": RUNTIME + TEST_EXTRA,
    "requirements-build.lock": [*BUILD, Requirement("pip")],
}
SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


def read_lock(name: str) -> list[tuple[Requirement, list[str]]]:
    """Each requirement of a lock file with its hashes, in the file's order."""
    entries = []
    text = (ROOT / name).read_text().replace("\\\n", " ")  # a requirement continues over its hash lines
    for raw in text.splitlines():
        line = re.split(r"(?:^|\s)#", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        hashes = [t.removeprefix("--hash=") for t in tokens if t.startswith("--hash=")]
        rest = " ".join(t for t in tokens if not t.startswith("--hash="))
        assert not rest.startswith("-"), f"{name}: an option line ({rest!r}); pip's own configuration picks the index"
        entries.append((Requirement(rest), hashes))
    return entries


def pinned_version(req: Requirement) -> str:
    specs = list(req.specifier)
    assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, f"{req} is not pinned"
    return specs[0].version


def pins_here(name: str) -> dict[NormalizedName, str]:
    """Package -> version that pip installs from a lock on this interpreter and platform."""
    pins: dict[NormalizedName, str] = {}
    for req, _ in read_lock(name):
        if req.marker is None or req.marker.evaluate():
            key = canonicalize_name(req.name)
            assert key not in pins, f"{name}: {req.name} is pinned twice for this environment"
            pins[key] = pinned_version(req)
    return pins


@pytest.mark.parametrize("name", LOCKS)
def test_every_requirement_is_pinned_and_hashed(name: str) -> None:
    entries = read_lock(name)
    assert entries, f"{name} lists no package"
    for req, hashes in entries:
        assert req.url is None, f"{name}: {req.name} comes from a URL"
        pinned_version(req)
        assert hashes, f"{name}: {req} has no --hash, and pip --require-hashes refuses the whole file"
        bad = [h for h in hashes if not SHA256.fullmatch(h)]
        assert not bad, f"{name}: {req.name} has hashes that are not sha256: {bad}"


@pytest.mark.parametrize("name", LOCKS)
def test_what_pyproject_names_is_locked_at_its_pin(name: str) -> None:
    """A direct dependency (runtime, test extra, or build backend) is in the lock, at its pin."""
    pins = pins_here(name)
    for req in LOCKS[name]:
        key = canonicalize_name(req.name)
        assert key in pins, f"{req.name} is in pyproject.toml but not in {name}: run `make lock`"
        assert req.specifier.contains(pins[key], prereleases=True), (
            f"pyproject.toml asks for {req}, {name} has {pins[key]}: run `make lock`"
        )


def test_runtime_lock_pins_as_the_test_lock() -> None:
    """`make run` and `make test` install the same version of every package they share."""
    runtime, test = pins_here("requirements.lock"), pins_here("requirements-test.lock")
    differ = {pkg: (version, test.get(pkg)) for pkg, version in runtime.items() if test.get(pkg) != version}
    assert not differ, f"requirements.lock vs requirements-test.lock: {differ}; run `make lock`"
