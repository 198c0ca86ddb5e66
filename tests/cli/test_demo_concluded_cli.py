"""`heshi demo` also leaves a concluded case: its number and id, the court endpoint it set and
the court secret, in the summary and in `--json`; and the package it asked for reaches
`heshi court-receiver` run with that secret, as README's "Try it" tells an operator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from server.domain.confirmation import RequestStatus
from server.services import confirmations
from server.services.core import Core
from server.storage import confirmations as stored_confirmations
from tests.support.services import free_port
from tests.support.waiting import wait_for

from .test_cli import (  # noqa: F401 - fixtures
    PUBLIC_URL,
    data_dir,
    heshi,
    migrated,
    ok,
    one_line_error,
    run_core,
    template,
)
from .test_court_receiver import start_receiver, stop

NEW_KEYS = {
    "concluded_case_id",
    "concluded_case_number",
    "concluded_session_id",
    "agreement_id",
    "confirmation_request_id",
    "court_url",
    "court_secret",
}


def test_demo_json_has_the_concluded_case_and_the_court_secret_beside_the_old_keys(migrated: Path) -> None:
    doc = json.loads(ok(heshi(migrated, "demo", "--json", HESHI_PUBLIC_URL=PUBLIC_URL)))
    old = {"case_id", "case_number", "session_id", "links", "accounts"}
    assert set(doc) == old | NEW_KEYS | {"recorded_session_id"}  # the demo case's recorded session
    assert doc["case_number"].startswith("DEMO-QS-2026-") and doc["case_number"].endswith("-0001")
    assert doc["concluded_case_number"].startswith("DEMO-QS-TH-") and doc["concluded_case_id"] != doc["case_id"]
    assert doc["court_url"] == "http://127.0.0.1:8090/court/confirmations" and len(doc["court_secret"]) >= 32

    async def read(core: Core) -> Any:
        async with core.db.read() as tx:
            return await stored_confirmations.load_request(tx, doc["confirmation_request_id"])

    request = run_core(migrated, read)
    assert (request.case_id, request.status, request.endpoint) == (
        doc["concluded_case_id"],
        RequestStatus.pending,
        doc["court_url"],
    )


def test_demo_summary_names_the_concluded_case_and_how_to_receive_its_package(migrated: Path) -> None:
    out = ok(heshi(migrated, "demo", "--court-url", "http://127.0.0.1:9123/in", HESHI_PUBLIC_URL=PUBLIC_URL))
    assert out.startswith("Demo case DEMO-QS-") and out.count(f"{PUBLIC_URL}/j/") == 4
    lines = out.splitlines()
    concluded = next(line for line in lines if line.startswith("Concluded case DEMO-QS-TH-"))
    assert "(id " in concluded
    assert "Court endpoint of the demo district: http://127.0.0.1:9123/in" in lines
    secret = next(line for line in lines if line.strip().startswith("court secret ")).split()[-1]
    assert lines[-1].endswith(f"heshi court-receiver --port 9123 --path /in --secret {secret}")
    assert sum(" password " in line for line in lines) == 4  # only the staff accounts' lines


def test_demo_refuses_a_court_url_that_is_not_http_and_makes_nothing(migrated: Path) -> None:
    result = heshi(migrated, "demo", "--court-url", "ftp://court.example.cn/in")
    assert one_line_error(result, 2).startswith("heshi: --court-url: ")
    doc = json.loads(ok(heshi(migrated, "demo", "--json")))
    assert doc["case_number"].endswith("-0001")  # the refused run made no case


def test_the_demos_package_reaches_heshi_court_receiver_run_with_the_printed_secret(migrated: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/court/confirmations"
    doc = json.loads(ok(heshi(migrated, "demo", "--json", "--court-url", url)))
    proc = start_receiver(migrated, "--port", str(port), "--secret", doc["court_secret"])

    async def deliver(core: Core) -> Any:
        # What `heshi serve` runs in the background, on the same database and data directory.
        deliveries = confirmations.Deliveries(core, interval=0.05, timeout=5)
        await deliveries.start()
        try:

            async def done() -> Any:
                async with core.db.read() as tx:
                    row = await stored_confirmations.load_request(tx, doc["confirmation_request_id"])
                return row if row.status != RequestStatus.pending else None

            return await wait_for(done, timeout=30, what="the package to be delivered")
        finally:
            await deliveries.stop()

    try:
        row = run_core(migrated, deliver)
    finally:
        out, err = stop(proc)
    assert row.status == RequestStatus.delivered, row.last_error
    stored = migrated / "court-inbox" / f"{doc['confirmation_request_id']}.zip"
    assert stored.read_bytes() == (migrated / row.package_path).read_bytes()
    assert f"case {doc['concluded_case_number']}" in out and " 200 stored delivery " in out, (out, err)
