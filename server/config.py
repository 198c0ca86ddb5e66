"""Configuration: HESHI_* environment variables over an optional TOML file, validated at start.

`HeshiSettings` (pydantic-settings) declares every setting with its default and its check;
`load_settings` feeds it explicit overrides, then HESHI_* variables, then the TOML file named
by HESHI_CONFIG (first wins), fills the defaults that depend on other settings, and hands back
a frozen `Settings`. A bad value raises ConfigError with a one-line message naming the setting;
`heshi serve` prints it and exits non-zero.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import BeforeValidator, ValidationInfo, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

PREFIX = "HESHI_"
CONFIG_VARIABLE = PREFIX + "CONFIG"
REPO_ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("zh", "en")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """A setting has a bad value. The message is one line and names the setting."""


def _variable(name: str) -> str:
    return f"{PREFIX}{name.upper()}"


# Checks and conversions. Each takes a raw value (a string from the environment, or any TOML
# value) and raises ConfigError naming the setting; pydantic lets that exception through as it is.


def _positive_int(name: str, raw: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    # Plain ASCII digits only: int() would also take '8_080', '٨٠٨٠' and TOML's true (as 1).
    text = str(raw).strip()
    if isinstance(raw, bool) or not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ConfigError(f"{_variable(name)}: expected a whole number, got {raw!r}")
    value = int(text)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{_variable(name)}: must be {bounds}, got {value}")
    return value


def _bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{_variable(name)}: expected true or false, got {raw!r}")


def _url(name: str, raw: Any, schemes: tuple[str, ...]) -> str:
    text = str(raw).strip()
    parsed = urlparse(text)
    # unix:///path/to/socket names a path; every other scheme needs a host ('https:example.cn' has none).
    located = parsed.path if parsed.scheme == "unix" else parsed.netloc
    if parsed.scheme not in schemes or not located or not text.startswith(f"{parsed.scheme}://"):
        starts = " or ".join(s + "://" for s in schemes)
        raise ConfigError(f"{_variable(name)}: expected a URL starting with {starts}, got {text!r}")
    return text


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
            raise ConfigError(f"{_variable(name)}: expected IP addresses, got {text!r}") from None
        # These name no single interface (or, IPv6 link-local, need a zone aioice does not use).
        if address.is_unspecified or address.is_multicast or (address.version == 6 and address.is_link_local):
            raise ConfigError(f"{_variable(name)}: {text!r} is not the address of one interface")
        if str(address) not in found:
            found.append(str(address))
    return tuple(found)


def _networks(name: str, raw: Any) -> tuple[str, ...]:
    nets = []
    for text in _list(raw):
        try:
            nets.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ConfigError(f"{_variable(name)}: not an IP address or network: {text!r}") from None
    return tuple(nets)


def _ice_urls(name: str, raw: Any) -> tuple[str, ...]:
    urls = tuple(_list(raw))
    for url in urls:
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise ConfigError(f"{_variable(name)}: expected stun:, turn: or turns: URLs, got {url!r}")
    return urls


def _origins(name: str, raw: Any) -> tuple[str, ...]:
    return tuple(_url(name, origin, ("http", "https")).rstrip("/") for origin in _list(raw))


def _choice(choices: tuple[str, ...], *, upper: bool = False) -> Callable[[str, Any], str]:
    def check(name: str, raw: Any) -> str:
        value = str(raw).strip().upper() if upper else str(raw).strip()
        if value not in choices:
            got = raw if upper else value  # as today: the log level is quoted as given
            raise ConfigError(f"{_variable(name)}: must be one of {', '.join(choices)}, got {got!r}")
        return value

    return check


def _secret_key(name: str, raw: Any) -> str:
    key = str(raw).strip()
    if key and len(key) < 32:
        raise ConfigError(f"{_variable(name)}: must be at least 32 characters, got {len(key)}")
    return key


def _redis_prefix(name: str, raw: Any) -> str:
    prefix = str(raw).strip()
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", prefix):
        raise ConfigError(
            f"{_variable(name)}: 1-64 characters of letters, digits, '_', '.', ':' or '-', got {prefix!r}"
        )
    return prefix


def _path(name: str, raw: Any) -> Path:
    return Path(str(raw)).expanduser()


def _stripped(name: str, raw: Any) -> str:
    return str(raw).strip()


def _optional(check: Callable[[str, Any], Any], unset: Any = "") -> Callable[[str, Any], Any]:
    """An empty (or blank) value means the setting is not set."""
    return lambda name, raw: check(name, raw) if str(raw).strip() else unset


def _checked(check: Callable[[str, Any], Any]) -> BeforeValidator:
    """Run check(setting name, raw value) before pydantic's own type check."""

    def validate(raw: Any, info: ValidationInfo) -> Any:
        assert info.field_name is not None
        return check(info.field_name, raw)

    return BeforeValidator(validate)


