"""`heshi` — serve, migrate, create-org, create-user, demo.

Every command reads the same configuration as the server (HESHI_* variables, HESHI_CONFIG).
A bad setting prints one line naming it and exits with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from server.config import ConfigError, Settings, load_settings
from server.domain.accounts import StaffRole
from server.domain.errors import DomainError
from server.domain.orgs import OrgKind, OrgLevel


class CliExit(Exception):
    """Stop with a one-line message and an exit status (2: setup problem, 1: refused request)."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.message = message
        self.status = status


NOT_MIGRATED = "the database schema is not current; run `heshi migrate` (or `heshi serve --migrate`)"


def _database_error(doing: str, settings: Settings, exc: BaseException) -> CliExit:
    """One line saying what failed; the URL's scheme only, since the rest may hold a password."""
    reason = " ".join(str(exc).split())[:300]
    return CliExit(f"{doing} the database ({settings.database_url.split('://')[0]}): {reason}")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: getattr(args, k, None) for k in ("host", "port", "data_dir", "database_url")}
    return load_settings(**overrides)


def _run_core(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from server.services.core import Core

    async def main() -> Any:
        # Check first: on an empty database the work would fail half-way with "no such table".
        if not await _schema_is_current(settings):
            raise CliExit(NOT_MIGRATED)
        core = Core.build(settings)
        try:
            return await work(core)
        finally:
            await core.close()

    return asyncio.run(main())


async def _schema_is_current(settings: Settings) -> bool:
    from server.storage.db import DatabaseUnavailable, schema_is_current

    try:
        return await schema_is_current(settings.database_url)
    except DatabaseUnavailable as exc:
        raise _database_error("cannot open", settings, exc) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from server.app import create_app

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.migrate:
        cmd_migrate(args)
    elif not asyncio.run(_schema_is_current(settings)):
        raise CliExit(NOT_MIGRATED)
    app = create_app(settings)
    app.on_startup.append(_tune_gc)
    app.on_startup.append(_stop_gently_on_signals)
    print(f"Heshi listening on http://{settings.host}:{settings.port} (public URL {settings.public_url})", flush=True)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    return 0


# After recorders have reported and sockets were told to close, handlers still running get this
# long; aiohttp's default (60 s) holds a deploy up for WebSocket handlers that never end.
SHUTDOWN_TIMEOUT = 5.0


async def _stop_gently_on_signals(app: Any) -> None:
    """SIGTERM or SIGINT: first let recorder workers finish and report their files, while the
    node still reads its sockets (once aiohttp's own shutdown starts, it ignores what clients
    send), then stop as aiohttp does."""
    import signal

    from aiohttp.web_runner import GracefulExit

    from signaling.server import SIGNALING

    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    def exit_gracefully() -> None:
        raise GracefulExit()  # from a loop callback it leaves run_app, as aiohttp's own handler does

    async def stop() -> None:
        try:
            await app[SIGNALING].before_stop()
        finally:
            loop.call_soon(exit_gracefully)

    def on_signal() -> None:
        if not stopping:
            stopping.append(loop.create_task(stop()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


async def _tune_gc(app: Any) -> None:
    from server.process import tune_gc_for_serving

    tune_gc_for_serving()  # last of the start-up hooks: what start-up made is frozen too


def cmd_migrate(args: argparse.Namespace) -> int:
    from server.storage.db import DatabaseUnavailable, upgrade

    settings = _settings(args)
    try:
        upgrade(settings.database_url)
    except DatabaseUnavailable as exc:
        raise _database_error("cannot migrate", settings, exc) from None
    print(f"database is at the latest schema ({settings.database_url.split('://')[0]})")
    return 0


def cmd_create_org(args: argparse.Namespace) -> int:
    from server.services import orgs

    async def work(core: Any) -> Any:
        parent = await orgs.find_org_by_code(core, args.parent) if args.parent else None
        return await orgs.create_org(
            core,
            None,
            name=args.name,
            code=args.code,
            kind=OrgKind(args.kind),
            level=OrgLevel(args.level) if args.level else None,
            parent_id=parent.id if parent else None,
        )

    org = _run_core(_settings(args), work)
    print(f"created org {org.code} ({org.name}), id {org.id}")
    return 0


def _ask_password() -> str | None:
    """Ask twice on a terminal; an empty answer means 'generate one'."""
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass("Password (empty to generate one): ")
    if not first:
        return None
    if getpass.getpass("Repeat password: ") != first:
        raise DomainError("the two passwords differ")
    return first


def cmd_create_user(args: argparse.Namespace) -> int:
    from server.auth.passwords import generate_password
    from server.services import accounts, orgs

    if args.password_stdin:
        # An empty line is a mistake, not a request to generate: it goes to validation and fails.
        password: str | None = sys.stdin.readline().rstrip("\r\n")
    elif args.generate_password:
        password = None
    else:
        password = _ask_password()
    generated = password is None
    if password is None:
        password = generate_password()

    async def work(core: Any) -> Any:
        org = await orgs.find_org_by_code(core, args.org)
        return await accounts.create_account(
            core,
            None,
            username=args.username,
            display_name=args.display_name or args.username,
            role=StaffRole(args.role),
            org_id=org.id,
            password=password,
        )

    account = _run_core(_settings(args), work)
    print(f"created {account.role} account '{account.username}' in {account.org.name}")
    if generated:
        print(f"password: {password}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from server.services.demo import create_demo

    result = _run_core(_settings(args), create_demo)
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return 0
    settings = _settings(args)
    print(f"Demo case {result.case_number} (id {result.case_id}), session {result.session_id}\n")
    print(f"Staff accounts — sign in at {settings.public_url}/login")
    for a in result.accounts:
        print(f"  {a['role']:<9} {a['username']:<14} password {a['password']}   {a['display_name']}, {a['org']}")
    print("\nJoin links — each opens the session directly, in that role")
    for role, link in result.links.items():
        print(f"  {role:<10} {link}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heshi", description="Heshi (和事) remote mediation server")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="overrides HESHI_DATA_DIR")
        p.add_argument("--database-url", help="overrides HESHI_DATABASE_URL")

    p = sub.add_parser("serve", help="start the server")
    common(p)
    p.add_argument("--host", help="overrides HESHI_HOST")
    p.add_argument("--port", type=int, help="overrides HESHI_PORT")
    p.add_argument("--migrate", action="store_true", help="apply migrations first")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="apply database migrations")
    common(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("create-org", help="create an org (mediation organisation)")
    common(p)
    p.add_argument("--name", required=True)
    p.add_argument("--code", required=True, help="short code, prefixes case numbers, e.g. JB-WLD")
    p.add_argument("--kind", required=True, choices=[k.value for k in OrgKind])
    p.add_argument("--level", choices=[lv.value for lv in OrgLevel])
    p.add_argument("--parent", help="code of the parent org")
    p.set_defaults(func=cmd_create_org)

    p = sub.add_parser("create-user", help="create a staff account")
    common(p)
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=[r.value for r in StaffRole])
    p.add_argument("--org", required=True, help="code of the account's org")
    p.add_argument("--display-name")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    group.add_argument("--generate-password", action="store_true", help="generate and print a password")
    p.set_defaults(func=cmd_create_user)

    p = sub.add_parser("demo", help="create a demo org tree, accounts, case, session and join links")
    common(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"heshi: configuration error: {exc}", file=sys.stderr)
        return 2
    except CliExit as exc:
        print(f"heshi: {exc.message}", file=sys.stderr)
        return exc.status
    except DomainError as exc:
        print(f"heshi: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
