"""`heshi` — serve, migrate, create-org, create-user, demo, court-receiver, verify.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.config import ConfigError, Settings, load_settings
from server.domain.accounts import StaffRole
from server.domain.errors import DomainError
from server.domain.orgs import OrgKind, OrgLevel

if TYPE_CHECKING:
    from server.services.demo import ConcludedCase


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
    from server.services.demo import DEFAULT_COURT_URL, create_concluded_case, create_demo, create_recorded_session

    court_url = _court_url(args.court_url or DEFAULT_COURT_URL)

    async def work(core: Any) -> Any:
        demo = await create_demo(core)
        recorded = await create_recorded_session(core, demo)
        return demo, recorded, await create_concluded_case(core, court_url=court_url)

    result, recorded, concluded = _run_core(_settings(args), work)
    if args.json:
        print(
            json.dumps({**result.as_json(), **recorded.as_json(), **concluded.as_json()}, ensure_ascii=False, indent=2)
        )
        return 0
    settings = _settings(args)
    print(f"Demo case {result.case_number} (id {result.case_id}), session {result.session_id}\n")
    print(f"Staff accounts — sign in at {settings.public_url}/login")
    for a in result.accounts:
        print(f"  {a['role']:<9} {a['username']:<14} password {a['password']}   {a['display_name']}, {a['org']}")
    print("\nJoin links — each opens the session directly, in that role")
    for role, link in result.links.items():
        print(f"  {role:<10} {link}")
    print(f"\nRecorded session {recorded.session_id} of the same case: held yesterday, ended, with chat, minutes")
    print("  and a few seconds of synthetic video and audio. Review it (signed in as demo-reviewer or demo-mediator):")
    print(f"  {settings.public_url}{recorded.review_path}")
    print(f"\nConcluded case {concluded.case_number} (id {concluded.case_id}): held two days ago, minutes and")
    print("  agreement signed by both parties and the mediator, judicial confirmation requested (pending)")
    print(f"Court endpoint of the demo district: {concluded.court_url}")
    print(f"  court secret {concluded.court_secret}")
    print(f"To receive the package (a running server delivers it): {_receiver_command(concluded)}")
    return 0


def _court_url(url: str) -> str:
    from server.services.orgs import COURT_URL_RE, MAX_COURT_URL

    url = url.strip()
    if len(url) > MAX_COURT_URL or not COURT_URL_RE.match(url):
        raise CliExit(f"--court-url: an http(s) URL of at most {MAX_COURT_URL} characters, got {url[:80]!r}")
    return url


def _receiver_command(concluded: ConcludedCase) -> str:
    """The `heshi court-receiver` line that listens where the demo's court endpoint points."""
    from urllib.parse import urlsplit

    from server.cli import court_receiver as cr

    where = urlsplit(concluded.court_url)
    if where.scheme != "http" or not where.hostname or not cr.is_loopback(where.hostname):
        return f"run a receiver at {concluded.court_url} that knows the secret (docs/api.md, Receiving packages)"
    words = ["heshi court-receiver"]
    if where.hostname != cr.DEFAULT_HOST:
        words.append(f"--host {where.hostname}")
    if (where.port or 80) != cr.DEFAULT_PORT:
        words.append(f"--port {where.port or 80}")
    if (where.path or "/") != cr.DEFAULT_PATH:
        words.append(f"--path {where.path or '/'}")
    words.append(f"--secret {concluded.court_secret}")
    return " ".join(words)


