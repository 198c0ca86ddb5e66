"""Which address sign-in rate limits count, directly and behind trusted reverse proxies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from server.config import ConfigError, load_settings
from server.http.keys import CORE
from server.http.requests import client_address


@dataclass
class FakeCore:
    settings: Any


def request_from(peer: str, trusted: str | None, xff: list[str] | None = None) -> web.Request:
    settings = load_settings(env={}, **({"trusted_proxies": trusted} if trusted else {}))
    app = web.Application()
    app[CORE] = FakeCore(settings)  # type: ignore[assignment]
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda key, default=None: (peer, 40000) if key == "peername" else default
    headers = [("X-Forwarded-For", v) for v in (xff or [])]
    from multidict import CIMultiDict

    return make_mocked_request("POST", "/api/v1/auth/login", headers=CIMultiDict(headers), app=app, transport=transport)


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() -> None:
    assert client_address(request_from("203.0.113.9", None, ["1.2.3.4"])) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client() -> None:
    # The client may send its own X-Forwarded-For: only what the proxies appended counts.
    r = request_from("10.0.0.2", "10.0.0.0/24", ["6.6.6.6, 198.51.100.7", "10.0.0.3"])
    assert client_address(r) == "198.51.100.7"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_forward() -> None:
    assert client_address(request_from("198.51.100.7", "10.0.0.0/24", ["1.2.3.4"])) == "198.51.100.7"


def test_garbage_or_only_proxies_in_the_header_fall_back_to_the_peer() -> None:
    assert client_address(request_from("10.0.0.2", "10.0.0.0/24", ["not-an-ip"])) == "10.0.0.2"
    assert client_address(request_from("10.0.0.2", "10.0.0.0/24", ["10.0.0.9"])) == "10.0.0.2"
    assert client_address(request_from("10.0.0.2", "10.0.0.0/24", [])) == "10.0.0.2"


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert load_settings(env={"HESHI_TRUSTED_PROXIES": "127.0.0.1, 10.1.0.0/16,::1"}).trusted_proxies == (
        "127.0.0.1/32",
        "10.1.0.0/16",
        "::1/128",
    )
    with pytest.raises(ConfigError, match="HESHI_TRUSTED_PROXIES: not an IP address or network: 'proxy.local'"):
        load_settings(env={"HESHI_TRUSTED_PROXIES": "proxy.local"})
