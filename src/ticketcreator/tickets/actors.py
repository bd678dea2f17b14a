"""Who changes tickets: the kind of actor recorded with every ticket event.

People and API keys are told apart by the principal's ids. Actors that are neither (the AI,
system jobs) act through an :class:`AutomatedPrincipal` that names its kind, so the tickets
package records it without knowing who they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from ticketcreator.accounts.auth import Principal
from ticketcreator.tickets.models import ActorKind


@dataclass(frozen=True)
class AutomatedPrincipal(Principal):
    """A caller without user or API key that says what it is (``ai`` or ``system``)."""

    actor_kind: ActorKind = ActorKind.SYSTEM


def actor_kind(principal: Principal) -> ActorKind:
    """The kind of actor ``principal`` is.

    An API key principal also carries the id of the user who created the key, so the key is
    checked first.
    """
    if isinstance(principal, AutomatedPrincipal):
        return principal.actor_kind
    if principal.api_key_id is not None:
        return ActorKind.API_KEY
    if principal.user_id is not None:
        return ActorKind.USER
    return ActorKind.SYSTEM
