"""Account commands of the ``ticketcreator`` CLI, run against the test database.

Each command runs its own event loop, so it is invoked in a worker thread.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from tests.accounts.conftest import PASSWORD, assert_problem
from ticketcreator.accounts.demo import DEFAULT_DEMO_PASSWORD
from ticketcreator.accounts.models import ApiKey, Membership, Organization, User
from ticketcreator.accounts.permissions import Role
from ticketcreator.cli import app
from ticketcreator.taxonomy.models import Category, Team
from ticketcreator.tickets.models import Ticket

pytestmark = pytest.mark.usefixtures("database")


async def _run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return await asyncio.to_thread(
        CliRunner().invoke, app, list(args), env=env, input=stdin, catch_exceptions=False
    )


async def test_create_user_creates_the_organization_and_the_user(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    result = await _run(
        "create-user",
        "--email",
        "Ops@Example.com",
        "--name",
        "Ops",
        "--organization",
        "ops",
        "--role",
        "admin",
        env={"TC_USER_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    assert "ops@example.com is now admin of ops (created: organization, user)" in result.output
    assert PASSWORD not in result.output
    organization = (await session.scalars(select(Organization))).one()
    assert (organization.slug, organization.name) == ("ops", "ops")
    login = await client.post(
        "/v1/auth/login", json={"email": "ops@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_create_user_prompts_and_adds_existing_users(session: AsyncSession) -> None:
    first = await _run(
        "create-user",
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--organization",
        "one",
        "--organization-name",
        "One Inc",
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert first.exit_code == 0, first.output
    second = await _run(
        "create-user",
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--organization",
        "two",
        "--role",
        "viewer",
        env={"TC_USER_PASSWORD": "ignored-for-existing"},
    )
    assert second.exit_code == 0, second.output
    assert "(created: organization)" in second.output
    roles = dict(
        (
            await session.execute(
                select(Organization.slug, Membership.role).join(
                    Membership, Membership.organization_id == Organization.id
                )
            )
        ).all()
    )
    assert roles == {"one": Role.OWNER, "two": Role.VIEWER}
    names = (await session.scalars(select(Organization.name).order_by(Organization.slug))).all()
    assert names == ["One Inc", "two"]


async def test_create_user_reports_problems(session: AsyncSession) -> None:
    short = await _run(
        "create-user",
        "--email",
        "b@example.com",
        "--name",
        "B",
        "--organization",
        "b",
        env={"TC_USER_PASSWORD": "short"},
    )
    assert short.exit_code == 2
    assert "at least" in short.output
    assert (await session.scalars(select(User))).all() == []
    args = ["create-user", "--email", "c@example.com", "--name", "C", "--organization", "c"]
    env = {"TC_USER_PASSWORD": PASSWORD}
    assert (await _run(*args, env=env)).exit_code == 0
    twice = await _run(*args, env=env)
    assert twice.exit_code == 2
    assert "already a member" in twice.output


async def test_seed_demo_is_idempotent_and_prints_a_working_key(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    first = await _run("seed-demo", env={"TC_DEMO_PASSWORD": ""})
    assert first.exit_code == 0, first.output
    assert "Acme Support (slug acme)" in first.output
    assert f"created user: demo@example.com  password: {DEFAULT_DEMO_PASSWORD}" in first.output
    assert "curl -s -X POST http://127.0.0.1:8000/v1/auth/login" in first.output
    key_match = re.search(r"(tck_\S+)", first.output)
    assert key_match
    key = key_match.group(1)

    assert "added: 10 categories, 5 teams, 20 tags, 6 sample tickets" in first.output

    second = await _run("seed-demo")
    assert second.exit_code == 0, second.output
    assert "existing user: demo@example.com" in second.output
    assert "tck_" not in second.output
    assert "added: 0 categories, 0 teams, 0 tags, 0 sample tickets" in second.output
    categories = (await session.scalars(select(Category))).all()
    assert all(category.description for category in categories)
    assert len((await session.scalars(select(Team))).all()) == 5
    tickets = (await session.scalars(select(Ticket))).all()
    assert {ticket.title for ticket in tickets} >= {"Checkout button does nothing", "Dark mode"}
    reporter = await session.scalar(select(User).where(User.email == "reporter@example.com"))
    assert reporter is not None
    assert {ticket.reporter_id for ticket in tickets} == {reporter.id}
    assert (await session.scalars(select(Organization))).all()[0].slug == "acme"
    assert len((await session.scalars(select(User))).all()) == 3
    assert len((await session.scalars(select(ApiKey))).all()) == 1

    roles = dict(
        (
            await session.execute(
                select(User.email, Membership.role).join(Membership, Membership.user_id == User.id)
            )
        ).all()
    )
    assert roles == {
        "demo@example.com": Role.OWNER,
        "agent@example.com": Role.AGENT,
        "reporter@example.com": Role.REPORTER,
    }
    login = await client.post(
        "/v1/auth/login", json={"email": "demo@example.com", "password": DEFAULT_DEMO_PASSWORD}
    )
    assert login.status_code == 200
    # The extension key authenticates but holds no account permissions.
    assert_problem(await client.get("/v1/members", headers={"X-API-Key": key}), 403)


async def test_seed_demo_uses_the_configured_password_and_refuses_production(
    session: AsyncSession, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = "my own demo password"
    result = await _run("seed-demo", env={"TC_DEMO_PASSWORD": chosen})
    assert f"password: {chosen}" in result.output
    login = await client.post(
        "/v1/auth/login", json={"email": "agent@example.com", "password": chosen}
    )
    assert login.status_code == 200

    from ticketcreator import cli
    from ticketcreator.core.config import get_settings

    settings = get_settings()
    production = settings.model_copy(
        update={"app": settings.app.model_copy(update={"environment": "production"})}
    )
    monkeypatch.setattr(cli, "get_settings", lambda: production)
    refused = await _run("seed-demo")
    assert refused.exit_code == 2
    assert "refused in production" in refused.output


async def test_rotate_encryption_keys_reports_counts(session: AsyncSession) -> None:
    from ticketcreator.core.crypto import encrypted_columns
    from ticketcreator.models import metadata

    result = await _run("rotate-encryption-keys")
    assert result.exit_code == 0, result.output
    columns = encrypted_columns(metadata)
    assert f"0 value(s) in {len(columns)} encrypted column(s) now use key 'dev1'" in result.output
