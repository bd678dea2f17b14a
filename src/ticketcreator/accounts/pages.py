"""The page an invitation e-mail links to: a form that accepts the invitation.

Opening the link changes nothing (mail scanners follow links); the invitee's click POSTs the
token to ``/v1/invitations/accept``. The page is static: the token is read by its script
from the address (the ``#token=`` fragment, which no server or proxy log sees; ``?token=`` from
older links) and removed from it, never written into the HTML. Its Content Security
Policy allows exactly its own inline style and script (by hash) and requests to this API.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files
from typing import Final

_PAGE: Final = "accept_invitation.html"


def _digest(source: str) -> str:
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    return f"'sha256-{digest}'"


@cache
def accept_invitation_page() -> tuple[str, dict[str, str]]:
    """The page's HTML and the response headers it must be served with."""
    html = files("ticketcreator.accounts").joinpath(_PAGE).read_text(encoding="utf-8")
    [style] = re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL)
    [script] = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    policy = "; ".join(
        (
            "default-src 'none'",
            f"style-src {_digest(style)}",
            f"script-src {_digest(script)}",
            "connect-src 'self'",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )
    headers = {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    return html, headers
