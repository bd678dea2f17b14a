"""Access tokens (JWT, HS256 with key ids) and opaque secrets (refresh tokens, API keys).

Access tokens are short-lived and carry the session id (``sid``), so revoking a session ends
its access tokens at once. Opaque secrets are random; only their SHA-256 is stored, which is
enough for high-entropy values and lets lookups use an index.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import Unauthorized

ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


def issue_access_token(
    user_id: uuid.UUID, organization_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[str, datetime]:
    cfg = get_settings().security
    now = utcnow()
    expires_at = now + timedelta(seconds=cfg.access_token_ttl_s)
    claims = {
        "iss": cfg.jwt_issuer,
        "aud": cfg.jwt_audience,
        "sub": str(user_id),
        "org": str(organization_id),
        "sid": str(session_id),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    key = cfg.jwt_signing_keys[cfg.jwt_active_kid].get_secret_value()
    token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": cfg.jwt_active_kid})
    return token, expires_at


def _invalid(reason: str) -> Unauthorized:
    return Unauthorized(reason, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def decode_access_token(token: str) -> AccessClaims:
    """Verify signature, key id, issuer, audience and lifetime; 401 on any failure."""
    cfg = get_settings().security
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _invalid("The access token is malformed.") from None
    kid = header.get("kid")
    key = cfg.jwt_signing_keys.get(kid) if isinstance(kid, str) else None
    if key is None or header.get("alg") != ALGORITHM:
        raise _invalid("The access token was not signed by a known key.")
    try:
        claims = jwt.decode(
            token,
            key.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=cfg.jwt_audience,
            issuer=cfg.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "sid", "org", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise _invalid("The access token has expired.") from None
    except jwt.PyJWTError:
        raise _invalid("The access token is invalid.") from None
    try:
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            organization_id=uuid.UUID(claims["org"]),
            session_id=uuid.UUID(claims["sid"]),
            expires_at=datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
        )
    except (ValueError, TypeError):
        raise _invalid("The access token is invalid.") from None


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """A random URL-safe secret with a recognisable prefix (helps secret scanners)."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_hash(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
