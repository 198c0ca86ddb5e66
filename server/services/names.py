"""People's names for the actors that the case log and the documents record.

An entry, a revision or a signature keeps its `Actor` exactly (`account:<id>`,
`invitation:<id>`, …): that is the evidence. People reading it want a name: the account's
display name, or the name the invitation was issued to. Actors that are not people (the
recorder, the system with its reason) have no name here; a reader shows what they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from server.domain.actors import Actor, ActorKind
from server.storage import accounts as stored_accounts
from server.storage import invitations as stored_invitations
from server.storage.base import Tx


async def actor_names(tx: Tx, actors: Iterable[str]) -> dict[str, str]:
    """The names of the people among `actors` (actor strings as stored), by actor string. An
    account or invitation that no longer exists, or any other kind of actor, is left out."""
    names: dict[str, str] = {}
    for text in set(actors):
        try:
            actor = Actor.parse(text)
        except ValueError:
            continue
        if actor.kind is ActorKind.account:
            account = await stored_accounts.account_or_none(tx, actor.id)
            if account is not None:
                names[text] = account.display_name
        elif actor.kind is ActorKind.invitation:
            inv = await stored_invitations.invitation_or_none(tx, actor.id)
            if inv is not None:
                names[text] = inv.display_name
    return names
