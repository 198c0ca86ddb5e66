"""Configuration: defaults, HESHI_* variables, a TOML file under them, and one-line errors."""

from __future__ import annotations

import os
import stat
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from server.config import REPO_ROOT, ConfigError, HeshiSettings, Settings, ensure_secret_key, load_settings

KEY = "s" * 40
A_FILE = Path(__file__).resolve()  # HESHI_TSA_CA_FILE must name a file that exists


def test_defaults_run_one_process_on_localhost_with_sqlite_in_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert (s.host, s.port, s.public_url) == ("127.0.0.1", 8080, "http://127.0.0.1:8080")
    assert s.data_dir == tmp_path / "data"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'heshi.db'}" and s.is_sqlite
    assert (s.redis_url, s.secret_key, s.language, s.log_level) == (None, "", "zh", "INFO")
    assert (s.invitation_ttl_hours, s.staff_session_hours) == (168, 12)
    assert (s.login_max_failures, s.login_window_seconds, s.max_body_bytes) == (5, 900, 1_048_576)
    assert (s.cookie_secure, s.allowed_origins, s.web_dir) == (False, (), REPO_ROOT / "web")
    assert (s.session_grace_seconds, s.session_idle_minutes, s.max_publishers) == (60, 30, 6)
    assert (s.ice_servers, s.turn_urls, s.turn_secret, s.turn_ttl_seconds) == ((), (), "", 86400)
    assert (s.redis_max_connections, s.rate_limit_scale, s.video_max_kbps, s.redis_prefix) == (1000, 1, 500, "heshi:")
    assert s.recorder_addresses == (), "recorders offer candidates on every interface unless told otherwise"
    assert (s.checkpoint_interval_minutes, s.tsa_url, s.tsa_ca_file) == (60, "", None), "no TSA unless configured"


