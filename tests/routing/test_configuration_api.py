"""Configuration endpoints: team strategies, agents' capacity, availability and skills,
calendars and SLA policies, with their permissions and validation errors."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from tests.routing.conftest import call, create_rule, create_team
from tests.support.factories import Member
from ticketcreator.core.db import utcnow

HOURS = {str(d): [["09:00", "17:00"]] for d in range(5)}


async def test_team_strategy(client: httpx.AsyncClient, admin: Member, agent: Member) -> None:
    team = await create_team(client, admin, [agent])
    path = f"/v1/routing/teams/{team}/strategy"
    assert (await call(client, agent, "GET", path))["strategy"] == "round_robin"
    await call(client, agent, "PUT", path, 403, json={"strategy": "skills"})
    assert (await call(client, admin, "PUT", path, json={"strategy": "skills"}))[
        "strategy"
    ] == "skills"
    assert (await call(client, admin, "PUT", path, json={"strategy": "least_open"}))[
        "strategy"
    ] == "least_open"
    assert (await call(client, agent, "GET", path))["strategy"] == "least_open"
    await call(client, admin, "PUT", path, 422, json={"strategy": "random"})
    await call(client, admin, "GET", f"/v1/routing/teams/{uuid.uuid4()}/strategy", 404)


async def test_agents_set_their_own_availability_admins_set_capacity(
    client: httpx.AsyncClient, admin: Member, agent: Member, agents: list[Member], reporter: Member
) -> None:
    listed = await call(client, agent, "GET", "/v1/routing/agents")
    ids = {a["user_id"] for a in listed}
    assert str(agent.user.id) in ids
    assert str(reporter.user.id) not in ids
    me = f"/v1/routing/agents/{agent.user.id}"
    until = (utcnow() + timedelta(hours=2)).isoformat()
    mine = await call(
        client, agent, "PATCH", me, json={"availability": "away", "away_until": until}
    )
    assert mine["availability"] == "away"
    assert mine["away_until"] is not None
    assert mine["capacity"] == 10  # the configured default
    await call(client, agent, "PATCH", me, 403, json={"capacity": 50})
    await call(
        client,
        agent,
        "PATCH",
        f"/v1/routing/agents/{agents[0].user.id}",
        403,
        json={"availability": "off"},
    )
    await call(client, agent, "PUT", f"{me}/skills", 403, json={"skills": []})
    back = await call(client, agent, "PATCH", me, json={"availability": "online"})
    assert back["away_until"] is None
    set_by_admin = await call(
        client, admin, "PATCH", me, json={"capacity": 3, "availability": "off"}
    )
    assert set_by_admin["capacity"] == 3
    assert set_by_admin["availability"] == "off"
    response = await client.patch(me, json={"away_until": until}, headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "away_until"
    await call(client, admin, "GET", f"/v1/routing/agents/{reporter.user.id}", 404)
    await call(client, reporter, "GET", "/v1/routing/agents", 403)
    skills = {"skills": [{"kind": "language", "value": "DE", "level": 4}]}
    agent_view = await call(client, admin, "PUT", f"{me}/skills", json=skills)
    assert agent_view["skills"] == [{"kind": "language", "value": "de", "level": 4}]
    assert (await call(client, agent, "GET", me))["skills"] == agent_view["skills"]
    await call(
        client,
        admin,
        "PUT",
        f"{me}/skills",
        422,
        json={"skills": [{"kind": "language", "value": "de", "level": 9}]},
    )


async def test_calendars(client: httpx.AsyncClient, admin: Member, agent: Member) -> None:
    body = {
        "name": "Office",
        "timezone": "Europe/Berlin",
        "hours": HOURS,
        "holidays": ["2026-12-25"],
    }
    await call(client, agent, "POST", "/v1/routing/calendars", 403, json=body)
    calendar = await call(client, admin, "POST", "/v1/routing/calendars", 201, json=body)
    assert calendar["holidays"] == ["2026-12-25"]
    await call(client, admin, "POST", "/v1/routing/calendars", 409, json=body)
    for bad, field in (
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"hours": {"7": [["09:00", "17:00"]]}}, "hours.7"),
        ({"hours": {"0": [["17:00", "09:00"]]}}, "hours.0[0]"),
        ({"hours": {"0": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "hours.0[1]"),
        ({"hours": {}}, "hours"),
    ):
        response = await client.post(
            "/v1/routing/calendars", json={**body, "name": "x", **bad}, headers=admin.headers
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["field"] == field
    path = f"/v1/routing/calendars/{calendar['id']}"
    changed = await call(
        client, admin, "PATCH", path, json={"name": "HQ", "hours": {"0": [["00:00", "24:00"]]}}
    )
    assert changed["hours"] == {"0": [["00:00", "24:00"]]}
    assert [c["name"] for c in await call(client, agent, "GET", "/v1/routing/calendars")] == ["HQ"]
    assert (await call(client, agent, "GET", path))["timezone"] == "Europe/Berlin"
    # in use by a rule's business-hours condition: kept
    rule = await create_rule(
        client,
        admin,
        conditions={
            "all": [
                {
                    "field": "business_hours",
                    "calendar_id": calendar["id"],
                    "op": "eq",
                    "value": False,
                }
            ]
        },
        actions=[{"type": "add_tags", "tags": ["after-hours"]}],
    )
    await call(client, admin, "DELETE", path, 409)
    await call(client, admin, "DELETE", f"/v1/routing/rules/{rule['id']}", 204)
    await call(client, admin, "DELETE", path, 204)
    await call(client, admin, "GET", path, 404)
    bad_rule = {
        "name": "r",
        "conditions": {
            "all": [
                {
                    "field": "business_hours",
                    "calendar_id": calendar["id"],
                    "op": "eq",
                    "value": True,
                }
            ]
        },
        "actions": [{"type": "raise_priority"}],
    }
    response = await client.post("/v1/routing/rules", json=bad_rule, headers=admin.headers)
    assert response.json()["field"] == "conditions.all[0].calendar_id"


async def test_sla_policies(client: httpx.AsyncClient, admin: Member, agent: Member) -> None:
    calendar = await call(
        client, admin, "POST", "/v1/routing/calendars", 201,
        json={"name": "Office", "timezone": "UTC", "hours": HOURS},
    )  # fmt: skip
    body = {
        "name": "Standard",
        "is_default": True,
        "calendar_id": calendar["id"],
        "targets": [{"priority": "normal", "first_response_minutes": 60}],
    }
    await call(client, agent, "POST", "/v1/routing/sla-policies", 403, json=body)
    standard = await call(client, admin, "POST", "/v1/routing/sla-policies", 201, json=body)
    assert standard["warn_share"] == 0.8
    assert standard["is_default"] is True
    gold = await call(
        client, admin, "POST", "/v1/routing/sla-policies", 201, json={**body, "name": "Gold"}
    )
    listed = {
        p["name"]: p["is_default"]
        for p in await call(client, agent, "GET", "/v1/routing/sla-policies")
    }
    assert listed == {"Gold": True, "Standard": False}  # one default per organization
    policy_error, rule_error = "invalid-sla-policy", "invalid-routing-rule"
    low = {"priority": "low", "resolution_minutes": 5}
    for bad, field, kind in (
        ({"calendar_id": str(uuid.uuid4())}, "calendar_id", "invalid-sla-policy"),
        ({"targets": [{"priority": "normal"}]}, "targets[0]", "invalid-sla-policy"),
        ({"targets": [low, low]}, "targets[1]", policy_error),
        ({"targets": [{**low, "category_id": str(uuid.uuid4())}]}, "targets[0].category_id",
         policy_error),
        ({"escalation": {"later": []}}, "escalation.later", "invalid-sla-policy"),
        ({"escalation": {"breach": [{"type": "page"}]}}, "escalation.breach[0].type", rule_error),
    ):  # fmt: skip
        response = await client.post(
            "/v1/routing/sla-policies", json={**body, "name": "x", **bad}, headers=admin.headers
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["field"] == field
        assert response.json()["type"].endswith(kind)
    path = f"/v1/routing/sla-policies/{standard['id']}"
    changed = await call(
        client, admin, "PATCH", path,
        json={"warn_share": 0.5, "is_default": True, "calendar_id": None,
              "escalation": {"breach": [{"type": "raise_priority"}]}},
    )  # fmt: skip
    assert changed["warn_share"] == 0.5
    assert changed["calendar_id"] is None
    assert changed["escalation"] == {"breach": [{"type": "raise_priority"}]}
    assert (await call(client, agent, "GET", f"/v1/routing/sla-policies/{gold['id']}"))[
        "is_default"
    ] is False
    await call(client, admin, "PATCH", path, 409, json={"name": "Gold"})
    rule = await create_rule(
        client, admin, actions=[{"type": "set_sla_policy", "policy_id": standard["id"]}]
    )
    await call(client, admin, "DELETE", path, 409)
    await call(client, admin, "DELETE", f"/v1/routing/rules/{rule['id']}", 204)
    await call(client, admin, "DELETE", path, 204)
    await call(client, agent, "GET", path, 404)
