"""Short-lived signed download links, for embedding in notifications and integrations.

A link names the attachment, the variant (``original`` or a derivative), its expiry and the
key id; the signature is HMAC-SHA256 over those, with a key derived from the
``security.jwt_signing_keys`` entry of that id (a separate, purpose-bound derivation, so a
link signature can never be mistaken for a token signature). Rotating the signing keys
therefore rotates link keys too, and links signed with a retired key stop working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from ticketcreator.core.config import get_settings

_PURPOSE = b"ticketcreator/signed-download/v1"


def _key(kid: str) -> bytes | None:
    secret = get_settings().security.jwt_signing_keys.get(kid)
    if secret is None:
        return None
    return hmac.new(secret.get_secret_value().encode(), _PURPOSE, hashlib.sha256).digest()


def _message(attachment_id: uuid.UUID, variant: str, expires: int, download: bool) -> bytes:
    return f"{attachment_id}:{variant}:{expires}:{int(download)}".encode()


def sign(attachment_id: uuid.UUID, variant: str, expires: int, download: bool) -> tuple[str, str]:
    """``(kid, signature)`` for a link valid until the Unix time ``expires``."""
    kid = get_settings().security.jwt_active_kid
    key = _key(kid)
    assert key is not None
    mac = hmac.new(key, _message(attachment_id, variant, expires, download), hashlib.sha256)
    return kid, base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def verify(
    attachment_id: uuid.UUID, variant: str, expires: int, download: bool, kid: str, signature: str
) -> bool:
    key = _key(kid)
    if key is None:
        return False
    mac = hmac.new(key, _message(attachment_id, variant, expires, download), hashlib.sha256)
    expected = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    return hmac.compare_digest(expected, signature)
