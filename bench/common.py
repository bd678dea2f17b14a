"""What the benchmarks share: a fresh, migrated database with one member, and the API's
settings as in production."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from ticketcreator.accounts.permissions import Role


def production_settings(database_url: str) -> dict[str, str]:
    """The environment of an API run as in production, for the request-path benchmarks: rate
    limits on with a budget no run reaches, JSON logs at INFO, Redis databases 5 (cache) and
    6 (broker)."""
    return {
        "TC_APP__ENVIRONMENT": "development",
        "TC_DATABASE__URL": database_url,
        "TC_REDIS__URL": "redis://127.0.0.1:6379/5",
        "TC_CELERY__BROKER_URL": "redis://127.0.0.1:6379/6",
        "TC_RATE_LIMITS__ENABLED": "true",
        "TC_RATE_LIMITS__REQUESTS_PER_PRINCIPAL": "100000000",
        "TC_LOGGING__LEVEL": "INFO",
        "TC_LOGGING__JSON_FORMAT": "true",
    }


async def fresh_database(url: str, role: Role) -> tuple[str, uuid.UUID]:
    """Recreate and migrate the database at ``url``, add an organization and a member with
    ``role``; returns the member's access token and the organization id."""
    import asyncpg  # type: ignore[import-untyped]
    from alembic import command

    from ticketcreator.cli import alembic_config

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    base, _, name = dsn.rpartition("/")
    admin = await asyncpg.connect(base + "/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")

    from ticketcreator.accounts.models import AuthSession, Membership, Organization, User
    from ticketcreator.accounts.tokens import issue_access_token
    from ticketcreator.core.db import dispose_engine, session_factory, utcnow

    async with session_factory()() as session:
        org = Organization(name="Bench", slug="bench", settings={})
        user = User(email="bench@example.com", name="Bench", password_hash="-", is_active=True)
        session.add_all([org, user])
        await session.flush()
        session.add(Membership(organization_id=org.id, user_id=user.id, role=role))
        login = AuthSession(
            user_id=user.id, organization_id=org.id, expires_at=utcnow() + timedelta(days=1)
        )
        session.add(login)
        await session.flush()
        token, _ = issue_access_token(user.id, org.id, login.id)
        await session.commit()
    await dispose_engine()
    return token, org.id