def _whole(minimum: int = 1, maximum: int | None = None) -> BeforeValidator:
    return _checked(lambda name, raw: _positive_int(name, raw, minimum=minimum, maximum=maximum))


def _http_url(name: str, raw: Any) -> str:
    return _url(name, raw, ("http", "https")).rstrip("/")


def _redis_url(name: str, raw: Any) -> str:
    return _url(name, raw, ("redis", "rediss", "unix"))


def _database_url(name: str, raw: Any) -> str:
    return normalise_database_url(str(raw))


class HeshiSettings(BaseSettings):
    """Every setting of Heshi, its default and its check. The README's configuration table lists the same names."""

    # Defaults are final values (not checked again); the checks above turn raw values into them.
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, extra="forbid", enable_decoding=False, validate_default=False, frozen=True
    )

    host: Annotated[str, _checked(lambda name, raw: str(raw).strip() or "127.0.0.1")] = "127.0.0.1"
    port: Annotated[int, _whole(maximum=65535)] = 8080
    public_url: Annotated[str, _checked(_optional(_http_url))] = ""  # defaults to http://host:port
    data_dir: Annotated[Path, _checked(_path)] = Path("data")
    database_url: Annotated[str, _checked(_optional(_database_url))] = ""  # defaults to SQLite under data_dir
    redis_url: Annotated[str | None, _checked(_optional(_redis_url, unset=None))] = None
    secret_key: Annotated[str, _checked(_secret_key)] = ""  # defaults to a key generated once into data_dir
    language: Annotated[str, _checked(_choice(LANGUAGES))] = "zh"
    log_level: Annotated[str, _checked(_choice(LOG_LEVELS, upper=True))] = "INFO"
    invitation_ttl_hours: Annotated[int, _whole(maximum=24 * 90)] = 168
    staff_session_hours: Annotated[int, _whole(maximum=24 * 30)] = 12
    login_max_failures: Annotated[int, _whole(maximum=1000)] = 5
    login_window_seconds: Annotated[int, _whole(maximum=86400)] = 900
    max_body_bytes: Annotated[int, _whole(maximum=64 * 1024 * 1024)] = 1_048_576
    cookie_secure: Annotated[bool, _checked(_bool)] = False  # true anyway when public_url is https
    allowed_origins: Annotated[tuple[str, ...], _checked(_origins)] = ()
    # addresses or networks of reverse proxies whose X-Forwarded-For is believed
    trusted_proxies: Annotated[tuple[str, ...], _checked(_networks)] = ()
    web_dir: Annotated[Path, _checked(_path)] = REPO_ROOT / "web"
    # Live sessions (signaling)
    session_grace_seconds: Annotated[int, _whole(5, 3600)] = 60
    session_idle_minutes: Annotated[int, _whole(1, 24 * 60)] = 30
    max_publishers: Annotated[int, _whole(2, 50)] = 6
    ice_servers: Annotated[tuple[str, ...], _checked(_ice_urls)] = ()  # stun:/turn: URLs handed to browsers
    turn_urls: Annotated[tuple[str, ...], _checked(_ice_urls)] = ()  # TURN URLs that get time-limited credentials
    turn_secret: Annotated[str, _checked(_stripped)] = ""  # coturn's static-auth-secret (use-auth-secret)
    turn_ttl_seconds: Annotated[int, _whole(60, 7 * 86400)] = 86400
    redis_max_connections: Annotated[int, _whole(10, 100_000)] = 1000
    # every key and channel; deployments sharing one Redis need their own
    redis_prefix: Annotated[str, _checked(_redis_prefix)] = "heshi:"
    rate_limit_scale: Annotated[int, _whole(1, 1000)] = 1  # multiplies the per-connection signaling limits
    video_max_kbps: Annotated[int, _whole(50, 10_000)] = 500  # the most video each browser sends to each other
    # Recording
    recording_segment_seconds: Annotated[int, _whole(1, 10)] = 10  # the longest a segment file gets
    # where recorder workers reach this node; default: the address a request came in on
    recorder_connect_url: Annotated[str, _checked(_optional(_http_url))] = ""
    # the only addresses recorder workers offer ICE candidates on; () = all
    recorder_addresses: Annotated[tuple[str, ...], _checked(_addresses)] = ()
    # Evidence (issue 12): signed checkpoints of every case log's head, and their timestamps
    checkpoint_interval_minutes: Annotated[int, _whole(1, 7 * 24 * 60)] = 60
    tsa_url: Annotated[str, _checked(_optional(_http_url))] = ""  # an RFC 3161 timestamp authority
    # PEM certificates a TSA reply must chain to (required with tsa_url)
    tsa_ca_file: Annotated[Path | None, _checked(_optional(_path, unset=None))] = None

    @model_validator(mode="before")
    @classmethod
    def _known_settings_only(cls, data: Any) -> Any:
        for key in data:
            if key not in cls.model_fields:
                raise ConfigError(f"{_variable(key)}: unknown setting")
        return data

    @model_validator(mode="after")
    def _turn_urls_need_a_secret(self) -> HeshiSettings:
        if self.turn_urls and not self.turn_secret:
            raise ConfigError(f"{PREFIX}TURN_SECRET: required when {PREFIX}TURN_URLS is set")
        return self

    @model_validator(mode="after")
    def _tsa_url_needs_its_certificates(self) -> HeshiSettings:
        if self.tsa_ca_file is not None and not self.tsa_ca_file.is_file():
            raise ConfigError(f"{PREFIX}TSA_CA_FILE: {self.tsa_ca_file} is not a readable file")
        if self.tsa_url and self.tsa_ca_file is None:
            raise ConfigError(
                f"{PREFIX}TSA_CA_FILE: required when {PREFIX}TSA_URL is set "
                "(the certificates the TSA's replies must chain to)"
            )
        return self


