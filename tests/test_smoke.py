async def test_healthz_reports_database_ok(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["database"] == "ok"


async def test_demo_world_builds(world):
    assert world.demo.case_number.startswith("DEMO-QS-2026-")
