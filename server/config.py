"""Configuration: HESHI_* environment variables over an optional TOML file, validated at start.

A bad value raises ConfigError with a one-line message naming the setting; `heshi serve`
prints it and exits non-zero.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PREFIX = "HESHI_"
REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting has a bad value. The message is one line and names the setting."""


def _positive_int(name: str, raw: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    # Plain ASCII digits only: int() would also take '8_080', '٨٠٨٠' and TOML's true (as 1).
    text = str(raw).strip()
    if isinstance(raw, bool) or not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ConfigError(f"{PREFIX}{name.upper()}: expected a whole number, got {raw!r}")
    value = int(text)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{PREFIX}{name.upper()}: must be {bounds}, got {value}")
    return value


def _bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{PREFIX}{name.upper()}: expected true or false, got {raw!r}")


def _url(name: str, raw: Any, schemes: tuple[str, ...]) -> str:
    text = str(raw).strip()
    parsed = urlparse(text)
    # unix:///path/to/socket names a path; every other scheme needs a host ('https:example.cn' has none).
    located = parsed.path if parsed.scheme == "unix" else parsed.netloc
    if parsed.scheme not in schemes or not located or not text.startswith(f"{parsed.scheme}://"):
        starts = " or ".join(s + "://" for s in schemes)
        raise ConfigError(f"{PREFIX}{name.upper()}: expected a URL starting with {starts}, got {text!r}")
    return text.rstrip("/") if name == "public_url" else text


def _list(raw: Any) -> list[str]:
    if isinstance(raw, list):
        return [str(x).strip() for x in raw if str(x).strip()]
    return [p.strip() for p in str(raw).split(",") if p.strip()]


def _addresses(name: str, raw: Any) -> tuple[str, ...]:
    """IP addresses, each able to name one network interface (an ICE host candidate)."""
    found: list[str] = []
    for text in _list(raw):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name.upper()}: expected IP addresses, got {text!r}") from None
        # These name no single interface (or, IPv6 link-local, need a zone aioice does not use).
        if address.is_unspecified or address.is_multicast or (address.version == 6 and address.is_link_local):
            raise ConfigError(f"{PREFIX}{name.upper()}: {text!r} is not the address of one interface")
        if str(address) not in found:
            found.append(str(address))
    return tuple(found)


