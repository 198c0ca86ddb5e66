"""Fixtures of the minutes tests: the REST callers of tests/api and the live server of tests/signaling."""

from tests.api.conftest import admin, mediator, sign_in  # noqa: F401 - fixtures
from tests.signaling.conftest import live  # noqa: F401 - fixture
