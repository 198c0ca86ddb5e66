"""Parties as submitted: ID-card numbers, phones, masking and PartyInput validation."""

from __future__ import annotations

import pytest

from server.domain.cases import PartyInput, PartySide, mask_id_number, mask_phone, normalise_id_number, normalise_phone
from server.domain.errors import ValidationFailed

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_check_digit(first17: str) -> str:
    """GB 11643: the 18th character is computed from the first 17 (mod 11, 10 written as X)."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


# Published examples whose last character is X, and a computed one ending in a digit.
VALID_IDS = ["11010519491231002X", "50010119900101123X", with_check_digit("44030420000229301")]


@pytest.mark.parametrize("number", VALID_IDS)
def test_an_id_number_with_the_right_check_digit_is_accepted(number: str) -> None:
    assert normalise_id_number(number) == number


def test_the_check_digit_helper_agrees_with_published_examples() -> None:
    assert with_check_digit("11010519491231002") == "11010519491231002X"


def test_a_lower_case_x_check_digit_is_stored_upper_case() -> None:
    assert normalise_id_number("11010519491231002x") == "11010519491231002X"


def test_surrounding_spaces_are_dropped_from_an_id_number() -> None:
    assert normalise_id_number("  11010519491231002X\n") == "11010519491231002X"


def test_full_width_digits_typed_with_a_chinese_input_method_are_stored_as_ascii() -> None:
    assert normalise_id_number("１１０１０５１９４９１２３１００２ｘ") == "11010519491231002X"


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_a_missing_id_number_is_none(empty: str | None) -> None:
    assert normalise_id_number(empty) is None


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002",  # 17 characters
        "11010519491231002X1",  # 19 characters
        "1101051949123100XX",  # X before the last position
        "11010519491231002Y",
        "110105 19491231002X",
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits match \d but are not an ID number
    ],
)
def test_an_id_number_of_the_wrong_shape_is_invalid(number: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        normalise_id_number(number)
    assert err.value.fields == {"id_number": "invalid"}
    assert err.value.message == "ID-card number must be 18 characters: 17 digits and a digit or X"


@pytest.mark.parametrize("number", ["110105194912310021", "11010519491231002Y"[:17] + "9", "500101199001011230"])
def test_an_id_number_with_a_wrong_check_digit_is_refused(number: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        normalise_id_number(number)
    assert err.value.fields == {"id_number": "checksum"}
    assert err.value.message == "ID-card number has a wrong check digit"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "+86 138 0013 8000"),
        ("023-65550000", "023-65550000"),
        ("  13800138000  ", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        ("123456", "123456"),
    ],
)
def test_phone_numbers_in_common_spellings_are_accepted(raw: str, stored: str) -> None:
    assert normalise_phone(raw) == stored


@pytest.mark.parametrize(
    "raw", ["12345", "138-0013-800a", "(023) 6555 0000", "++8613800138000", "1" * 21, "-13800138000"]
)
def test_malformed_phone_numbers_are_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        normalise_phone(raw, "agent_phone")
    assert err.value.fields == {"agent_phone": "invalid"}


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("11010519491231002X", "110***********002X"),
        ("50010119900101123X", "500***********123X"),
        (None, None),
        ("", None),
        ("1234567", "*******"),  # too short to keep both ends: nothing is shown
    ],
)
def test_id_numbers_are_masked_to_region_and_last_four(value: str | None, masked: str | None) -> None:
    assert mask_id_number(value) == masked


def test_a_masked_id_number_keeps_its_length() -> None:
    masked = mask_id_number("11010519491231002X")
    assert masked is not None and len(masked) == 18


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13800138000", "138****8000"),
        ("138-0013-8000", "138****8000"),
        ("023 6555 0000", "023****0000"),
        ("123456", "******"),
        (None, None),
        ("", None),
    ],
)
def test_phone_numbers_are_masked_to_first_three_and_last_four_digits(value: str | None, masked: str | None) -> None:
    assert mask_phone(value) == masked


def test_a_party_is_normalised_on_construction() -> None:
    p = PartyInput(
        side=PartySide.applicant,
        name="  李秀英 ",
        phone=" 13800138000 ",
        id_number="11010519491231002x",
        agent_name="  ",
        agent_phone=None,
    )
    assert (p.name, p.phone, p.id_number, p.agent_name, p.agent_phone) == (
        "李秀英",
        "13800138000",
        "11010519491231002X",
        None,
        None,
    )


def test_a_party_with_an_agent_keeps_the_agent() -> None:
    p = PartyInput(side=PartySide.respondent, name="清水镇卫生院", agent_name=" 赵院长 ", agent_phone="13900139000")
    assert (p.agent_name, p.agent_phone) == ("赵院长", "13900139000")


@pytest.mark.parametrize("name", ["", "   ", None])
def test_a_party_needs_a_name(name: str | None) -> None:
    with pytest.raises(ValidationFailed) as err:
        PartyInput(side=PartySide.applicant, name=name)  # type: ignore[arg-type]
    assert err.value.fields == {"name": "required"}


def test_a_party_name_fits_the_database_column() -> None:
    PartyInput(side=PartySide.applicant, name="张" * 100)
    with pytest.raises(ValidationFailed) as err:
        PartyInput(side=PartySide.applicant, name="张" * 101)
    assert err.value.fields == {"name": "too_long"}


def test_an_agent_name_fits_the_database_column() -> None:
    with pytest.raises(ValidationFailed) as err:
        PartyInput(side=PartySide.applicant, name="张三", agent_name="律" * 101)
    assert err.value.fields == {"agent_name": "too_long"}


def test_an_agent_phone_without_an_agent_name_is_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        PartyInput(side=PartySide.applicant, name="张三", agent_phone="13900139000")
    assert err.value.fields == {"agent_name": "required"}


def test_a_party_with_a_bad_id_number_is_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        PartyInput(side=PartySide.applicant, name="张三", id_number="110105194912310021")
    assert err.value.fields == {"id_number": "checksum"}


def test_a_bad_agent_phone_is_reported_under_agent_phone() -> None:
    with pytest.raises(ValidationFailed) as err:
        PartyInput(side=PartySide.applicant, name="张三", agent_name="李四", agent_phone="abc")
    assert err.value.fields == {"agent_phone": "invalid"}