@dataclass(frozen=True)
class Settings:
    """The settings a process runs with: HeshiSettings' fields, with the derived defaults filled in."""

    host: str
    port: int
    public_url: str
    data_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    language: str
    log_level: str
    invitation_ttl_hours: int
    staff_session_hours: int
    login_max_failures: int
    login_window_seconds: int
    max_body_bytes: int
    cookie_secure: bool
    allowed_origins: tuple[str, ...]
    trusted_proxies: tuple[str, ...]
    web_dir: Path
    session_grace_seconds: int
    session_idle_minutes: int
    max_publishers: int
    ice_servers: tuple[str, ...]
    turn_urls: tuple[str, ...]
    turn_secret: str
    turn_ttl_seconds: int
    redis_max_connections: int
    redis_prefix: str
    rate_limit_scale: int
    video_max_kbps: int
    recording_segment_seconds: int
    recorder_connect_url: str
    recorder_addresses: tuple[str, ...]
    checkpoint_interval_minutes: int
    tsa_url: str
    tsa_ca_file: Path | None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class _Environment(EnvSettingsSource):
    """HESHI_* variables from the given mapping (os.environ, or a test's own); unknown ones are kept to be refused."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Only names that start with HESHI_ exactly; the rest of the name may be in any case.
        ours = {k: v for k, v in self._environ.items() if k.startswith(PREFIX)}
        return parse_env_vars(ours, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        for key, value in self.env_vars.items():  # lower-cased HESHI_* names
            name = key[len(PREFIX) :]
            if key != CONFIG_VARIABLE.lower() and name not in values:
                values[name] = value
        return values


class _TomlFile(InitSettingsSource):
    """The TOML file named by HESHI_CONFIG, if any; its keys are the setting names in any case."""

    def __init__(self, settings_cls: type[BaseSettings], config_file: str | None) -> None:
        super().__init__(settings_cls, _read_toml(Path(config_file)) if config_file else {})


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return {k.lower(): v for k, v in tomllib.load(fh).items()}
    except FileNotFoundError:
        raise ConfigError(f"{CONFIG_VARIABLE}: file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{CONFIG_VARIABLE}: {path} is not valid TOML: {_one_line(exc)}") from None
    except OSError as exc:  # a directory, no permission, …
        raise ConfigError(f"{CONFIG_VARIABLE}: cannot read {path}: {exc.strerror or _one_line(exc)}") from None


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
    init_kwargs = {k: v for k, v in overrides.items() if v is not None}
    sources = (
        InitSettingsSource(HeshiSettings, init_kwargs),
        _Environment(HeshiSettings, env),
        _TomlFile(HeshiSettings, env.get(CONFIG_VARIABLE)),
    )
    # _build_sources (BaseSettings' documented init argument) takes these sources instead of the
    # defaults, which would read os.environ; pydantic's dataclass transform hides it from mypy.
    model = HeshiSettings(_build_sources=(sources, init_kwargs))  # type: ignore[call-arg]
    return complete(Settings(**model.model_dump()))


def complete(s: Settings) -> Settings:
    """Fill the defaults that depend on other settings."""
    data_dir = s.data_dir.resolve()
    public_url = s.public_url or f"http://{s.host}:{s.port}"
    database_url = s.database_url or f"sqlite+aiosqlite:///{data_dir / 'heshi.db'}"
    return replace(
        s,
        data_dir=data_dir,
        public_url=public_url,
        database_url=database_url,
        cookie_secure=s.cookie_secure or public_url.startswith("https://"),
        tsa_ca_file=s.tsa_ca_file.resolve() if s.tsa_ca_file is not None else None,
    )


def ensure_secret_key(s: Settings) -> Settings:
    """Use the configured key, else one generated once into data_dir/secret_key (mode 0600).

    Several nodes must share one key: set HESHI_SECRET_KEY on each of them.
    """
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
