"""The rules of agreements and signatures, without a database: terms, PNG checks, signers, locking."""

from __future__ import annotations

import base64

import pytest

from server.domain.access import Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.agreements import (
    AgreementText,
    PartyFacts,
    check_amount,
    check_deadline,
    check_signable,
    check_terms,
    is_complete,
    missing_signers,
    required_signers,
    signer_for,
)
from server.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.domain.grants import SessionRole
from server.domain.signatures import (
    MAX_SIGNATURE_BYTES,
    SignatureInput,
    check_name,
    check_png,
    parse_png_data_url,
)
from tests.agreements.helpers import data_url, png, term


def fields_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    assert exc.value.fields
    return exc.value.fields


# ---- terms ---------------------------------------------------------------------------------------


def test_a_term_is_normalised_amount_to_two_places_and_deadline_to_iso():
    (t,) = check_terms([term(amount="12000", deadline="2026-01-05", obligation="  支付  ")])
    assert (t.amount, t.deadline, t.obligation) == ("12000.00", "2026-01-05", "支付")


def test_amount_and_deadline_may_be_empty():
    (t,) = check_terms([term(amount=None, deadline="", manner=None)])
    assert (t.amount, t.deadline, t.manner) == ("", "", "")


@pytest.mark.parametrize("amount", ["-1", "1.234", "abc", "1e5", "1,000", " ", "12.", ".5", "9999999999999"])
def test_an_amount_that_is_not_a_non_negative_decimal_with_two_places_is_refused(amount):
    with pytest.raises(ValidationFailed) as exc:
        check_amount(amount, "terms.0.amount")
    assert "terms.0.amount" in fields_of(exc)


def test_an_amount_may_be_a_whole_number_but_not_a_float_or_a_bool():
    assert check_amount(300) == "300.00"
    for bad in (1.5, True):
        with pytest.raises(ValidationFailed):
            check_amount(bad)


@pytest.mark.parametrize("deadline", ["2026-02-30", "31/12/2026", "2026-1-5", "tomorrow", "2026-12-31T00:00"])
def test_a_deadline_that_is_not_an_iso_calendar_date_is_refused(deadline):
    with pytest.raises(ValidationFailed) as exc:
        check_deadline(deadline, "terms.1.deadline")
    assert fields_of(exc) == {"terms.1.deadline": "invalid"}


@pytest.mark.parametrize("missing", ["obligation", "obligor"])
def test_obligation_and_obligor_are_required(missing):
    with pytest.raises(ValidationFailed) as exc:
        check_terms([term(), term(**{missing: "   "})])
    assert fields_of(exc) == {f"terms.1.{missing}": "required"}


def test_terms_must_be_a_non_empty_list_of_at_most_fifty_objects_with_known_fields():
    for raw, where in (([], "terms"), ("x", "terms"), ([term()] * 51, "terms"), (["x"], "terms.0")):
        with pytest.raises(ValidationFailed) as exc:
            check_terms(raw)
        assert where in fields_of(exc)
    with pytest.raises(ValidationFailed) as exc:
        check_terms([{**term(), "penalty": "x"}])
    assert "terms.0.penalty" in fields_of(exc)


def test_nul_and_oversized_text_are_refused():
    with pytest.raises(ValidationFailed) as exc:
        check_terms([term(manner="a\x00b")])
    assert "terms.0.manner" in fields_of(exc)
    with pytest.raises(ValidationFailed) as exc:
        check_terms([term(obligation="长" * 2001)])
    assert fields_of(exc) == {"terms.0.obligation": "too_long"}
    with pytest.raises(ValidationFailed) as exc:
        AgreementText.check(facts="x" * 10_001, matters="", terms=[term()])
    assert fields_of(exc) == {"facts": "too_long"}


def test_html_in_a_term_is_kept_as_text_for_the_template_to_escape():
    (t,) = check_terms([term(obligation="<script>alert(1)</script>")])
    assert t.obligation == "<script>alert(1)</script>"


# ---- PNG and name ------------------------------------------------------------------------------


