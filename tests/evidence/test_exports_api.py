"""The export routes as their users call them: a mediator, a reviewer over the org or an admin
asks for an export, the app's own builder makes it, they download it and it verifies offline;
each step is in the case log with who did it. Who else asks gets 403 or 404, bad ids 404, and
a file changed on disk fails the export, naming it, and leaves nothing behind."""

from __future__ import annotations

import hashlib
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from server.app import EXPORTS
from server.cli.verify import verify_file
from server.config import REPO_ROOT
from server.services import eventlog, exports
from server.services.core import Core
from server.storage import exports as stored
from tests.api.conftest import Caller, SignIn, admin, expect_error, sign_in  # noqa: F401 — fixtures
from tests.api.test_api_access import BAD_IDS
from tests.conftest import World
from tests.evidence.conftest import LocalTsa, recorded_case
from tests.support.waiting import wait_for

V1 = "/api/v1"


async def log_of(core: Core, case_id: str, prefix: str = "export.") -> list[tuple[str, str, dict[str, Any]]]:
    async with core.db.read() as tx:
        return [(e.kind, e.actor, e.data) for e in await eventlog.entries(tx, case_id) if e.kind.startswith(prefix)]


async def until_finished(caller: Caller, case_id: str, export_id: str) -> dict[str, Any]:
    async def finished() -> dict[str, Any] | None:
        listed = await caller.ok("GET", f"{V1}/cases/{case_id}/exports")
        row = next(e for e in listed["exports"] if e["id"] == export_id)
        return row if row["status"] in ("done", "failed") else None

    return await wait_for(finished, timeout=120, what=f"export {export_id} to finish")


def account(world: World, username: str) -> str:
    return f"account:{world.principals[username].account_id}"


async def test_an_export_is_asked_for_built_downloaded_and_verifies_offline(
    sign_in: SignIn, core: Core, world: World, media: dict[str, bytes], tmp_path: Path
) -> None:
    rec = await recorded_case(core, media)
    mediator = await sign_in("demo-mediator")
    made = await mediator.ok("POST", f"{V1}/cases/{rec.case_id}/exports", status=202)
    assert made["status"] in ("queued", "running") and made["package"] is None
    assert made["created_by"] == account(world, "demo-mediator")
    row = await until_finished(mediator, rec.case_id, made["id"])  # the app's own builder
    assert row["status"] == "done", row
    assert row["package"]["url"] == f"{V1}/exports/{made['id']}.zip" and row["checkpoint_seq"] >= 2

    resp = await mediator.get(row["package"]["url"])
    assert resp.status == 200 and resp.content_type == "application/zip"
    body = await resp.read()
    assert hashlib.sha256(body).hexdigest() == row["package"]["sha256"] == resp.headers["X-Package-SHA256"]
    assert len(body) == row["package"]["bytes"]
    (tmp_path / "export.zip").write_bytes(body)
    lines = verify_file(tmp_path / "export.zip")
    assert lines[0] == "intact: every check passed" and any("2 RFC 3161 token(s) verified" in x for x in lines)

    # Under the data directory, owner-only; never in the source tree.
    async with core.db.read() as tx:
        record = await stored.load_export(tx, made["id"])
    assert record.path == f"exports/{rec.case_id}/{made['id']}.zip"
    on_disk = core.settings.data_dir / record.path
    assert on_disk.read_bytes() == body and stat.S_IMODE(on_disk.stat().st_mode) == 0o600
    assert not list(REPO_ROOT.glob(f"**/{made['id']}*"))

    # A resumed download (a later range) is the same download; a new one is logged again.
    ranged = await mediator.get(row["package"]["url"], headers={"Range": "bytes=100-"})
    assert ranged.status == 206
    reviewer = await sign_in("demo-reviewer")
    assert (await reviewer.get(row["package"]["url"])).status == 200
    mediator_id, reviewer_id = account(world, "demo-mediator"), account(world, "demo-reviewer")
    logged = await log_of(core, rec.case_id)
    assert [(k, a) for k, a, _ in logged] == [
        ("export.requested", mediator_id),
        ("export.built", "system:evidence-export"),
        ("export.downloaded", mediator_id),
        ("export.downloaded", reviewer_id),
    ]
    built = logged[1][2]
    assert built["sha256"] == row["package"]["sha256"] and built["export_id"] == made["id"]
    assert built["deleted_segments"] == 1 and built["checkpoint_seq"] == row["checkpoint_seq"]