def cmd_court_receiver(args: argparse.Namespace) -> int:
    from aiohttp import web

    from server.cli import court_receiver as cr

    host = args.host or cr.DEFAULT_HOST
    port = cr.DEFAULT_PORT if args.port is None else args.port
    path = args.path or cr.DEFAULT_PATH
    secret = args.secret or ""
    if args.secret_file:
        try:
            secret = Path(args.secret_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliExit(f"--secret-file: cannot read {args.secret_file}: {exc}") from None
    if not secret:
        raise CliExit("the court secret is required: --secret or --secret-file (heshi demo prints it)")
    if not cr.is_loopback(host) and not args.allow_remote:
        raise CliExit(
            f"--host {host} is not a loopback address: this stand-in speaks plain HTTP and stores "
            "packages with the parties' identity numbers; add --allow-remote if you mean it"
        )
    if not path.startswith("/"):
        raise CliExit(f"--path must start with '/', got {path!r}")
    # Only the data directory of the configuration: --host and --port here are the receiver's own.
    directory = Path(args.dir) if args.dir else load_settings(data_dir=args.data_dir).data_dir / "court-inbox"
    app = cr.create_app(cr.CourtReceiver(secret=secret, directory=directory), path)
    shown = f"[{host}]" if ":" in host else host
    print(f"Court receiver listening on http://{shown}:{port}{path}; packages go to {directory}", flush=True)
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None, shutdown_timeout=2)
    except OSError as exc:
        raise CliExit(f"cannot listen on {shown}:{port}: {exc.strerror or exc}") from None
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from server.cli import verify

    return verify.run(args.package, args.public_key)


def cmd_retention(args: argparse.Namespace) -> int:
    from server.domain.clock import wire_time
    from server.services.retention import Retention

    async def work(core: Any) -> Any:
        job = Retention(core)
        return await job.run_once() if args.run else await job.due()

    result = _run_core(_settings(args), work)
    if not args.run:
        for s in result:
            ended = wire_time(s.ended_at) if s.ended_at else "?"
            print(f"case {s.case_id} session {s.session_id}: ended {ended}, its org keeps recordings {s.days} days")
        print(f"{len(result)} sessions with expired recording files; `heshi retention --run` deletes them")
        return 0
    print(
        f"deleted {result.deleted} files of {result.sessions} sessions (each logged as recording.deleted by "
        f"system:retention); removed {result.repaired} files left over by an earlier run"
    )
    for failure in result.failed:
        print(f"heshi: could not delete {failure}; the next run tries again", file=sys.stderr)
    return 1 if result.failed else 0


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
    p.add_argument(
        "--court-url",
        help="the court endpoint set on the demo district, where the concluded case's package goes "
        "(default: where `heshi court-receiver` listens, http://127.0.0.1:8090/court/confirmations)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("court-receiver", help="a stand-in court that receives judicial-confirmation packages")
    p.add_argument("--data-dir", help="overrides HESHI_DATA_DIR (the default --dir is DATA_DIR/court-inbox)")
    p.add_argument("--host", help="address to listen on, 127.0.0.1 by default (loopback unless --allow-remote)")
    p.add_argument("--port", type=int, help="port to listen on, 8090 by default")
    p.add_argument("--path", help="the path packages are POSTed to, /court/confirmations by default")
    p.add_argument("--secret", help="the court secret shared with the org (heshi demo prints one)")
    p.add_argument("--secret-file", help="a file holding the secret instead: it stays out of the process list")
    p.add_argument("--dir", help="where packages are stored (default DATA_DIR/court-inbox)")
    p.add_argument("--allow-remote", action="store_true", help="allow a --host that is not a loopback address")
    p.set_defaults(func=cmd_court_receiver)

    p = sub.add_parser(
        "verify",
        help="check an evidence export offline: signature, files, case log, checkpoints, timestamps",
        description="Check an evidence export (GET /api/v1/exports/{id}.zip) without the server: exit 0 "
        "and a summary when it is intact, 1 naming the first item that does not match.",
    )
    p.add_argument("package", metavar="PACKAGE.zip", help="the export to check")
    p.add_argument(
        "--public-key",
        metavar="FILE",
        help="the server's public key (PEM, as GET /api/v1/evidence/public-key serves it): the package "
        "must be signed by this key, not only by the one it carries",
    )
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("retention", help="list the sessions whose recordings expired; --run deletes them now")
    common(p)
    p.add_argument(
        "--run", action="store_true", help="delete them now (each file logged as recording.deleted by system:retention)"
    )
    p.set_defaults(func=cmd_retention)
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
