"""Routing rules through the API: validation, versions, order, permissions, the dry-run, and
what firing rules do to a ticket (every action) with the timeline explaining it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.routing.conftest import call, create_rule, create_team, events, in_session, new_ticket
from tests.support.factories import Member
from ticketcreator.core.events import emit
from ticketcreator.routing import actions, flows
from ticketcreator.routing.actions import ActionType, External, Params, Plan
from ticketcreator.routing.models import Trigger
from ticketcreator.tickets.models import Ticket

ALWAYS: dict[str, Any] = {"all": []}


async def route(ticket_id: str, trigger: Trigger = Trigger.TRIAGED) -> Plan | None:
    async def run(db: AsyncSession) -> Plan | None:
        ticket = await flows.locked_ticket(db, uuid.UUID(ticket_id))
        assert ticket is not None
        return await flows.route(db, ticket, trigger)

    result: Plan | None = await in_session(run)
    return result


async def test_create_read_update_version_delete(client: httpx.AsyncClient, admin: Member) -> None:
    rule = await create_rule(
        client,
        admin,
        conditions={"all": [{"field": "priority", "op": "eq", "value": "urgent"}]},
        actions=[{"type": "add_tags", "tags": ["Hot"]}],
    )
    assert rule["version"] == 1
    assert rule["position"] == 0
    assert rule["actions"] == [{"type": "add_tags", "tags": ["hot"]}]
    path = f"/v1/routing/rules/{rule['id']}"
    changed = await call(client, admin, "PATCH", path, json={"name": "Urgent is hot", "stop": True})
    assert changed["version"] == 2
    assert changed["stop"] is True
    versions = await call(client, admin, "GET", f"{path}/versions")
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["snapshot"]["name"] == rule["name"]
    assert versions[0]["changed_by"] == str(admin.user.id)
    assert (await call(client, admin, "GET", path))["name"] == "Urgent is hot"
    await call(client, admin, "DELETE", path, 204)
    await call(client, admin, "GET", path, 404)


async def test_invalid_rules_are_refused_naming_the_field(
    client: httpx.AsyncClient, admin: Member
) -> None:
    cases = [
        (
            {"conditions": {"all": [{"field": "priority", "op": "eq", "value": "asap"}]}},
            "conditions.all[0].value",
        ),
        (
            {
                "conditions": {
                    "all": [{"field": "category", "op": "eq", "value": str(uuid.uuid4())}]
                }
            },
            "conditions.all[0].value",
        ),
        (
            {"conditions": {"all": [{"field": "custom_field", "key": "plan", "op": "is_set"}]}},
            "conditions.all[0].key",
        ),
        ({"actions": [{"type": "launch_rocket"}]}, "actions[0].type"),
        ({"actions": [{"type": "set_priority", "priority": "asap"}]}, "actions[0].priority"),
        ({"actions": [{"type": "set_team", "team_id": str(uuid.uuid4())}]}, "actions[0].team_id"),
        (
            {"actions": [{"type": "set_assignee", "user_id": str(uuid.uuid4())}]},
            "actions[0].user_id",
        ),
        (
            {"actions": [{"type": "set_sla_policy", "policy_id": str(uuid.uuid4())}]},
            "actions[0].policy_id",
        ),
        ({"actions": [{"type": "notify", "channel": "slack"}]}, "actions[0].webhook_id"),
    ]
    for fields, field in cases:
        body = {"name": "bad", "actions": [{"type": "raise_priority"}], **fields}
        response = await client.post("/v1/routing/rules", json=body, headers=admin.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith("/invalid-routing-rule")
        assert problem["field"] == field, problem
    assert await call(client, admin, "GET", "/v1/routing/rules") == []
    rule = await create_rule(client, admin, actions=[{"type": "raise_priority"}])
    response = await client.patch(
        f"/v1/routing/rules/{rule['id']}",
        json={"actions": [{"type": "add_tags", "tags": []}]},
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["field"] == "actions[0].tags"
    assert (await call(client, admin, "GET", f"/v1/routing/rules/{rule['id']}"))["version"] == 1


async def test_order_and_reorder(client: httpx.AsyncClient, admin: Member) -> None:
    first = await create_rule(client, admin, actions=[{"type": "raise_priority"}])
    second = await create_rule(client, admin, actions=[{"type": "raise_priority"}])
    inserted = await create_rule(client, admin, actions=[{"type": "raise_priority"}], position=0)
    listed = await call(client, admin, "GET", "/v1/routing/rules")
    assert [r["id"] for r in listed] == [inserted["id"], first["id"], second["id"]]
    order = [second["id"], first["id"], inserted["id"]]
    reordered = await call(
        client, admin, "PUT", "/v1/routing/rules/order", json={"rule_ids": order}
    )
    assert [r["id"] for r in reordered] == order
    assert [r["position"] for r in reordered] == [0, 1, 2]
    response = await client.put(
        "/v1/routing/rules/order", json={"rule_ids": order[:2]}, headers=admin.headers
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-rule-order")


async def test_permissions(
    client: httpx.AsyncClient,
    admin: Member,
    agent: Member,
    reporter: Member,
    viewer: Member,
) -> None:
    rule = await create_rule(client, admin, actions=[{"type": "raise_priority"}])
    assert len(await call(client, agent, "GET", "/v1/routing/rules")) == 1
    body = {"name": "x", "actions": [{"type": "raise_priority"}]}
    await call(client, agent, "POST", "/v1/routing/rules", 403, json=body)
    await call(client, agent, "DELETE", f"/v1/routing/rules/{rule['id']}", 403)
    for member in (reporter, viewer):
        await call(client, member, "GET", "/v1/routing/rules", 403)
        await call(client, member, "GET", f"/v1/routing/rules/{rule['id']}", 403)
        await call(client, member, "POST", "/v1/routing/dry-run", 403, json={"draft": {}})


async def test_dry_run_for_a_draft_and_a_ticket(
    client: httpx.AsyncClient, admin: Member, agent: Member
) -> None:
    team = await create_team(client, admin, [agent])
    await create_rule(
        client,
        admin,
        name="German checkout",
        conditions={
            "all": [
                {"field": "language", "op": "eq", "value": "de"},
                {"field": "page_url", "op": "glob", "value": "*/checkout*"},
            ]
        },
        actions=[
            {"type": "set_priority", "priority": "high"},
            {"type": "assign", "team_id": team},
        ],
    )
    await create_rule(
        client,
        admin,
        name="High gets a tag",
        conditions={"all": [{"field": "priority", "op": "gte", "value": "high"}]},
        actions=[{"type": "add_tags", "tags": ["hot"]}],
    )
    draft = {"title": "Kasse", "language": "de", "page_url": "https://shop.example/checkout"}
    result = await call(client, agent, "POST", "/v1/routing/dry-run", json={"draft": draft})
    assert result["evaluated"] == 2
    assert [f["rule"] for f in result["fired"]] == ["German checkout", "High gets a tag"]
    assert result["fired"][0]["matched"] == [
        "language eq 'de'",
        "page_url glob '*/checkout*'",
    ]
    assert result["changes"] == {"priority": "high", "team_id": team}
    assert result["add_tags"] == ["hot"]
    assert result["assignment"]["user_id"] == str(agent.user.id)
    assert result["assignment"]["strategy"] == "round_robin"
    ticket = await new_ticket(client, admin, priority="urgent")
    result = await call(
        client, agent, "POST", "/v1/routing/dry-run", json={"ticket": ticket["key"]}
    )
    assert [f["rule"] for f in result["fired"]] == ["High gets a tag"]
    assert result["assignment"] is None
    # nothing was written
    assert (await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}"))["tags"] == []
    await call(client, agent, "POST", "/v1/routing/dry-run", 404, json={"ticket": "T-999"})
    both = {"ticket": ticket["key"], "draft": draft}
    await call(client, agent, "POST", "/v1/routing/dry-run", 422, json=both)


async def test_every_action_changes_the_ticket_and_the_timeline_says_why(
    client: httpx.AsyncClient, admin: Member, agent: Member, agents: list[Member]
) -> None:
    team = await create_team(client, admin, [agent])
    other_team = await create_team(client, admin, agents[:1])
    policy = await call(
        client,
        admin,
        "POST",
        "/v1/routing/sla-policies",
        201,
        json={"name": "Gold", "targets": [{"priority": "urgent", "resolution_minutes": 240}]},
    )
    await create_rule(
        client,
        admin,
        name="Payments",
        conditions={"all": [{"field": "text", "op": "contains", "value": "payment"}]},
        actions=[
            {"type": "set_team", "team_id": other_team},
            {"type": "set_priority", "priority": "urgent"},
            {"type": "add_tags", "tags": ["payments", "old"]},
            {"type": "remove_tags", "tags": ["old"]},
            {"type": "set_sla_policy", "policy_id": policy["id"]},
            {"type": "set_assignee", "user_id": str(agent.user.id)},
        ],
    )
    ticket = await new_ticket(client, admin, title="payment failed", team_id=team)
    plan = await route(ticket["id"])
    assert plan is not None
    assert len(plan.fired) == 1
    after = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}")
    assert after["team_id"] == other_team
    assert after["priority"] == "urgent"
    assert after["tags"] == ["payments"]
    assert after["assignee_id"] == str(agent.user.id)
    fired = await events(ticket["id"], "rule_fired")
    assert len(fired) == 1
    assert fired[0].internal
    assert fired[0].new["rule"] == "Payments"
    assert fired[0].new["matched"] == ["text contains 'payment'"]
    assert "set priority urgent" in fired[0].new["actions"]
    sla = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}/sla")
    assert sla["policy"] == "Gold"
    assert [m["metric"] for m in sla["metrics"]] == ["resolution"]
    # the changes themselves are ordinary events by the system
    priority = [e for e in await events(ticket["id"], "updated") if e.field == "priority"]
    assert priority[0].actor_kind.value == "system"
    timeline = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}/timeline")
    assert any(item["event"]["kind"] == "rule_fired" for item in timeline["items"])


def kinds(timeline: dict[str, Any]) -> list[str]:
    return [item["event"]["kind"] for item in timeline["items"] if item["type"] == "event"]


async def test_raise_priority_stop_and_triggers(
    client: httpx.AsyncClient, admin: Member, reporter: Member
) -> None:
    await create_rule(
        client, admin, name="raise once", actions=[{"type": "raise_priority"}], stop=True
    )
    await create_rule(client, admin, name="never reached", actions=[{"type": "raise_priority"}])
    await create_rule(
        client,
        admin,
        name="on updates",
        triggers=["updated"],
        actions=[{"type": "add_tags", "tags": ["changed"]}],
    )
    ticket = await new_ticket(client, reporter, priority="high")
    plan = await route(ticket["id"])
    assert plan is not None
    assert [f["rule"] for f in plan.fired] == ["raise once"]
    path = f"/v1/tickets/{ticket['id']}/timeline"
    assert "rule_fired" in kinds(await call(client, admin, "GET", path))
    # the reporter sees the change, not the routing internals
    seen = kinds(await call(client, reporter, "GET", path))
    assert "updated" in seen
    assert "rule_fired" not in seen
    after = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}")
    assert after["priority"] == "urgent"
    assert after["tags"] == []
    plan = await route(ticket["id"], Trigger.UPDATED)
    assert plan is not None
    assert [f["rule"] for f in plan.fired] == ["on updates"]
    assert (await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}"))["tags"] == ["changed"]


async def test_assignment_without_a_team_is_explained(
    client: httpx.AsyncClient, admin: Member
) -> None:
    await create_rule(client, admin, actions=[{"type": "assign"}])
    ticket = await new_ticket(client, admin)
    await route(ticket["id"])
    skipped = await events(ticket["id"], "assignment_skipped")
    assert skipped[0].new == {"reason": "no team"}


class _PagerParams(Params):
    channel: str


class FakePager(ActionType):
    """A registered action type, as another part of the product adds one."""

    key: ClassVar[str] = "page"
    params: ClassVar[type[Params]] = _PagerParams

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        assert isinstance(params, _PagerParams)
        plan.external.append(External(self, params, reason))
        return f"page {params.channel}"

    async def execute(
        self, session: AsyncSession, ticket: Ticket, params: Params, reason: dict[str, Any]
    ) -> None:
        assert isinstance(params, _PagerParams)
        emit(session, "test.page", {"ticket_id": str(ticket.id), "channel": params.channel})


@pytest.fixture
def pager_type() -> Iterator[None]:
    actions.register(FakePager())
    yield
    actions.unregister("page")


async def test_registered_action_types_are_validated_and_run(
    client: httpx.AsyncClient, admin: Member, pager_type: None, session: AsyncSession
) -> None:
    from sqlalchemy import select

    from ticketcreator.core.outbox import OutboxEvent

    bad = {"name": "n", "actions": [{"type": "page", "channel": 5}]}
    response = await client.post("/v1/routing/rules", json=bad, headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "actions[0].channel"
    await create_rule(client, admin, actions=[{"type": "page", "channel": "#support"}])
    ticket = await new_ticket(client, admin)
    await route(ticket["id"])
    sent = (
        await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "test.page"))
    ).all()
    assert [e.payload["channel"] for e in sent] == ["#support"]
    assert sent[0].payload["ticket_id"] == ticket["id"]


async def test_a_rule_that_cannot_apply_is_explained_not_retried(
    client: httpx.AsyncClient, admin: Member, agent: Member, session: AsyncSession
) -> None:
    from sqlalchemy import update

    from ticketcreator.accounts.models import Membership
    from ticketcreator.accounts.permissions import Role

    await create_rule(
        client, admin, actions=[{"type": "set_assignee", "user_id": str(agent.user.id)}]
    )
    await session.execute(
        update(Membership).where(Membership.user_id == agent.user.id).values(role=Role.REPORTER)
    )
    await session.commit()
    ticket = await new_ticket(client, admin)
    await route(ticket["id"])
    failed = await events(ticket["id"], "routing_failed")
    assert failed[0].new["assignee_id"] == str(agent.user.id)
    assert (await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}"))["assignee_id"] is None
