"""Invitation tokens: signing and checking offline, then resolving against the database row."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from server.auth.tokens import MAX_TOKEN_LENGTH, InvitationTokens
from server.domain.accounts import StaffRole
from server.domain.cases import CaseStatus
from server.domain.errors import InvalidToken
from server.domain.grants import SessionRole
from server.domain.orgs import OrgLevel
from server.domain.sessions import SessionStatus
from server.services import cases, invitations, sessions
from server.services.core import Core
from server.storage.models import Invitation

from .builders import make_case, make_org, make_session, make_staff, use_quick_hashing

KEY = "k" * 40
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=7)
INVITATION_ID = "5b0f3c8e-2d1a-4b7c-9e6f-0a1b2c3d4e5f"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def tokens() -> InvitationTokens:
    return InvitationTokens(KEY)


@pytest.fixture
def token(tokens: InvitationTokens) -> str:
    return tokens.sign(INVITATION_ID, EXPIRES)


def reason_for(tokens: InvitationTokens, token: str, now: datetime = NOW) -> str:
    with pytest.raises(InvalidToken) as err:
        tokens.verify(token, now)
    assert err.value.code == "invalid_token" and err.value.http_status == 401
    assert err.value.details == {"reason": err.value.reason}
    return err.value.reason


def test_a_signed_token_verifies_to_its_invitation_and_expiry(tokens: InvitationTokens, token: str) -> None:
    claims = tokens.verify(token, NOW)
    assert claims.invitation_id == INVITATION_ID
    assert claims.expires_at == EXPIRES


def test_a_token_is_short_enough_for_a_qr_code_and_url_safe(token: str) -> None:
    assert len(token) <= 50
    assert set(token) <= set(B64URL + ".")


def test_the_expiry_in_a_token_is_kept_to_the_second(tokens: InvitationTokens) -> None:
    claims = tokens.verify(tokens.sign(INVITATION_ID, EXPIRES + timedelta(microseconds=999_999)), NOW)
    assert claims.expires_at == EXPIRES


def test_a_token_is_good_until_the_second_before_it_expires(tokens: InvitationTokens, token: str) -> None:
    assert tokens.verify(token, EXPIRES - timedelta(seconds=1)).invitation_id == INVITATION_ID
    assert reason_for(tokens, token, EXPIRES) == "expired"
    assert reason_for(tokens, token, EXPIRES + timedelta(days=1)) == "expired"


def test_an_expired_token_says_so_and_what_to_do(tokens: InvitationTokens, token: str) -> None:
    with pytest.raises(InvalidToken) as err:
        tokens.verify(token, EXPIRES)
    assert err.value.message == "this invitation link has expired; ask the mediator for a new one"


def test_a_token_with_a_tampered_body_has_a_bad_signature(tokens: InvitationTokens, token: str) -> None:
    body, mac = token.split(".")
    raw = bytearray(unb64(body))
    raw[19] ^= 0x01  # one more second of validity, say
    assert reason_for(tokens, f"{b64(bytes(raw))}.{mac}") == "bad_signature"


def test_moving_the_expiry_later_in_the_body_is_caught(tokens: InvitationTokens, token: str) -> None:
    body, mac = token.split(".")
    later = unb64(body)[:16] + int(EXPIRES.timestamp() + 86400 * 30).to_bytes(4, "big")
    assert reason_for(tokens, f"{b64(later)}.{mac}") == "bad_signature"


def test_a_token_with_a_tampered_signature_has_a_bad_signature(tokens: InvitationTokens, token: str) -> None:
    body, mac = token.split(".")
    raw = bytearray(unb64(mac))
    raw[0] ^= 0x80
    with pytest.raises(InvalidToken) as err:
        tokens.verify(f"{body}.{b64(bytes(raw))}", NOW)
    assert err.value.reason == "bad_signature"
    assert err.value.message == "this invitation link has been altered or was not issued here"


def test_a_token_signed_under_another_key_has_a_bad_signature(token: str) -> None:
    assert reason_for(InvitationTokens("another-server-key-" + "y" * 32), token) == "bad_signature"


def test_the_signature_is_checked_before_the_expiry(tokens: InvitationTokens, token: str) -> None:
    assert reason_for(InvitationTokens("z" * 40), token, EXPIRES + timedelta(days=1)) == "bad_signature"


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: t.replace(".", ""), id="no dot"),
        pytest.param(lambda t: t + ".", id="trailing dot"),
        pytest.param(lambda t: t + ".AAAA", id="three parts"),
        pytest.param(lambda t: "." + t, id="leading dot"),
        pytest.param(lambda t: t.split(".")[0][:-3] + "." + t.split(".")[1], id="body too short"),
        pytest.param(lambda t: t.split(".")[0] + "AAAA." + t.split(".")[1], id="body too long"),
        pytest.param(lambda t: t[:-2], id="signature too short"),
        pytest.param(lambda t: t.split(".")[0] + ".", id="no signature"),
        pytest.param(lambda t: "." + t.split(".")[1], id="no body"),
        pytest.param(lambda t: t.replace(t[3], "!", 1), id="character outside base64url"),
        pytest.param(lambda t: t[:5] + "=" + t[6:], id="padding character"),
        pytest.param(lambda t: "A." + t.split(".")[1], id="impossible base64 length"),
        pytest.param(lambda t: t + " ", id="trailing space"),
        pytest.param(lambda t: t + "\n", id="trailing newline"),
        pytest.param(lambda t: "A" * (MAX_TOKEN_LENGTH - 10) + "." + "A" * 10, id="one character too long"),
        pytest.param(lambda t: "A" * 5000 + "." + t, id="far too long"),
        pytest.param(lambda t: "令牌." + t.split(".")[1], id="not ascii"),
    ],
)
def test_a_malformed_token_is_refused_as_malformed(tokens: InvitationTokens, token: str, mangle) -> None:  # type: ignore[no-untyped-def]
    mangled = mangle(token)
    assert mangled != token
    with pytest.raises(InvalidToken) as err:
        tokens.verify(mangled, NOW)
    assert err.value.reason == "malformed"
    assert err.value.message == "this link is not a valid invitation link"


def test_a_token_spelt_with_the_other_base64_alphabet_is_malformed(tokens: InvitationTokens) -> None:
    # Pick an invitation whose token contains '-' or '_', then spell it with '+' and '/'.
    for i in range(200):
        t = tokens.sign(str(uuid.UUID(int=i * 7919 + 1)), EXPIRES)
        if "-" in t or "_" in t:
            break
    standard = t.replace("-", "+").replace("_", "/")
    assert standard != t
    assert reason_for(tokens, standard) == "malformed"


def test_a_token_is_accepted_in_one_spelling_only(tokens: InvitationTokens, token: str) -> None:
    """The last base64 character carries spare bits: changing them keeps the bytes, not the token."""
    body, mac = token.split(".")
    last = B64URL.index(mac[-1])
    twin = mac[:-1] + B64URL[last ^ 0b0001]  # 16 bytes = 22 characters: the last 4 bits are spare
    assert unb64(twin) == unb64(mac)
    assert reason_for(tokens, f"{body}.{twin}") == "malformed"


# --- resolving against the database -------------------------------------------------------------


async def test_a_valid_link_resolves_to_its_invitation(core: Core) -> None:
    use_quick_hashing(core)
    org = await make_org(core, "TK", level=OrgLevel.town)
    mediator = await make_staff(core, "tk-mediator", StaffRole.mediator, org)
    case = await make_case(core, mediator)
    session = await make_session(core, mediator, case)
    inv = await invitations.issue(core, mediator, session.id, role=SessionRole.applicant, party_id=case.parties[0].id)
    token = invitations.token_for(core, inv)
    resolved = await invitations.resolve(core, token)
    assert (resolved.id, resolved.role, resolved.display_name) == (inv.id, "applicant", "张三")
    assert invitations.link_for(core, inv) == f"http://heshi.test/j/{token}"


async def reason(core: Core, token: str) -> str:
    try:
        inv = await invitations.resolve(core, token)
    except InvalidToken as exc:
        return f"{exc.reason}: {exc.message}"
    return f"resolves to {inv.display_name}"


async def test_resolve_refuses_revoked_expired_ended_and_mismatched_links_saying_why(core: Core, clock) -> None:  # type: ignore[no-untyped-def]
    use_quick_hashing(core)
    org = await make_org(core, "TK", level=OrgLevel.town)
    mediator = await make_staff(core, "tk-mediator", StaffRole.mediator, org)
    case = await make_case(core, mediator)
    session, other_session = await make_session(core, mediator, case), await make_session(core, mediator, case)

    async def invite(name: str, in_session=session) -> Invitation:  # type: ignore[no-untyped-def]
        return await invitations.issue(
            core, mediator, in_session.id, role=SessionRole.observer, display_name=name, ttl=timedelta(hours=48)
        )

    kept, revoked, shortened, mismatched = [await invite(n) for n in ("kept", "revoked", "shortened", "mismatched")]
    in_ended = await invite("in ended session", other_session)
    await invitations.revoke(core, mediator, revoked.id, "发错了人")
    await sessions.set_session_status(core, mediator, other_session.id, SessionStatus.ended, "改期")
    links = {inv.display_name: invitations.token_for(core, inv) for inv in (kept, revoked, in_ended, shortened)}
    async with core.db.write() as s:  # the row is the authority: a shortened lifetime wins over the token's
        await s.execute(
            update(Invitation).where(Invitation.id == shortened.id).values(expires_at=clock.now() + timedelta(hours=1))
        )
    # Correctly signed by this server, but not the token that was issued for the row.
    links["mismatched"] = core.tokens.sign(mismatched.id, mismatched.expires_at + timedelta(days=30))
    links["unknown"] = core.tokens.sign(str(uuid.uuid4()), kept.expires_at)
    links["other server"] = InvitationTokens("someone-elses-key-" + "q" * 32).sign(kept.id, kept.expires_at)

    clock.advance(hours=2)
    assert {name: await reason(core, token) for name, token in links.items()} == {
        "kept": "resolves to kept",
        "revoked": "revoked: this invitation has been withdrawn by the mediator",
        "in ended session": "session_ended: this mediation session has ended",
        "shortened": "expired: this invitation link has expired; ask the mediator for a new one",
        "mismatched": "bad_signature: this invitation link does not match its invitation",
        "unknown": "unknown: this invitation does not exist",
        "other server": "bad_signature: this invitation link has been altered or was not issued here",
    }
    clock.advance(hours=45, minutes=59)
    assert await reason(core, links["kept"]) == "resolves to kept"
    clock.advance(minutes=1)  # 48 hours after issue
    assert await reason(core, links["kept"]) == (
        "expired: this invitation link has expired; ask the mediator for a new one"
    )


async def test_after_its_session_ends_a_signers_link_resolves_for_the_documents_only(core: Core) -> None:
    use_quick_hashing(core)
    org = await make_org(core, "TE", level=OrgLevel.town)
    mediator = await make_staff(core, "te-mediator", StaffRole.mediator, org)
    case = await make_case(core, mediator)
    session = await make_session(core, mediator, case)
    applicant_party = next(p for p in case.parties if p.side == "applicant")
    party = await invitations.issue(core, mediator, session.id, role=SessionRole.applicant, party_id=applicant_party.id)
    observer = await invitations.issue(core, mediator, session.id, role=SessionRole.observer, display_name="旁听")
    tokens_of = {inv.id: invitations.token_for(core, inv) for inv in (party, observer)}
    await cases.transition(core, mediator, case.id, CaseStatus.accepted, None)  # a registered case signs nothing
    await sessions.set_session_status(core, mediator, session.id, SessionStatus.live)
    await sessions.set_session_status(core, mediator, session.id, SessionStatus.ended, "达成协议")

    for inv in (party, observer):  # the room: closed to everyone
        with pytest.raises(InvalidToken) as refused:
            await invitations.resolve(core, tokens_of[inv.id])
        assert refused.value.reason == "session_ended"
    assert (await invitations.resolve(core, tokens_of[party.id], documents=True)).id == party.id
    with pytest.raises(InvalidToken) as refused:
        await invitations.resolve(core, tokens_of[observer.id], documents=True)
    assert refused.value.reason == "session_ended"
