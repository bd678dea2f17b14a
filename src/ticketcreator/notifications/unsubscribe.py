"""Unsubscribe links: a token that names the member and is signed, so that anyone holding
the e-mail can turn e-mail off for that member in one click, without signing in.

The token does not expire (old e-mails keep working, as RFC 8058 expects) but carries the
version of the member's links (:func:`ticketcreator.notifications.preferences.revoke_links`
raises it). It is signed with a key derived from each configured encryption key, so rotating
those keys keeps the links of the keys still configured valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from ticketcreator.core.config import get_settings

_CONTEXT = b"ticketcreator unsubscribe v1\x00"


@dataclass(frozen=True)
class Unsubscribe:
    organization_id: uuid.UUID
    user_id: uuid.UUID
    version: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, body: bytes) -> bytes:
    derived = hashlib.sha256(_CONTEXT + key.encode()).digest()
    return hmac.new(derived, body, hashlib.sha256).digest()[:16]


def _keys() -> dict[str, str]:
    security = get_settings().security
    return {kid: key.get_secret_value() for kid, key in security.encryption_keys.items()}


def token(organization_id: uuid.UUID, user_id: uuid.UUID, version: int) -> str:
    kid = get_settings().security.encryption_active_kid
    body = organization_id.bytes + user_id.bytes + version.to_bytes(4, "big")
    return f"{kid}.{_b64(body)}.{_b64(_mac(_keys()[kid], body))}"


def read(value: str) -> Unsubscribe | None:
    """What a token says, or None when it is malformed or its signature does not verify."""
    try:
        kid, body_text, mac_text = value.split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, binascii.Error):
        return None
    key = _keys().get(kid)
    if key is None or len(body) != 36 or not hmac.compare_digest(mac, _mac(key, body)):
        return None
    return Unsubscribe(
        organization_id=uuid.UUID(bytes=body[:16]),
        user_id=uuid.UUID(bytes=body[16:32]),
        version=int.from_bytes(body[32:], "big"),
    )
