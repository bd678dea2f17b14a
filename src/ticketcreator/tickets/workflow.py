"""The ticket status workflow: which status may follow which.

open → in_progress → waiting → resolved → closed, with the way back in between; a resolved or
closed ticket is reopened by moving it to ``open``.
"""

from __future__ import annotations

from ticketcreator.tickets.errors import InvalidTransition
from ticketcreator.tickets.models import Status

TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    Status.OPEN: (Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED),
    Status.IN_PROGRESS: (Status.OPEN, Status.WAITING, Status.RESOLVED),
    Status.WAITING: (Status.OPEN, Status.IN_PROGRESS, Status.RESOLVED),
    Status.RESOLVED: (Status.CLOSED, Status.OPEN),
    Status.CLOSED: (Status.OPEN,),
}


def allowed_transitions(current: Status) -> tuple[Status, ...]:
    return TRANSITIONS[current]


def check_transition(current: Status, target: Status) -> None:
    """Raise :class:`InvalidTransition` unless ``current`` may move to ``target``."""
    allowed = TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition(
            f"A ticket in status `{current}` cannot move to `{target}`.",
            current=current.value,
            requested=target.value,
            allowed=[status.value for status in allowed],
        )
