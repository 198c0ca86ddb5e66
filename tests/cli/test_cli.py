"""`heshi` as an operator runs it: real subprocesses, a temporary data directory, no other HESHI_ settings."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from server.config import load_settings
from server.domain.errors import Unauthenticated
from server.services import invitations, signin
from server.services.core import Core
from tests.support.services import free_port, postgres_admin_url, postgres_execute

HESHI = Path(sys.executable).with_name("heshi")
PUBLIC_URL = "https://mediate.example.cn"


def heshi_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESHI_")}
    env["HESHI_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def heshi(data_dir: Path, *args: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HESHI), *args], env=heshi_env(data_dir, **extra), input=stdin, capture_output=True, text=True, timeout=60
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    """Assert the command failed with `status`, printing exactly one line and no traceback."""
    assert result.returncode == status, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("heshi: ")
    return lines[0]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated by `heshi migrate` with one org (QS) in it, made once per module."""
    data_dir = tmp_path_factory.mktemp("template")
    ok(heshi(data_dir, "migrate"))
    ok(heshi(data_dir, "create-org", "--name", "清水镇调委会", "--code", "QS", "--kind", "people"))
    return data_dir / "heshi.db"


@pytest.fixture
def migrated(data_dir: Path, template: Path) -> Path:
    data_dir.mkdir()
    shutil.copy(template, data_dir / "heshi.db")
    return data_dir


def run_core(data_dir: Path, work: Any, **env: str) -> Any:
    """Use the data directory the CLI wrote, through the services, as the server would."""

    async def main() -> Any:
        core = Core.build(load_settings(env={"HESHI_DATA_DIR": str(data_dir), **env}))
        try:
            return await work(core)
        finally:
            await core.close()

    return asyncio.run(main())


def test_migrate_creates_the_sqlite_database_in_the_data_dir_and_can_run_again(data_dir: Path) -> None:
    assert ok(heshi(data_dir, "migrate")) == "database is at the latest schema (sqlite+aiosqlite)\n"
    assert (data_dir / "heshi.db").is_file()
    assert ok(heshi(data_dir, "migrate")) == "database is at the latest schema (sqlite+aiosqlite)\n"


def test_create_org_builds_a_tree_and_refuses_a_duplicate_code(migrated: Path) -> None:
    out = ok(
        heshi(
            migrated,
            "create-org",
            "--name",
            "五里店司法所",
            "--code",
            "jb-wld",
            "--kind",
            "justice_bureau",
            "--level",
            "district",
        )
    )
    assert out.startswith("created org JB-WLD (五里店司法所), id ")
    ok(
        heshi(
            migrated,
            "create-org",
            "--name",
            "桃花村调委会",
            "--code",
            "JB-WLD-TH",
            "--kind",
            "people",
            "--level",
            "village",
            "--parent",
            "JB-WLD",
        )
    )
    duplicate = heshi(migrated, "create-org", "--name", "另一个", "--code", "JB-WLD", "--kind", "people")
    assert duplicate.stdout == ""
    assert one_line_error(duplicate, 1) == "heshi: org code 'JB-WLD' is already in use"
    orphan = heshi(migrated, "create-org", "--name", "孤儿", "--code", "ORPHAN", "--kind", "people", "--parent", "NOPE")
    assert one_line_error(orphan, 1) == "heshi: no org with code 'NOPE'"


def test_a_user_created_with_a_password_on_stdin_can_sign_in(migrated: Path) -> None:
    out = ok(
        heshi(
            migrated,
            "create-user",
            "--username",
            "Wang.JG",
            "--role",
            "mediator",
            "--org",
            "qs",
            "--display-name",
            "王建国",
            "--password-stdin",
            stdin="一个足够长的密码 2026\n",
        )
    )
    assert out == "created mediator account 'wang.jg' in 清水镇调委会\n"  # no password printed

    async def sign_in(core: Core) -> Any:
        session = await signin.login(core, "wang.jg", "一个足够长的密码 2026", "127.0.0.1")
        return session.principal

    principal = run_core(migrated, sign_in)
    assert (principal.display_name, principal.staff_role.value) == ("王建国", "mediator")