def test_a_real_png_passes_with_its_size_and_hash():
    image = check_png(png(40, 20))
    assert (image.width, image.height) == (40, 20) and len(image.sha256) == 64
    assert parse_png_data_url(image.data_url()).data == image.data


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a" + b"\x00" * 100,
        b"\xff\xd8\xff\xe0" + b"\x00" * 100,  # JPEG
        png()[:30],  # truncated
        png()[:-12],  # no IEND
        png()[:8] + b"\x00\x00\x00\x0dIHDX" + png()[16:],  # not IHDR
        png()[:20] + b"\xff" + png()[21:],  # IHDR damaged (CRC)
    ],
)
def test_anything_but_a_whole_png_is_refused(data):
    with pytest.raises(ValidationFailed) as exc:
        check_png(data)
    assert exc.value.fields and exc.value.fields["image"] in {"required", "not_png"}


def test_a_png_over_the_size_limit_or_with_absurd_dimensions_is_refused():
    big = png(pad=MAX_SIGNATURE_BYTES)
    with pytest.raises(ValidationFailed) as exc:
        check_png(big)
    assert exc.value.fields == {"image": "too_large"}
    with pytest.raises(ValidationFailed) as exc:
        parse_png_data_url(data_url(big))
    assert exc.value.fields == {"image": "too_large"}
    with pytest.raises(ValidationFailed) as exc:
        check_png(png(5000, 1))
    assert exc.value.fields == {"image": "bad_size"}


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "data:image/jpeg;base64," + base64.b64encode(png()).decode(),
        "data:image/png;base64,@@@notbase64",
        "https://example.com/sig.png",
        data_url(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    ],
)
def test_a_data_url_that_is_not_a_png_is_refused(url):
    with pytest.raises(ValidationFailed) as exc:
        parse_png_data_url(url)
    assert exc.value.fields and "image" in exc.value.fields


def test_a_typed_name_is_required_and_bounded():
    assert check_name("  李  秀英 ") == "李 秀英"
    for bad in ("", "   ", None, "a\x00", "名" * 101):
        with pytest.raises(ValidationFailed) as exc:
            check_name(bad)
        assert exc.value.fields and "name" in exc.value.fields


def test_a_signature_input_names_the_version_in_hex():
    with pytest.raises(ValidationFailed) as exc:
        SignatureInput.parse("not-a-hash", "张三", data_url(png()))
    assert exc.value.fields == {"version_sha256": "invalid"}
    sig = SignatureInput.parse("A" * 64, "张三", data_url(png()))
    assert sig.version_sha256 == "a" * 64


# ---- signers and locking -----------------------------------------------------------------------

PARTIES = [PartyFacts("pa", "applicant", "张三"), PartyFacts("pr", "respondent", "李四")]
REQUIRED = required_signers(PARTIES, "med", "王调解")


def test_every_party_and_the_mediator_must_sign_and_the_version_locks_with_the_last():
    assert [s.key for s in REQUIRED] == ["party:pa", "party:pr", "account:med"]
    assert [s.key for s in missing_signers(REQUIRED, ["party:pa"])] == ["party:pr", "account:med"]
    assert not is_complete(REQUIRED, ["party:pa", "party:pr"])
    assert is_complete(REQUIRED, ["account:med", "party:pr", "party:pa", "party:someone-else"])


def test_a_case_without_a_mediator_cannot_have_an_agreement_signed():
    with pytest.raises(Conflict):
        required_signers(PARTIES, None, None)


def test_signing_anything_but_the_current_version_is_refused_naming_the_current_one():
    with pytest.raises(Conflict) as exc:
        check_signable(
            current_version=3, current_sha256="c" * 64, given_sha256="a" * 64, signer_key="party:pa", signed=[]
        )
    assert exc.value.details["current_version"] == 3 and exc.value.details["current_sha256"] == "c" * 64
    assert "version 3" in exc.value.message


def test_signing_twice_is_refused():
    with pytest.raises(Conflict) as exc:
        check_signable(
            current_version=1,
            current_sha256="c" * 64,
            given_sha256="c" * 64,
            signer_key="party:pa",
            signed=["party:pa"],
        )
    assert exc.value.details["reason"] == "already_signed"


def link(role: SessionRole, case_id: str = "case", session_id: str = "s1") -> Principal:
    return Principal(
        kind=PrincipalKind.invitation,
        display_name="x",
        invitation_id="inv",
        case_id=case_id,
        session_id=session_id,
        session_role=role,
    )


def staff(role: StaffRole, account_id: str) -> Principal:
    return Principal(kind=PrincipalKind.staff, display_name="x", account_id=account_id, staff_role=role)


