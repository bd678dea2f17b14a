"""Credentials written into free text: bearer tokens, JWTs and ``name=value`` secrets
(``"name": "value"`` too).

Shared by what the browser recorded (captures) and by every log line: a request's access line
carries its query string, and with it signed-link signatures and invitation tokens.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"
# A JSON Web Token: base64url header (always `{"...`, hence `eyJ`), payload, signature (empty
# for unsigned tokens).
JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")

_TEXT_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic|apikey)\s+[A-Za-z0-9._~+/=-]{8,}"),
    JWT,
    re.compile(
        r"(?i)\b((?:access_|refresh_|id_)?token|api_?key|password|passwd|secret|client_secret"
        r"|sig|signature|session_?id)\b([\"']?\s*[=:]\s*[\"']?)([^\s\"'&,;}]+)"
    ),
)


def _replacement(match: re.Match[str]) -> str:
    if match.lastindex == 3:
        return f"{match.group(1)}{match.group(2)}{REDACTED}"
    if match.lastindex == 1:
        return f"{match.group(1)} {REDACTED}"
    return REDACTED


def redact_text(value: str) -> tuple[str, int]:
    """``value`` with each credential replaced by :data:`REDACTED`, and how many were."""
    if (
        " " not in value
        and "=" not in value
        and ":" not in value
        and "eyJ" not in value
        and value.isprintable()  # no other white space
    ):
        # Every pattern needs one of these (a space, `=` or `:`, a JWT's start): the fields of
        # an access line (method, path, client) skip the three passes.
        return value, 0
    removed = 0
    for pattern in _TEXT_PATTERNS:
        value, found = pattern.subn(_replacement, value)
        removed += found
    return value, removed