def test_a_generated_password_is_printed_once_and_works(migrated: Path) -> None:
    out = ok(
        heshi(migrated, "create-user", "--username", "admin", "--role", "admin", "--org", "QS", "--generate-password")
    )
    lines = out.splitlines()
    assert lines[0] == "created admin account 'admin' in 清水镇调委会"
    assert lines[1].startswith("password: ") and len(lines) == 2
    password = lines[1].removeprefix("password: ")

    async def sign_in(core: Core) -> Any:
        return await signin.login(core, "admin", password, "127.0.0.1")

    assert run_core(migrated, sign_in).principal.is_admin
    taken = heshi(
        migrated, "create-user", "--username", "admin", "--role", "admin", "--org", "QS", "--generate-password"
    )
    assert one_line_error(taken, 1) == "heshi: username 'admin' is taken"
    assert taken.stdout == ""  # no password printed for an account that was not created


def test_an_empty_password_on_stdin_is_refused_and_creates_no_account(migrated: Path) -> None:
    result = heshi(
        migrated, "create-user", "--username", "li", "--role", "mediator", "--org", "QS", "--password-stdin", stdin="\n"
    )
    assert one_line_error(result, 1) == "heshi: password must be at least 10 characters"
    again = heshi(
        migrated,
        "create-user",
        "--username",
        "li",
        "--role",
        "mediator",
        "--org",
        "QS",
        "--password-stdin",
        stdin="long-enough-now\n",
    )
    assert ok(again).startswith("created mediator account 'li'")  # the name was not taken by the failed run


def test_commands_on_an_unmigrated_database_say_to_migrate(data_dir: Path) -> None:
    for args in (("create-org", "--name", "X", "--code", "X", "--kind", "people"), ("demo",)):
        result = heshi(data_dir, *args)
        assert "heshi migrate" in one_line_error(result, 2)


def check_demo_output(out: str) -> dict[str, Any]:
    doc = json.loads(out)
    concluded = {"concluded_case_id", "concluded_case_number", "concluded_session_id", "agreement_id"}
    court = {"confirmation_request_id", "court_url", "court_secret"}
    recorded = {"recorded_session_id"}
    assert set(doc) - {"case_number"} == {"case_id", "session_id", "links", "accounts"} | recorded | concluded | court
    assert set(doc["links"]) == {"mediator", "applicant", "respondent", "expert"}
    for link in doc["links"].values():
        assert link.startswith(f"{PUBLIC_URL}/j/")
    assert {a["role"] for a in doc["accounts"]} == {"admin", "mediator", "expert", "reviewer"}
    for account in doc["accounts"]:
        assert set(account) == {"username", "password", "role", "display_name", "org"}
        assert len(account["password"]) >= 10
    uuid.UUID(doc["case_id"]), uuid.UUID(doc["session_id"]), uuid.UUID(doc["recorded_session_id"])
    assert doc["recorded_session_id"] != doc["session_id"]
    return doc


def test_demo_json_prints_ids_join_links_under_the_public_url_and_accounts(migrated: Path) -> None:
    doc = check_demo_output(ok(heshi(migrated, "demo", "--json", HESHI_PUBLIC_URL=PUBLIC_URL)))

    async def follow_links(core: Core) -> Any:
        found = {}
        for role, link in doc["links"].items():
            inv = await invitations.resolve(core, link.rsplit("/", 1)[1])
            found[role] = (inv.role, inv.session_id, inv.case_id)
        mediator = next(a for a in doc["accounts"] if a["role"] == "mediator")
        session = await signin.login(core, mediator["username"], mediator["password"], "127.0.0.1")
        found["signed in as"] = session.principal.display_name
        return found

    # The links are signed with the key the CLI generated into the data directory.
    found = run_core(migrated, follow_links, HESHI_PUBLIC_URL=PUBLIC_URL)
    assert found.pop("signed in as") == "王建国"
    assert found == {role: (role, doc["session_id"], doc["case_id"]) for role in doc["links"]}


