"""Sign-up, login, refresh-token rotation and reuse, logout, password change, access tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts.conftest import PASSWORD, Account, assert_problem, sign_up
from ticketcreator.accounts.models import AuditEntry, AuthSession, User
from ticketcreator.accounts.passwords import hash_password, needs_rehash
from ticketcreator.accounts.tokens import ALGORITHM, issue_access_token
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow

pytestmark = pytest.mark.usefixtures("database")


async def _actions(session: AsyncSession) -> list[str]:
    result = await session.scalars(select(AuditEntry.action).order_by(AuditEntry.created_at))
    return list(result.all())


async def test_signup_creates_the_organization_and_its_owner(client: httpx.AsyncClient) -> None:
    account = await sign_up(client, organization_name="Acme Support!")
    assert account.tokens["token_type"] == "bearer"
    assert account.tokens["expires_in"] == get_settings().security.access_token_ttl_s
    me = (await client.get("/v1/me", headers=account.headers)).json()
    assert me["email"] == account.email
    assert me["role"] == "owner"
    assert me["organization"]["name"] == "Acme Support!"
    assert me["organization"]["slug"] == "acme-support"
    assert "members:manage" in me["permissions"]


async def test_signup_lowercases_the_email_and_derives_a_free_slug(
    client: httpx.AsyncClient,
) -> None:
    first = await sign_up(client, email="Mixed.Case@Example.com", organization_name="Same")
    second = await sign_up(client, organization_name="Same")
    first_org = (await client.get("/v1/me", headers=first.headers)).json()["organization"]
    second_org = (await client.get("/v1/me", headers=second.headers)).json()["organization"]
    assert first_org["slug"] == "same"
    assert second_org["slug"].startswith("same-")
    login = await client.post(
        "/v1/auth/login", json={"email": "mixed.case@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_signup_refuses_a_taken_email_or_slug(client: httpx.AsyncClient) -> None:
    account = await sign_up(client, organization_slug="taken")
    again = await client.post(
        "/v1/auth/signup",
        json={
            "email": account.email.upper(),
            "name": "X",
            "password": PASSWORD,
            "organization_name": "Other",
        },
    )
    assert_problem(again, 409, "email-taken")
    slug = await client.post(
        "/v1/auth/signup",
        json={
            "email": "new@example.com",
            "name": "X",
            "password": PASSWORD,
            "organization_name": "Other",
            "organization_slug": "taken",
        },
    )
    assert_problem(slug, 409, "slug-taken")


async def test_signup_validates_the_password_length(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/signup",
        json={
            "email": "short@example.com",
            "name": "X",
            "password": "short",
            "organization_name": "Org",
        },
    )
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["location"] == "body.password"
    assert "short" not in response.text.replace("body.password", "")


async def test_login_returns_a_token_pair_and_is_audited(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await sign_up(client)
    response = await client.post(
        "/v1/auth/login",
        json={"email": account.email, "password": PASSWORD},
        headers={"User-Agent": "pytest-agent"},
    )
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["organization_id"] == account.organization_id
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    entry = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "login"))).one()
    assert str(entry.actor_user_id) == account.user_id
    assert str(entry.organization_id) == account.organization_id
    assert entry.user_agent == "pytest-agent"
    assert str(entry.ip) == "127.0.0.1"


async def test_wrong_password_is_401_and_the_failure_is_audited(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await sign_up(client)
    response = await client.post(
        "/v1/auth/login", json={"email": account.email, "password": "wrong password!"}
    )
    assert_problem(response, 401, "invalid-credentials")
    unknown = await client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": "wrong password!"}
    )
    assert_problem(unknown, 401, "invalid-credentials")
    assert unknown.json()["detail"] == response.json()["detail"]
    failures = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed"))
    ).all()
    by_reason = {entry.details["reason"]: entry for entry in failures}
    assert str(by_reason["password"].organization_id) == account.organization_id
    assert by_reason["unknown_account"].organization_id is None


async def test_an_inactive_account_cannot_log_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await sign_up(client)
    user = (await session.scalars(select(User).where(User.email == account.email))).one()
    user.is_active = False
    await session.commit()
    response = await client.post(
        "/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    )
    assert_problem(response, 401, "invalid-credentials")


async def test_login_rehashes_an_outdated_password_hash(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from argon2 import PasswordHasher

    account = await sign_up(client)
    user = (await session.scalars(select(User).where(User.email == account.email))).one()
    user.password_hash = PasswordHasher(time_cost=1).hash(PASSWORD)
    await session.commit()
    response = await client.post(
        "/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    await session.refresh(user)
    assert not needs_rehash(user.password_hash)


async def test_login_picks_the_named_organization(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    other = await sign_up(client, organization_slug="second-org")
    invite = await client.post(
        "/v1/invitations", json={"email": owner.email, "role": "agent"}, headers=other.headers
    )
    accepted = await client.post(
        "/v1/invitations/accept", json={"token": invite.json()["token"]}, headers=owner.headers
    )
    assert accepted.status_code == 200
    credentials = {"email": owner.email, "password": PASSWORD}
    default = (await client.post("/v1/auth/login", json=credentials)).json()
    assert default["organization_id"] == owner.organization_id
    by_slug = await client.post(
        "/v1/auth/login", json={**credentials, "organization_slug": "second-org"}
    )
    assert by_slug.json()["organization_id"] == other.organization_id
    by_id = await client.post(
        "/v1/auth/login", json={**credentials, "organization_id": other.organization_id}
    )
    assert by_id.json()["organization_id"] == other.organization_id
    elsewhere = await client.post(
        "/v1/auth/login", json={**credentials, "organization_id": str(uuid.uuid4())}
    )
    assert_problem(elsewhere, 404)


async def test_a_user_without_organizations_is_told_so(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    session.add(
        User(
            email="lonely@example.com",
            name="Lonely",
            password_hash=hash_password(PASSWORD),
            is_active=True,
            password_changed_at=utcnow(),
        )
    )
    await session.commit()
    response = await client.post(
        "/v1/auth/login", json={"email": "lonely@example.com", "password": PASSWORD}
    )
    assert_problem(response, 403, "no-organization")


async def test_refresh_rotates_the_token(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    first = account.tokens["refresh_token"]
    response = await client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["refresh_token"] != first
    assert rotated["access_token"] != account.tokens["access_token"]
    again = await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 200


async def test_reusing_a_spent_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await sign_up(client)
    spent = account.tokens["refresh_token"]
    rotated = (await client.post("/v1/auth/refresh", json={"refresh_token": spent})).json()
    reuse = await client.post("/v1/auth/refresh", json={"refresh_token": spent})
    assert_problem(reuse, 401, "refresh-token-reused")
    # The legitimate holder's newer tokens are dead too: the family is revoked.
    newest = await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert_problem(newest, 401, "invalid-refresh-token")
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert_problem(me, 401)
    login = (await session.scalars(select(AuthSession))).one()
    assert login.revoked_reason == "refresh_token_reused"
    entry = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "refresh_token_reused"))
    ).one()
    assert entry.target_id == str(login.id)
    assert str(entry.organization_id) == account.organization_id


async def test_concurrent_use_of_one_refresh_token_lets_one_through(
    client: httpx.AsyncClient,
) -> None:
    import asyncio

    account = await sign_up(client)
    token = account.tokens["refresh_token"]
    responses = await asyncio.gather(
        *(client.post("/v1/auth/refresh", json={"refresh_token": token}) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses).count(200) <= 1
    assert all(r.status_code in (200, 401) for r in responses)


async def test_unknown_or_expired_refresh_tokens_are_rejected(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    unknown = await client.post("/v1/auth/refresh", json={"refresh_token": "tcr_nothing"})
    assert_problem(unknown, 401, "invalid-refresh-token")
    account = await sign_up(client)
    login = (await session.scalars(select(AuthSession))).one()
    login.expires_at = utcnow() - timedelta(seconds=1)
    await session.commit()
    expired = await client.post(
        "/v1/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}
    )
    assert_problem(expired, 401, "invalid-refresh-token")


async def test_refresh_stops_once_the_member_was_removed(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    invite = await client.post(
        "/v1/invitations", json={"email": "leaver@example.com"}, headers=owner.headers
    )
    joined = await client.post(
        "/v1/invitations/accept",
        json={"token": invite.json()["token"], "name": "Leaver", "password": PASSWORD},
    )
    leaver = joined.json()
    removed = await client.delete(f"/v1/members/{leaver['user_id']}", headers=owner.headers)
    assert removed.status_code == 204
    response = await client.post(
        "/v1/auth/refresh", json={"refresh_token": leaver["refresh_token"]}
    )
    assert_problem(response, 401, "invalid-refresh-token")


async def test_logout_revokes_the_session(client: httpx.AsyncClient, session: AsyncSession) -> None:
    account = await sign_up(client)
    response = await client.post("/v1/auth/logout", headers=account.headers)
    assert response.status_code == 204
    assert_problem(await client.get("/v1/me", headers=account.headers), 401)
    refresh = await client.post(
        "/v1/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}
    )
    assert_problem(refresh, 401, "invalid-refresh-token")
    assert "logout" in await _actions(session)


async def test_password_change_revokes_the_other_sessions(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await sign_up(client)
    other = (
        await client.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    ).json()
    new_password = "an even longer new password"
    response = await client.post(
        "/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=account.headers,
    )
    assert response.status_code == 204
    assert (await client.get("/v1/me", headers=account.headers)).status_code == 200
    other_headers = {"Authorization": f"Bearer {other['access_token']}"}
    assert_problem(await client.get("/v1/me", headers=other_headers), 401)
    old = await client.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_problem(old, 401, "invalid-credentials")
    new = await client.post(
        "/v1/auth/login", json={"email": account.email, "password": new_password}
    )
    assert new.status_code == 200
    entry = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "password_changed"))
    ).one()
    assert entry.details == {"sessions_revoked": 1}


async def test_password_change_needs_the_current_password(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    response = await client.post(
        "/v1/auth/password",
        json={"current_password": "not my password", "new_password": "whatever long enough"},
        headers=account.headers,
    )
    assert_problem(response, 403, "wrong-password")
    too_short = await client.post(
        "/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=account.headers,
    )
    assert_problem(too_short, 422)


def _claims(account: Account, **changes: object) -> dict[str, object]:
    cfg = get_settings().security
    now = int(utcnow().timestamp())
    claims: dict[str, object] = {
        "iss": cfg.jwt_issuer,
        "aud": cfg.jwt_audience,
        "sub": account.user_id,
        "org": account.organization_id,
        "sid": jwt.decode(account.tokens["access_token"], options={"verify_signature": False})[
            "sid"
        ],
        "iat": now,
        "exp": now + 60,
    }
    claims.update(changes)
    return claims


def _sign(claims: dict[str, object], kid: str = "dev1", key: str | None = None) -> str:
    secret = key or get_settings().security.jwt_signing_keys["dev1"].get_secret_value()
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid})


async def test_a_hand_made_token_with_valid_claims_is_accepted(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    token = _sign(_claims(account))
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("expired", "expired"),
        ("tampered", "invalid"),
        ("unknown kid", "known key"),
        ("wrong key", "invalid"),
        ("wrong audience", "invalid"),
        ("wrong issuer", "invalid"),
        ("missing session", "invalid"),
        ("garbage", "malformed"),
        ("not a uuid", "invalid"),
    ],
)
async def test_bad_access_tokens_get_401_problem_json(
    client: httpx.AsyncClient, case: str, detail: str
) -> None:
    account = await sign_up(client)
    now = int(utcnow().timestamp())
    token = {
        "expired": lambda: _sign(_claims(account, iat=now - 120, exp=now - 60)),
        "tampered": lambda: _flip(account.tokens["access_token"]),
        "unknown kid": lambda: _sign(_claims(account), kid="nope"),
        "wrong key": lambda: _sign(_claims(account), key="another-key-of-at-least-32-chars!!"),
        "wrong audience": lambda: _sign(_claims(account, aud="someone-else")),
        "wrong issuer": lambda: _sign(_claims(account, iss="evil")),
        "missing session": lambda: _sign({k: v for k, v in _claims(account).items() if k != "sid"}),
        "garbage": lambda: "not.a.jwt",
        "not a uuid": lambda: _sign(_claims(account, sub="user-1")),
    }[case]()
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    problem = assert_problem(response, 401, "unauthorized")
    assert detail in problem["detail"]
    assert "WWW-Authenticate" in response.headers


def _flip(token: str) -> str:
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    swapped = "A" if payload[middle] != "A" else "B"
    return ".".join([header, payload[:middle] + swapped + payload[middle + 1 :], signature])


async def test_a_token_for_a_session_that_does_not_exist_is_rejected(
    client: httpx.AsyncClient,
) -> None:
    account = await sign_up(client)
    token, _ = issue_access_token(
        uuid.UUID(account.user_id), uuid.UUID(account.organization_id), uuid.uuid4()
    )
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401)


async def test_no_credentials_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/me")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_refresh_stops_once_the_account_is_deactivated(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await sign_up(client)
    user = (await session.scalars(select(User).where(User.email == account.email))).one()
    user.is_active = False
    await session.commit()
    response = await client.post(
        "/v1/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}
    )
    problem = assert_problem(response, 401, "invalid-refresh-token")
    assert "no longer exists" in problem["detail"]