# (variable, raw value, setting, parsed value); a Path value is compared after resolving.
PARSED: list[tuple[str, str, str, Any]] = [
    ("HESHI_HOST", "0.0.0.0", "host", "0.0.0.0"),
    ("HESHI_PORT", " 9000 ", "port", 9000),
    ("HESHI_PUBLIC_URL", "https://mediate.example.cn/", "public_url", "https://mediate.example.cn"),
    ("HESHI_DATA_DIR", "/srv/heshi", "data_dir", Path("/srv/heshi")),
    (
        "HESHI_DATABASE_URL",
        "postgresql://heshi@db:5432/heshi",
        "database_url",
        "postgresql+asyncpg://heshi@db:5432/heshi",
    ),
    ("HESHI_REDIS_URL", "redis://cache:6379/1", "redis_url", "redis://cache:6379/1"),
    ("HESHI_SECRET_KEY", KEY, "secret_key", KEY),
    ("HESHI_LANGUAGE", "en", "language", "en"),
    ("HESHI_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("HESHI_INVITATION_TTL_HOURS", "24", "invitation_ttl_hours", 24),
    ("HESHI_STAFF_SESSION_HOURS", "8", "staff_session_hours", 8),
    ("HESHI_LOGIN_MAX_FAILURES", "3", "login_max_failures", 3),
    ("HESHI_LOGIN_WINDOW_SECONDS", "60", "login_window_seconds", 60),
    ("HESHI_MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
    ("HESHI_COOKIE_SECURE", "yes", "cookie_secure", True),
    (
        "HESHI_ALLOWED_ORIGINS",
        "https://a.example.cn, https://b.example.cn/",
        "allowed_origins",
        ("https://a.example.cn", "https://b.example.cn"),
    ),
    ("HESHI_WEB_DIR", "/opt/heshi-web", "web_dir", Path("/opt/heshi-web")),
    ("HESHI_SESSION_GRACE_SECONDS", "90", "session_grace_seconds", 90),
    ("HESHI_SESSION_IDLE_MINUTES", "45", "session_idle_minutes", 45),
    ("HESHI_MAX_PUBLISHERS", "4", "max_publishers", 4),
    (
        "HESHI_ICE_SERVERS",
        "stun:stun.example.cn:3478, turn:turn.example.cn",
        "ice_servers",
        ("stun:stun.example.cn:3478", "turn:turn.example.cn"),
    ),
    ("HESHI_TURN_URLS", "turns:turn.example.cn:5349", "turn_urls", ("turns:turn.example.cn:5349",)),
    ("HESHI_TURN_SECRET", " coturn-static-secret ", "turn_secret", "coturn-static-secret"),
    ("HESHI_TURN_TTL_SECONDS", "3600", "turn_ttl_seconds", 3600),
    ("HESHI_REDIS_MAX_CONNECTIONS", "500", "redis_max_connections", 500),
    ("HESHI_RATE_LIMIT_SCALE", "10", "rate_limit_scale", 10),
    ("HESHI_VIDEO_MAX_KBPS", "300", "video_max_kbps", 300),
    ("HESHI_REDIS_PREFIX", "county-a:", "redis_prefix", "county-a:"),
    ("HESHI_RECORDING_SEGMENT_SECONDS", "4", "recording_segment_seconds", 4),
    ("HESHI_RECORDER_CONNECT_URL", "http://10.0.0.5:8080/", "recorder_connect_url", "http://10.0.0.5:8080"),
    ("HESHI_TRUSTED_PROXIES", "127.0.0.1, 10.1.0.0/16", "trusted_proxies", ("127.0.0.1/32", "10.1.0.0/16")),
    ("HESHI_RECORDER_ADDRESSES", "10.0.0.5, FD00:0::2,10.0.0.5", "recorder_addresses", ("10.0.0.5", "fd00::2")),
    ("HESHI_CHECKPOINT_INTERVAL_MINUTES", "15", "checkpoint_interval_minutes", 15),
    ("HESHI_TSA_URL", "https://tsa.example.cn/tsr/", "tsa_url", "https://tsa.example.cn/tsr"),
    ("HESHI_TSA_CA_FILE", str(A_FILE), "tsa_ca_file", A_FILE),
]
# Variables that only make sense together with another.
COMPANIONS = {
    "HESHI_TURN_URLS": {"HESHI_TURN_SECRET": "coturn-static-secret"},
    "HESHI_TSA_URL": {"HESHI_TSA_CA_FILE": str(A_FILE)},
}


@pytest.mark.parametrize(("var", "raw", "name", "expected"), PARSED, ids=[p[0] for p in PARSED])
def test_each_heshi_variable_is_parsed_into_its_setting(var: str, raw: str, name: str, expected: Any) -> None:
    assert getattr(load_settings(env={var: raw, **COMPANIONS.get(var, {})}), name) == expected


def test_every_setting_has_a_variable_and_is_covered_above() -> None:
    assert {name for _, _, name, _ in PARSED} == {f.name for f in fields(Settings)}
    assert all(var == "HESHI_" + name.upper() for var, _, name, _ in PARSED)


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////var/lib/heshi/heshi.db", "sqlite+aiosqlite:////var/lib/heshi/heshi.db"),
        ("sqlite+aiosqlite:///heshi.db", "sqlite+aiosqlite:///heshi.db"),
    ],
)
def test_pasted_database_urls_get_the_async_driver(raw: str, url: str) -> None:
    assert load_settings(env={"HESHI_DATABASE_URL": raw}).database_url == url


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("true", True),
        ("On", True),
        ("YES", True),
        ("0", False),
        ("false", False),
        ("off", False),
        ("no", False),
    ],
)
def test_booleans_take_the_usual_spellings(raw: str, value: bool) -> None:
    assert load_settings(env={"HESHI_COOKIE_SECURE": raw}).cookie_secure is value


def test_an_https_public_url_makes_cookies_secure() -> None:
    s = load_settings(env={"HESHI_PUBLIC_URL": "https://mediate.example.cn", "HESHI_COOKIE_SECURE": "false"})
    assert s.cookie_secure is True


def test_the_public_url_defaults_to_host_and_port() -> None:
    assert load_settings(env={"HESHI_HOST": "10.0.0.5", "HESHI_PORT": "9001"}).public_url == "http://10.0.0.5:9001"


def test_a_unix_socket_redis_url_is_accepted() -> None:
    assert load_settings(env={"HESHI_REDIS_URL": "unix:///run/redis.sock"}).redis_url == "unix:///run/redis.sock"


def test_empty_optional_urls_and_keys_mean_unset() -> None:
    s = load_settings(
        env={"HESHI_PUBLIC_URL": "", "HESHI_REDIS_URL": " ", "HESHI_SECRET_KEY": "", "HESHI_DATABASE_URL": ""}
    )
    assert (s.public_url, s.redis_url, s.secret_key) == ("http://127.0.0.1:8080", None, "")
    assert s.is_sqlite


def write_toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "heshi.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_toml_file_sets_values_and_the_environment_overrides_it(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path,
        """
port = 9000
language = "en"
public_url = "https://toml.example.cn"
allowed_origins = ["https://a.example.cn", "https://b.example.cn/"]
cookie_secure = true
LOGIN_MAX_FAILURES = 7
""",
    )
    s = load_settings(env={"HESHI_CONFIG": config, "HESHI_PORT": "9100", "HESHI_LANGUAGE": "zh"})
    assert (s.port, s.language, s.public_url) == (9100, "zh", "https://toml.example.cn")
    assert s.allowed_origins == ("https://a.example.cn", "https://b.example.cn")
    assert s.cookie_secure is True and s.login_max_failures == 7