def test_demo_can_run_twice_making_a_new_case_and_giving_new_passwords(migrated: Path) -> None:
    first = check_demo_output(ok(heshi(migrated, "demo", "--json", HESHI_PUBLIC_URL=PUBLIC_URL)))
    assert first["case_number"].endswith("-0001")
    # The second time without --json: the summary for people.
    out = ok(heshi(migrated, "demo", HESHI_PUBLIC_URL=PUBLIC_URL))
    assert out.startswith("Demo case DEMO-QS-") and "-0002 (id " in out.splitlines()[0]
    assert f"sign in at {PUBLIC_URL}/login" in out
    assert out.count(f"{PUBLIC_URL}/j/") == 4
    assert re.search(rf"{re.escape(PUBLIC_URL)}/s/[0-9a-f-]{{36}}/review$", out, re.M), "the recorded session's review"
    passwords = {line.split()[1]: line.split()[3] for line in out.splitlines() if " password " in line}
    assert set(passwords) == {"demo-admin", "demo-mediator", "demo-expert", "demo-reviewer"}

    old_admin = next(a for a in first["accounts"] if a["username"] == "demo-admin")

    async def sign_in_all(core: Core) -> dict[str, str]:
        with pytest.raises(Unauthenticated):  # the first run's password was replaced
            await signin.login(core, "demo-admin", old_admin["password"], "127.0.0.1")
        return {
            username: (await signin.login(core, username, password, "127.0.0.2")).principal.staff_role.value
            for username, password in passwords.items()
        }

    assert run_core(migrated, sign_in_all) == {
        "demo-admin": "admin",
        "demo-mediator": "mediator",
        "demo-expert": "expert",
        "demo-reviewer": "reviewer",
    }


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"HESHI_PORT": "abc"}, "HESHI_PORT"),
        ({"HESHI_CONFIG": "/nonexistent/heshi.toml"}, "HESHI_CONFIG"),
    ],
)
def test_serve_with_a_bad_setting_exits_2_with_one_line_naming_it(
    data_dir: Path, env: dict[str, str], setting: str
) -> None:
    result = heshi(data_dir, "serve", **env)
    line = one_line_error(result, 2)
    assert line.startswith(f"heshi: configuration error: {setting}: ")
    assert result.stdout == ""


def test_serve_on_an_unmigrated_database_exits_2_telling_to_migrate(data_dir: Path) -> None:
    result = heshi(data_dir, "serve", HESHI_PORT=str(free_port()))
    line = one_line_error(result, 2)
    assert "heshi migrate" in line
    assert result.stdout == ""


def test_an_unreachable_database_is_one_line_not_a_traceback(data_dir: Path) -> None:
    unreachable = f"postgresql://heshi@127.0.0.1:{free_port()}/heshi"
    for args in (("migrate",), ("demo",)):
        line = one_line_error(heshi(data_dir, *args, HESHI_DATABASE_URL=unreachable), 2)
        assert "(postgresql+asyncpg)" in line


def get_json(url: str) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status, json.loads(resp.read())


def test_serve_with_migrate_answers_healthz_and_stops_on_sigterm(data_dir: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(HESHI), "serve", "--migrate"],
        env=heshi_env(data_dir, HESHI_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                status, body = get_json(f"http://127.0.0.1:{port}/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "server did not answer /healthz within 30 s"
                time.sleep(0.1)
        assert status == 200
        assert body["status"] == "ok" and body["database"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "database is at the latest schema" in out
    assert f"Heshi listening on http://127.0.0.1:{port}" in out


@pytest.fixture
def fresh_postgres_url() -> Any:
    admin = postgres_admin_url()
    name = f"heshi_cli_{uuid.uuid4().hex[:12]}"
    postgres_execute(admin, f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        postgres_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_and_demo_work_against_postgresql(data_dir: Path, fresh_postgres_url: str) -> None:
    env = {"HESHI_DATABASE_URL": fresh_postgres_url, "HESHI_PUBLIC_URL": PUBLIC_URL}
    assert ok(heshi(data_dir, "migrate", **env)) == "database is at the latest schema (postgresql+asyncpg)\n"
    doc = check_demo_output(ok(heshi(data_dir, "demo", "--json", **env)))
    assert not (data_dir / "heshi.db").exists()

    async def follow(core: Core) -> str:
        return (await invitations.resolve(core, doc["links"]["applicant"].rsplit("/", 1)[1])).case_id

    assert run_core(data_dir, follow, **env) == doc["case_id"]


def test_retention_lists_what_expired_and_runs_on_a_fresh_database(tmp_path: Path) -> None:
    """`heshi retention` lists, `--run` deletes (tests/retention has the rules and the deletions)."""
    assert heshi(tmp_path, "migrate").returncode == 0
    listed = heshi(tmp_path, "retention")
    assert listed.returncode == 0, listed.stderr
    assert "0 sessions with expired recording files" in listed.stdout
    ran = heshi(tmp_path, "retention", "--run")
    assert ran.returncode == 0, ran.stderr
    assert "deleted 0 files of 0 sessions" in ran.stdout