@dataclass(frozen=True)
class Settings:
    """Every setting of Heshi. The README's configuration table lists the same names."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # defaults to http://host:port
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str = ""  # defaults to SQLite under data_dir
    redis_url: str | None = None
    secret_key: str = ""  # defaults to a key generated once into data_dir/secret_key
    language: str = "zh"
    log_level: str = "INFO"
    invitation_ttl_hours: int = 168
    staff_session_hours: int = 12
    login_max_failures: int = 5
    login_window_seconds: int = 900
    max_body_bytes: int = 1_048_576
    cookie_secure: bool = False
    allowed_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks of reverse proxies whose X-Forwarded-For is believed
    web_dir: Path = field(default_factory=lambda: REPO_ROOT / "web")
    # Live sessions (signaling)
    session_grace_seconds: int = 60
    session_idle_minutes: int = 30
    max_publishers: int = 6
    ice_servers: tuple[str, ...] = ()  # stun:/turn: URLs handed to browsers as they are
    turn_urls: tuple[str, ...] = ()  # TURN URLs that get time-limited credentials
    turn_secret: str = ""  # coturn's static-auth-secret (use-auth-secret)
    turn_ttl_seconds: int = 86400
    redis_max_connections: int = 1000
    redis_prefix: str = "heshi:"  # every key and channel; deployments sharing one Redis need their own
    rate_limit_scale: int = 1  # multiplies the per-connection signaling limits
    video_max_kbps: int = 500  # the most video each browser sends to each other browser
    # Recording
    recording_segment_seconds: int = 10  # the longest a segment file gets; a crash loses at most one
    recorder_connect_url: str = ""  # where recorder workers reach this node; default: the address a request came in on
    recorder_addresses: tuple[str, ...] = ()  # the only addresses recorder workers offer ICE candidates on; () = all

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


LANGUAGES = ("zh", "en")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _from_raw(raw: Mapping[str, Any]) -> Settings:
    known = {f.name for f in fields(Settings)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{PREFIX}{key.upper()}: unknown setting")
    s: dict[str, Any] = {}
    if "host" in raw:
        s["host"] = str(raw["host"]).strip() or "127.0.0.1"
    if "port" in raw:
        s["port"] = _positive_int("port", raw["port"], maximum=65535)
    if "public_url" in raw and str(raw["public_url"]).strip():
        s["public_url"] = _url("public_url", raw["public_url"], ("http", "https"))
    if "data_dir" in raw:
        s["data_dir"] = Path(str(raw["data_dir"])).expanduser()
    if "database_url" in raw and str(raw["database_url"]).strip():
        s["database_url"] = normalise_database_url(str(raw["database_url"]))
    if "redis_url" in raw and str(raw["redis_url"]).strip():
        s["redis_url"] = _url("redis_url", raw["redis_url"], ("redis", "rediss", "unix"))
    if "secret_key" in raw and str(raw["secret_key"]).strip():
        key = str(raw["secret_key"]).strip()
        if len(key) < 32:
            raise ConfigError(f"{PREFIX}SECRET_KEY: must be at least 32 characters, got {len(key)}")
        s["secret_key"] = key
    if "language" in raw:
        lang = str(raw["language"]).strip()
        if lang not in LANGUAGES:
            raise ConfigError(f"{PREFIX}LANGUAGE: must be one of {', '.join(LANGUAGES)}, got {lang!r}")
        s["language"] = lang
    if "log_level" in raw:
        level = str(raw["log_level"]).strip().upper()
        if level not in LOG_LEVELS:
            raise ConfigError(f"{PREFIX}LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}, got {raw['log_level']!r}")
        s["log_level"] = level
    for name, maximum in (
        ("invitation_ttl_hours", 24 * 90),
        ("staff_session_hours", 24 * 30),
        ("login_max_failures", 1000),
        ("login_window_seconds", 86400),
        ("max_body_bytes", 64 * 1024 * 1024),
    ):
        if name in raw:
            s[name] = _positive_int(name, raw[name], maximum=maximum)
    if "cookie_secure" in raw:
        s["cookie_secure"] = _bool("cookie_secure", raw["cookie_secure"])
    if "allowed_origins" in raw:
        s["allowed_origins"] = tuple(
            _url("allowed_origins", o, ("http", "https")).rstrip("/") for o in _list(raw["allowed_origins"])
        )
    if "trusted_proxies" in raw:
        nets = []
        for n in _list(raw["trusted_proxies"]):
            try:
                nets.append(str(ipaddress.ip_network(n, strict=False)))
            except ValueError:
                raise ConfigError(f"{PREFIX}TRUSTED_PROXIES: not an IP address or network: {n!r}") from None
        s["trusted_proxies"] = tuple(nets)
    if "web_dir" in raw:
        s["web_dir"] = Path(str(raw["web_dir"])).expanduser()
    for name, minimum, maximum in (
        ("session_grace_seconds", 5, 3600),
        ("session_idle_minutes", 1, 24 * 60),
        ("max_publishers", 2, 50),
        ("turn_ttl_seconds", 60, 7 * 86400),
        ("redis_max_connections", 10, 100_000),
        ("rate_limit_scale", 1, 1000),
        ("video_max_kbps", 50, 10_000),
        ("recording_segment_seconds", 1, 10),
    ):
        if name in raw:
            s[name] = _positive_int(name, raw[name], minimum=minimum, maximum=maximum)
    for name in ("ice_servers", "turn_urls"):
        if name in raw:
            urls = tuple(_list(raw[name]))
            for u in urls:
                if not u.startswith(("stun:", "turn:", "turns:")):
                    raise ConfigError(f"{PREFIX}{name.upper()}: expected stun:, turn: or turns: URLs, got {u!r}")
            s[name] = urls
    if "redis_prefix" in raw:
        prefix = str(raw["redis_prefix"]).strip()
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", prefix):
            raise ConfigError(
                f"{PREFIX}REDIS_PREFIX: 1-64 characters of letters, digits, '_', '.', ':' or '-', got {prefix!r}"
            )
        s["redis_prefix"] = prefix
    if "recorder_connect_url" in raw and str(raw["recorder_connect_url"]).strip():
        s["recorder_connect_url"] = _url("recorder_connect_url", raw["recorder_connect_url"], ("http", "https")).rstrip(
            "/"
        )
    if "recorder_addresses" in raw:
        s["recorder_addresses"] = _addresses("recorder_addresses", raw["recorder_addresses"])
    if "turn_secret" in raw:
        s["turn_secret"] = str(raw["turn_secret"]).strip()
    if s.get("turn_urls") and not s.get("turn_secret"):
        raise ConfigError(f"{PREFIX}TURN_SECRET: required when {PREFIX}TURN_URLS is set")
    return Settings(**s)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (postgresql://, sqlite:///) and pick the async driver."""
    url = url.strip()
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite:///")):
        return url
    raise ConfigError(
        f"{PREFIX}DATABASE_URL: expected sqlite:///PATH or postgresql://…, got {url.split('://')[0]!r} URL"
    )


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read HESHI_CONFIG (TOML) then HESHI_* variables, then explicit overrides; fill defaults."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    config_file = env.get(PREFIX + "CONFIG")
    if config_file:
        path = Path(config_file)
        try:
            with path.open("rb") as fh:
                raw.update({k.lower(): v for k, v in tomllib.load(fh).items()})
        except FileNotFoundError:
            raise ConfigError(f"{PREFIX}CONFIG: file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{PREFIX}CONFIG: {path} is not valid TOML: {_one_line(exc)}") from None
        except OSError as exc:  # a directory, no permission, …
            raise ConfigError(f"{PREFIX}CONFIG: cannot read {path}: {exc.strerror or _one_line(exc)}") from None
    for key, value in env.items():
        if key.startswith(PREFIX) and key != PREFIX + "CONFIG":
            raw[key[len(PREFIX) :].lower()] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return complete(_from_raw(raw))


def complete(s: Settings) -> Settings:
    """Fill the defaults that depend on other settings."""
    from dataclasses import replace

    data_dir = s.data_dir.resolve()
    public_url = s.public_url or f"http://{s.host}:{s.port}"
    database_url = s.database_url or f"sqlite+aiosqlite:///{data_dir / 'heshi.db'}"
    return replace(
        s,
        data_dir=data_dir,
        public_url=public_url,
        database_url=database_url,
        cookie_secure=s.cookie_secure or public_url.startswith("https://"),
    )


def ensure_secret_key(s: Settings) -> Settings:
    """Use the configured key, else one generated once into data_dir/secret_key (mode 0600).

    Several nodes must share one key: set HESHI_SECRET_KEY on each of them.
    """
    from dataclasses import replace

    if s.secret_key:
        return s
    path = s.data_dir / "secret_key"
    s.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Write a private temporary file, then link it into place: two processes starting at
        # once (serve and migrate) agree on one key, and neither reads a half-written file.
        tmp = s.data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process won the race; use its key
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(
            f"{PREFIX}SECRET_KEY: the key in {path} is shorter than 32 characters; delete it or set the variable"
        )
    return replace(s, secret_key=key)