async def test_reviewers_and_admins_export_experts_and_outsiders_do_not(
    sign_in: SignIn, core: Core, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    case_id = world.demo.case_id  # the expert is invited to it: they read the case, not its evidence
    url = f"{V1}/cases/{case_id}/exports"
    expert, outsider, other_reviewer = (
        await sign_in("demo-expert"),
        await sign_in("other-mediator"),
        await sign_in("other-reviewer"),
    )
    await expect_error(await expert.post(url), 403, "forbidden")
    await expect_error(await expert.get(url), 403, "forbidden")
    for caller in (outsider, other_reviewer):
        await expect_error(await caller.post(url), 404, "not_found")
        await expect_error(await caller.get(url), 404, "not_found")
    assert await log_of(core, case_id) == []

    reviewer = await sign_in("demo-reviewer")
    made = await reviewer.ok("POST", url, status=202)
    mediator = await sign_in("demo-mediator")
    err = await expect_error(await mediator.post(url), 409, "conflict")
    assert made["id"] in err["message"], "one export of a case is built at a time"
    row = await until_finished(reviewer, case_id, made["id"])
    assert row["status"] == "done", row
    admin = await sign_in("demo-admin")
    again = await admin.ok("POST", url, status=202)
    assert {e["id"] for e in (await admin.ok("GET", url))["exports"]} == {made["id"], again["id"]}

    zip_url = row["package"]["url"]
    await expect_error(await expert.get(zip_url), 403, "forbidden")
    await expect_error(await outsider.get(zip_url), 404, "not_found")
    assert f"refused account:{world.principals['other-mediator'].account_id}" in caplog.text

    # A package file swapped for a link to elsewhere is not served.
    async with core.db.read() as tx:
        on_disk = core.settings.data_dir / str((await stored.load_export(tx, made["id"])).path)
    on_disk.unlink()
    on_disk.symlink_to("/etc/passwd")
    await expect_error(await reviewer.get(zip_url), 404, "not_found")
    assert [(k, a) for k, a, _ in await log_of(core, case_id) if k != "export.built"] == [
        ("export.requested", account(world, "demo-reviewer")),
        ("export.requested", account(world, "demo-admin")),
    ], "refusals write nothing"


async def test_unknown_malformed_and_unbuilt_exports_are_4xx(admin: Caller, client, core: Core, world: World) -> None:
    await client.server.app[EXPORTS].stop()  # so that the export below stays queued
    for bad in BAD_IDS:
        await expect_error(await admin.get(URL(f"{V1}/exports/{bad}.zip", encoded=True)), 404, "not_found")
    for bad in ("..%2F..%2Fetc%2Fpasswd", "%2E%2E%252F", "..\\..\\x", "%00"):
        resp = await admin.get(URL(f"{V1}/exports/{bad}.zip", encoded=True))
        assert resp.status == 404, (bad, resp.status)
    await expect_error(await admin.post(f"{V1}/cases/not-a-case/exports"), 404, "not_found")
    made = await admin.ok("POST", f"{V1}/cases/{world.demo.case_id}/exports", status=202)
    err = await expect_error(await admin.get(f"{V1}/exports/{made['id']}.zip"), 409, "conflict")
    assert "waiting to be built" in err["message"]


async def test_a_segment_changed_on_disk_fails_the_export_naming_it(
    sign_in: SignIn, core: Core, media: dict[str, bytes]
) -> None:
    rec = await recorded_case(core, media)
    changed = core.settings.data_dir / rec.segment_paths[0]
    changed.write_bytes(changed.read_bytes()[:-1] + b"\x00")
    mediator = await sign_in("demo-mediator")
    made = await mediator.ok("POST", f"{V1}/cases/{rec.case_id}/exports", status=202)
    row = await until_finished(mediator, rec.case_id, made["id"])
    assert row["status"] == "failed" and rec.segment_paths[0] in row["error"], row
    assert "no longer matches the SHA-256" in row["error"] and row["package"] is None
    assert [(k, a) for k, a, _ in await log_of(core, rec.case_id)][-1] == ("export.failed", "system:evidence-export")
    folder = core.settings.data_dir / "exports" / rec.case_id
    assert not folder.exists() or list(folder.iterdir()) == [], "nothing half-made is left"


async def test_the_tsa_down_at_export_time_still_gives_a_package_that_verifies(
    core: Core, world: World, media: dict[str, bytes], tsa: LocalTsa, tmp_path: Path
) -> None:
    rec = await recorded_case(core, media)
    record = await exports.request(core, rec.mediator, rec.case_id)
    tsa.mode = "error"
    try:
        assert await exports.Exports(core).run_once() == 1
    finally:
        tsa.mode = "ok"
    _, path = await exports.download(core, rec.mediator, record.id, None)
    lines = verify_file(path)
    assert lines[0] == "intact: every check passed"
    assert any("1 RFC 3161 token(s) verified (checkpoint 1:" in x for x in lines), lines


async def test_a_build_cut_off_by_a_stopped_node_is_failed_by_the_sweep(core: Core, world: World) -> None:
    record = await exports.request(core, world.principals["demo-admin"], world.demo.case_id)
    async with core.db.write() as tx:
        assert await stored.claim(tx, record.id) is not None  # a node took it, and then stopped
    builder = exports.Exports(core)
    assert await builder.sweep() == 0, "not stale yet"
    core.clock.advance(seconds=exports.STALE_AFTER.total_seconds() + 1)
    assert await builder.sweep() == 1
    async with core.db.read() as tx:
        failed = await stored.load_export(tx, record.id)
    assert failed.status == "failed" and failed.error and "cut off" in failed.error
    assert [(k, a) for k, a, _ in await log_of(core, world.demo.case_id)] == [
        ("export.requested", f"account:{world.principals['demo-admin'].account_id}"),
        ("export.failed", "system:evidence-export"),
    ]
    assert await builder.run_once() == 0 and timedelta(hours=2) == exports.STALE_AFTER


async def test_a_build_stopped_with_its_node_goes_back_to_the_queue(core: Core, world: World, tsa: LocalTsa) -> None:
    """A node stopping (a deploy) while it builds: the export is queued again, not left running.
    The TSA is slow, so the build is waiting on it when the node stops."""
    record = await exports.request(core, world.principals["demo-admin"], world.demo.case_id)
    builder = exports.Exports(core, interval=0.05)
    asked = tsa.requests
    tsa.mode = "slow"
    try:
        await builder.start()
        await wait_for(lambda: tsa.requests > asked, timeout=30, what="the export's checkpoint to ask the TSA")
        await builder.stop()
    finally:
        tsa.mode = "ok"
    async with core.db.read() as tx:
        assert (await stored.load_export(tx, record.id)).status == "queued"
    assert await exports.Exports(core).run_once() == 1
    async with core.db.read() as tx:
        assert (await stored.load_export(tx, record.id)).status == "done"
