from __future__ import annotations

import httpx
import pytest

from tests.support.factories import Member
from tests.tickets.conftest import new_ticket
from ticketcreator.tickets.errors import InvalidTransition
from ticketcreator.tickets.models import Status
from ticketcreator.tickets.workflow import TRANSITIONS, allowed_transitions, check_transition


def test_every_status_can_move_somewhere_and_never_to_itself() -> None:
    assert set(TRANSITIONS) == set(Status)
    for status, targets in TRANSITIONS.items():
        assert targets
        assert status not in targets


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.OPEN, Status.IN_PROGRESS),
        (Status.IN_PROGRESS, Status.WAITING),
        (Status.WAITING, Status.RESOLVED),
        (Status.RESOLVED, Status.CLOSED),
        (Status.CLOSED, Status.OPEN),
        (Status.RESOLVED, Status.OPEN),
    ],
)
def test_the_main_path_and_reopening_are_allowed(current: Status, target: Status) -> None:
    check_transition(current, target)


def test_an_invalid_transition_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidTransition) as caught:
        check_transition(Status.OPEN, Status.CLOSED)
    assert caught.value.extensions["allowed"] == [s.value for s in allowed_transitions(Status.OPEN)]


async def test_the_workflow_through_the_api(client: httpx.AsyncClient, agent: Member) -> None:
    ticket = await new_ticket(client, agent)
    url = f"/v1/tickets/{ticket['id']}"
    for status in ("in_progress", "waiting", "resolved"):
        response = await client.patch(url, json={"status": status}, headers=agent.headers)
        assert response.status_code == 200, response.text
    resolved = response.json()
    assert resolved["resolved_at"] is not None
    closed = (await client.patch(url, json={"status": "closed"}, headers=agent.headers)).json()
    assert closed["closed_at"] is not None
    reopened = (await client.patch(url, json={"status": "open"}, headers=agent.headers)).json()
    assert reopened["status"] == "open"
    assert reopened["resolved_at"] is None
    assert reopened["closed_at"] is None


async def test_an_invalid_transition_is_409_naming_the_allowed_ones(
    client: httpx.AsyncClient, agent: Member
) -> None:
    ticket = await new_ticket(client, agent)
    response = await client.patch(
        f"/v1/tickets/{ticket['id']}", json={"status": "closed"}, headers=agent.headers
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["current"] == "open"
    assert problem["requested"] == "closed"
    assert problem["allowed"] == ["in_progress", "waiting", "resolved"]
    unchanged = (await client.get(f"/v1/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert unchanged["status"] == "open"
    assert unchanged["version"] == 1