def test_explicit_overrides_beat_the_environment(tmp_path: Path) -> None:
    s = load_settings(env={"HESHI_PORT": "9000", "HESHI_DATA_DIR": "/srv/x"}, port=9100, data_dir=str(tmp_path))
    assert (s.port, s.data_dir) == (9100, tmp_path)


# (environment, setting the message must name). Secrets must not be echoed back.
BAD: list[tuple[dict[str, str], str]] = [
    ({"HESHI_PORT": "0"}, "HESHI_PORT"),
    ({"HESHI_PORT": "70000"}, "HESHI_PORT"),
    ({"HESHI_PORT": "abc"}, "HESHI_PORT"),
    ({"HESHI_PORT": "-1"}, "HESHI_PORT"),
    ({"HESHI_PORT": "80.5"}, "HESHI_PORT"),
    ({"HESHI_PORT": "8_080"}, "HESHI_PORT"),
    ({"HESHI_PUBLIC_URL": "ftp://mediate.example.cn"}, "HESHI_PUBLIC_URL"),
    ({"HESHI_PUBLIC_URL": "mediate.example.cn"}, "HESHI_PUBLIC_URL"),
    ({"HESHI_PUBLIC_URL": "https:mediate.example.cn"}, "HESHI_PUBLIC_URL"),
    ({"HESHI_PUBLIC_URL": "https://"}, "HESHI_PUBLIC_URL"),
    ({"HESHI_REDIS_URL": "http://cache:6379"}, "HESHI_REDIS_URL"),
    ({"HESHI_REDIS_URL": "redis:cache"}, "HESHI_REDIS_URL"),
    ({"HESHI_ALLOWED_ORIGINS": "https://a.example.cn,ws://b.example.cn"}, "HESHI_ALLOWED_ORIGINS"),
    ({"HESHI_DATABASE_URL": "mysql://heshi:hunter2@db/heshi"}, "HESHI_DATABASE_URL"),
    ({"HESHI_DATABASE_URL": "sqlite://relative.db"}, "HESHI_DATABASE_URL"),
    ({"HESHI_SECRET_KEY": "short-secret-31-characters-long"}, "HESHI_SECRET_KEY"),
    ({"HESHI_LANGUAGE": "fr"}, "HESHI_LANGUAGE"),
    ({"HESHI_LOG_LEVEL": "TRACE"}, "HESHI_LOG_LEVEL"),
    ({"HESHI_COOKIE_SECURE": "maybe"}, "HESHI_COOKIE_SECURE"),
    ({"HESHI_INVITATION_TTL_HOURS": "0"}, "HESHI_INVITATION_TTL_HOURS"),
    ({"HESHI_INVITATION_TTL_HOURS": "2161"}, "HESHI_INVITATION_TTL_HOURS"),
    ({"HESHI_STAFF_SESSION_HOURS": "721"}, "HESHI_STAFF_SESSION_HOURS"),
    ({"HESHI_LOGIN_MAX_FAILURES": "0"}, "HESHI_LOGIN_MAX_FAILURES"),
    ({"HESHI_LOGIN_WINDOW_SECONDS": "86401"}, "HESHI_LOGIN_WINDOW_SECONDS"),
    ({"HESHI_MAX_BODY_BYTES": "1.5"}, "HESHI_MAX_BODY_BYTES"),
    ({"HESHI_SESSION_GRACE_SECONDS": "4"}, "HESHI_SESSION_GRACE_SECONDS"),
    ({"HESHI_SESSION_IDLE_MINUTES": "1441"}, "HESHI_SESSION_IDLE_MINUTES"),
    ({"HESHI_MAX_PUBLISHERS": "1"}, "HESHI_MAX_PUBLISHERS"),
    ({"HESHI_ICE_SERVERS": "stun:ok.example.cn,https://turn.example.cn"}, "HESHI_ICE_SERVERS"),
    ({"HESHI_TURN_URLS": "turn:turn.example.cn"}, "HESHI_TURN_SECRET"),
    ({"HESHI_REDIS_PREFIX": "has space"}, "HESHI_REDIS_PREFIX"),
    ({"HESHI_TURN_TTL_SECONDS": "59"}, "HESHI_TURN_TTL_SECONDS"),
    ({"HESHI_REDIS_MAX_CONNECTIONS": "9"}, "HESHI_REDIS_MAX_CONNECTIONS"),
    ({"HESHI_RATE_LIMIT_SCALE": "0"}, "HESHI_RATE_LIMIT_SCALE"),
    ({"HESHI_VIDEO_MAX_KBPS": "49"}, "HESHI_VIDEO_MAX_KBPS"),
    ({"HESHI_RECORDING_SEGMENT_SECONDS": "11"}, "HESHI_RECORDING_SEGMENT_SECONDS"),
    ({"HESHI_RECORDING_SEGMENT_SECONDS": "0"}, "HESHI_RECORDING_SEGMENT_SECONDS"),
    ({"HESHI_RECORDER_CONNECT_URL": "ftp://node"}, "HESHI_RECORDER_CONNECT_URL"),
    ({"HESHI_TRUSTED_PROXIES": "10.0.0.0/33"}, "HESHI_TRUSTED_PROXIES"),
    ({"HESHI_RECORDER_ADDRESSES": "eth0"}, "HESHI_RECORDER_ADDRESSES"),
    ({"HESHI_RECORDER_ADDRESSES": "10.0.0.5,10.0.0.256"}, "HESHI_RECORDER_ADDRESSES"),
    ({"HESHI_RECORDER_ADDRESSES": "10.0.0.0/24"}, "HESHI_RECORDER_ADDRESSES"),
    ({"HESHI_RECORDER_ADDRESSES": "0.0.0.0"}, "HESHI_RECORDER_ADDRESSES"),
    ({"HESHI_RECORDER_ADDRESSES": "fe80::1%eth0"}, "HESHI_RECORDER_ADDRESSES"),
    ({"HESHI_CHECKPOINT_INTERVAL_MINUTES": "0"}, "HESHI_CHECKPOINT_INTERVAL_MINUTES"),
    ({"HESHI_CHECKPOINT_INTERVAL_MINUTES": "10081"}, "HESHI_CHECKPOINT_INTERVAL_MINUTES"),
    ({"HESHI_TSA_URL": "ftp://tsa.example.cn"}, "HESHI_TSA_URL"),
    ({"HESHI_TSA_URL": "https://tsa.example.cn/tsr"}, "HESHI_TSA_CA_FILE"),
    ({"HESHI_TSA_CA_FILE": "/nonexistent/tsa-ca.pem"}, "HESHI_TSA_CA_FILE"),
    ({"HESHI_COLOUR": "red"}, "HESHI_COLOUR"),
    ({"HESHI_CONFIG": "/nonexistent/heshi.toml"}, "HESHI_CONFIG"),
]