def who(p: Principal, *, party: str | None = None, account: str | None = None, session_id: str | None = None) -> str:
    return signer_for(
        p,
        case_id="case",
        mediator_id="med",
        required=REQUIRED,
        invitation_party_id=party,
        invitation_account_id=account,
        session_id=session_id,
    ).signer.key


def test_a_party_link_signs_for_its_party_and_an_agent_for_the_party_it_represents():
    assert who(link(SessionRole.applicant), party="pa") == "party:pa"
    assert who(link(SessionRole.agent), party="pr") == "party:pr"


def test_the_mediator_signs_signed_in_or_through_a_link_bound_to_their_account():
    assert who(staff(StaffRole.mediator, "med")) == "account:med"
    assert who(link(SessionRole.mediator), account="med") == "account:med"


@pytest.mark.parametrize(
    "p, party, account",
    [
        (link(SessionRole.expert), None, "exp"),
        (link(SessionRole.observer), None, None),
        (link(SessionRole.clerk), None, "clerk"),
        (link(SessionRole.mediator), None, "another-mediator"),
        (link(SessionRole.applicant), "not-a-party-of-this-document", None),
        (link(SessionRole.applicant), None, None),
        (staff(StaffRole.mediator, "another-mediator"), None, None),
        (staff(StaffRole.admin, "admin"), None, None),
        (staff(StaffRole.reviewer, "rev"), None, None),
        (staff(StaffRole.expert, "exp"), None, None),
    ],
)
def test_everyone_else_is_refused(p, party, account):
    with pytest.raises(Forbidden):
        who(p, party=party, account=account)


def test_a_link_of_another_case_or_another_session_finds_nothing():
    with pytest.raises(NotFound):
        who(link(SessionRole.applicant, case_id="other"), party="pa")
    with pytest.raises(NotFound):
        who(link(SessionRole.applicant, session_id="s2"), party="pa", session_id="s1")


def test_the_mediator_a_version_names_signs_it_and_a_later_mediator_is_told_to_make_a_new_one():
    """A version names the mediator of its time among its signers; after the case's mediator
    changes, that one still signs it (if they can still read it), and the new one is told why not."""
    named_earlier = signer_for(
        staff(StaffRole.mediator, "med"),
        case_id="case",
        mediator_id="new-med",
        required=REQUIRED,
        invitation_party_id=None,
        invitation_account_id=None,
    )
    assert named_earlier.signer.key == "account:med"
    with pytest.raises(Forbidden) as refused:
        signer_for(
            staff(StaffRole.mediator, "new-med"),
            case_id="case",
            mediator_id="new-med",
            required=REQUIRED,
            invitation_party_id=None,
            invitation_account_id=None,
        )
    assert refused.value.details["reason"] == "mediator_changed" and "new version" in refused.value.message


def test_after_its_session_a_link_reaches_only_that_sessions_agreements():
    from dataclasses import replace

    from server.domain.agreements import ensure_link_reaches_agreement, link_reaches_agreement

    during, after = link(SessionRole.applicant), replace(link(SessionRole.applicant), after_session=True)
    assert all(link_reaches_agreement(during, s) for s in ("s1", "s2", None))
    assert link_reaches_agreement(after, "s1")
    assert not link_reaches_agreement(after, "s2") and not link_reaches_agreement(after, None)
    with pytest.raises(NotFound):
        ensure_link_reaches_agreement(after, "s2")
    assert link_reaches_agreement(staff(StaffRole.mediator, "med"), None)


@pytest.mark.parametrize(
    "status, agreement, minutes",
    [
        ("accepted", True, True),
        ("mediating", True, True),
        ("settled", True, True),
        ("unsettled", False, True),  # a failed mediation's minutes are signed too
        ("withdrawn", False, False),
        ("declined", False, False),
        ("closed", False, False),
    ],
)
def test_which_case_states_take_signatures(status, agreement, minutes):
    from server.domain.agreements import ensure_case_takes_signatures

    for document, allowed in (("agreement", agreement), ("minutes", minutes)):
        if allowed:
            ensure_case_takes_signatures(document, status)
        else:
            with pytest.raises(Conflict) as refused:
                ensure_case_takes_signatures(document, status)
            assert refused.value.details["reason"] == "case_state" and status in refused.value.message
