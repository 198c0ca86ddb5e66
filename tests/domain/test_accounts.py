"""Usernames and passwords of staff accounts."""

from __future__ import annotations

import pytest

from server.domain.accounts import validate_password, validate_username
from server.domain.errors import ValidationFailed


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("wang.jianguo", "wang.jianguo"),
        ("  Wang_JG-2 ", "wang_jg-2"),
        ("a1", "a1"),
        ("7zhang", "7zhang"),
        ("x" * 48, "x" * 48),
    ],
)
def test_usernames_are_stored_lower_case_and_trimmed(raw: str, stored: str) -> None:
    assert validate_username(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "a",
        "",
        "   ",
        "x" * 49,
        "-wang",
        ".wang",
        "_wang",
        "wang jianguo",
        "王建国",
        "wang@example.cn",
        "wang/../root",
        "wang\njianguo",
    ],
)
def test_usernames_outside_the_phone_typeable_alphabet_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_username(raw)
    assert err.value.fields == {"username": "invalid"}
    assert "2-48 characters" in err.value.message


@pytest.mark.parametrize("password", ["x" * 10, "一二三四五六七八九十", "x" * 256])
def test_passwords_of_ten_to_256_characters_are_accepted(password: str) -> None:
    assert validate_password(password) == password


def test_a_password_shorter_than_ten_characters_is_too_short() -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_password("x" * 9)
    assert err.value.fields == {"password": "too_short"}
    assert err.value.message == "password must be at least 10 characters"


def test_a_password_longer_than_256_characters_is_too_long() -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_password("x" * 257)
    assert err.value.fields == {"password": "too_long"}