def assert_one_line_naming(exc: ConfigError, setting: str) -> None:
    message = str(exc)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{setting}: ")


@pytest.mark.parametrize(("env", "setting"), BAD, ids=[f"{next(iter(e))}={next(iter(e.values()))}" for e, _ in BAD])
def test_a_bad_value_raises_one_line_naming_the_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    assert_one_line_naming(err.value, setting)
    assert "hunter2" not in str(err.value)


def test_an_unknown_variable_is_named_as_unknown() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"HESHI_PROT": "8080"})
    assert str(err.value) == "HESHI_PROT: unknown setting"


def test_a_port_message_says_what_was_expected() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"HESHI_PORT": "70000"})
    assert str(err.value) == "HESHI_PORT: must be between 1 and 65535, got 70000"
    with pytest.raises(ConfigError) as err:
        load_settings(env={"HESHI_PORT": "abc"})
    assert str(err.value) == "HESHI_PORT: expected a whole number, got 'abc'"


def test_a_recorder_address_message_names_the_bad_address() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"HESHI_RECORDER_ADDRESSES": "10.0.0.5, eth0"})
    assert str(err.value) == "HESHI_RECORDER_ADDRESSES: expected IP addresses, got 'eth0'"
    with pytest.raises(ConfigError) as err:
        load_settings(env={"HESHI_RECORDER_ADDRESSES": "::"})
    assert str(err.value) == "HESHI_RECORDER_ADDRESSES: '::' is not the address of one interface"


def test_recorder_addresses_may_be_a_toml_list(tmp_path: Path) -> None:
    s = load_settings(env={"HESHI_CONFIG": write_toml(tmp_path, 'recorder_addresses = ["10.0.0.5", "127.0.0.1"]\n')})
    assert s.recorder_addresses == ("10.0.0.5", "127.0.0.1")


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ("port = 'abc'\n", "HESHI_PORT"),
        ("port = true\n", "HESHI_PORT"),
        ("port = 8080.0\n", "HESHI_PORT"),
        ("colour = 'red'\n", "HESHI_COLOUR"),
        ("[server]\nport = 8080\n", "HESHI_SERVER"),
        ("language = 'de'\n", "HESHI_LANGUAGE"),
        ("cookie_secure = 'sometimes'\n", "HESHI_COOKIE_SECURE"),
        ("allowed_origins = ['gopher://x']\n", "HESHI_ALLOWED_ORIGINS"),
        ("recorder_addresses = ['10.0.0.5', 'lan']\n", "HESHI_RECORDER_ADDRESSES"),
    ],
)
def test_a_bad_value_in_the_toml_file_names_the_setting(tmp_path: Path, text: str, setting: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"HESHI_CONFIG": write_toml(tmp_path, text)})
    assert_one_line_naming(err.value, setting)


@pytest.mark.parametrize(
    "content",
    [
        b"port = \n",
        b"port = 8080\nport = 9090\n",
        b'language = "en\n',
        b"[unclosed\n",
        b'language = "\xff\xfe"\n',  # not UTF-8
    ],
)
def test_a_file_that_is_not_toml_is_reported_on_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "heshi.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_settings(env={"HESHI_CONFIG": str(path)})
    assert_one_line_naming(err.value, "HESHI_CONFIG")
    assert "is not valid TOML" in str(err.value)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as err:
        load_settings(env={"HESHI_CONFIG": str(missing)})
    assert str(err.value) == f"HESHI_CONFIG: file {missing} does not exist"


def test_a_directory_as_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"HESHI_CONFIG": str(tmp_path)})
    assert_one_line_naming(err.value, "HESHI_CONFIG")


def test_a_secret_key_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    s = load_settings(env={}, data_dir=str(tmp_path / "data"))
    first = ensure_secret_key(s)
    path = tmp_path / "data" / "secret_key"
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().strip() == first.secret_key
    assert os.listdir(tmp_path / "data") == ["secret_key"]  # no temporary file left behind
    assert ensure_secret_key(s).secret_key == first.secret_key
    assert ensure_secret_key(load_settings(env={}, data_dir=str(tmp_path / "data"))).secret_key == first.secret_key


def test_a_configured_secret_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    s = load_settings(env={"HESHI_SECRET_KEY": KEY}, data_dir=str(tmp_path / "data"))
    assert ensure_secret_key(s).secret_key == KEY
    assert not (tmp_path / "data" / "secret_key").exists()


def test_different_data_dirs_get_different_keys(tmp_path: Path) -> None:
    a = ensure_secret_key(load_settings(env={}, data_dir=str(tmp_path / "a"))).secret_key
    b = ensure_secret_key(load_settings(env={}, data_dir=str(tmp_path / "b"))).secret_key
    assert a != b


def test_a_short_key_file_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("too-short\n")
    with pytest.raises(ConfigError) as err:
        ensure_secret_key(load_settings(env={}, data_dir=str(tmp_path)))
    assert_one_line_naming(err.value, "HESHI_SECRET_KEY")


def test_the_settings_handed_out_have_exactly_the_model_fields() -> None:
    assert [f.name for f in fields(Settings)] == list(HeshiSettings.model_fields)


def test_an_explicit_env_mapping_is_read_instead_of_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HESHI_PORT", "9000")
    monkeypatch.setenv("HESHI_COLOUR", "red")
    assert load_settings(env={}).port == 8080
    assert load_settings(env={"HESHI_PORT": "9100"}).port == 9100


def test_only_variables_starting_with_upper_case_heshi_are_read() -> None:
    assert load_settings(env={"heshi_port": "9000", "HESHI_Port": "9100"}).port == 9100


def test_overrides_beat_the_environment_which_beats_the_toml_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "port = 9000\nhost = '10.0.0.1'\nlanguage = 'en'\n")
    s = load_settings(env={"HESHI_CONFIG": config, "HESHI_PORT": "9100", "HESHI_HOST": "10.0.0.2"}, host="10.0.0.3")
    assert (s.host, s.port, s.language) == ("10.0.0.3", 9100, "en")


def readme_variables() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return [line.split("`")[1] for line in section.splitlines() if line.startswith("| `HESHI_")]


def test_the_readme_configuration_table_lists_exactly_the_settings_read() -> None:
    documented = readme_variables()
    read = ["HESHI_CONFIG"] + ["HESHI_" + name.upper() for name in HeshiSettings.model_fields]
    assert len(documented) == len(set(documented)), "a variable is listed twice"
    assert set(documented) == set(read), (
        f"undocumented: {sorted(set(read) - set(documented))}; not read: {sorted(set(documented) - set(read))}"
    )
