"""Stripping credentials from what the browser recorded, before anything is stored.

A network log copied from the browser carries the reporter's session: ``Authorization`` and
``Cookie`` headers, tokens in query strings (OAuth ``code``, signed-URL ``sig``), passwords
and tokens in JSON or form bodies. Agents need none of them to fix a bug and a leaked ticket
must not leak a session, so each value is replaced by :data:`REDACTED` and only the number of
removals is kept. Personal data (names, emails) is left for agents; it is redacted later,
before text goes to a cloud AI provider (``ticketcreator.privacy``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ticketcreator.core.redact import REDACTED, redact_text

_SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
    }
)
_SECRET_NAMES = frozenset(
    {"auth", "authorization", "pwd", "jwt", "otp", "pin", "cvv", "cvc", "sid"}
)
# In URLs short names carry credentials too: OAuth's ``code``, signed links' ``sig``, ``key``.
# In bodies they are ordinary data (``"code": "PAY-502"``) and are kept.
_QUERY_NAMES = frozenset({"code", "sig", "key", "x-amz-credential"})
# Names that contain one of these words are secret too: ``X-Session-Token``, ``userPassword``.
_SECRET_WORDS = re.compile(
    r"token|secret|passw|api[-_]?key|auth(?!or)|credential|private[-_]?key|session"
    r"|cookie|signature",
    re.IGNORECASE,
)
_JSON_TYPES = re.compile(r"[/+]json\b", re.IGNORECASE)
_FORM_TYPE = "application/x-www-form-urlencoded"


def is_secret_name(name: str, place: str = "body") -> bool:
    """Whether a header, parameter or field of that name holds a credential."""
    lowered = name.strip().lower()
    if place == "query" and lowered in _QUERY_NAMES:
        return True
    return lowered in _SECRET_NAMES or bool(_SECRET_WORDS.search(lowered))


class Sanitizer:
    """Strips secrets from one capture, counting what it removed by place."""

    def __init__(self) -> None:
        self.removed: Counter[str] = Counter()

    def counts(self) -> dict[str, int]:
        return dict(sorted(self.removed.items()))

    def text(self, value: str) -> str:
        """Credentials written into prose or logs: ``Bearer x``, JWTs, ``token=x``."""
        value, found = redact_text(value)
        self.removed["text"] += found
        return value

    def url(self, value: str) -> str:
        """The URL with secret query parameter values replaced (and credentials dropped)."""
        try:
            parts = urlsplit(value)
        except ValueError:
            return self.text(value)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = netloc.rsplit("@", 1)[1]
            self.removed["url"] += 1
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            cleaned = [(name, self._param(name, val, "query")) for name, val in pairs]
            if cleaned != pairs:
                query = urlencode(cleaned, safe="[]")
        fragment = self.text(parts.fragment) if parts.fragment else parts.fragment
        return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))

    def headers(self, headers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cleaned = []
        for header in headers:
            name = str(header.get("name", ""))
            if name.lower() in _SECRET_HEADERS or is_secret_name(name, "headers"):
                self.removed["headers"] += 1
                header = {**header, "value": REDACTED}
            cleaned.append(header)
        return cleaned

    def params(self, params: list[dict[str, Any]], place: str) -> list[dict[str, Any]]:
        return [
            {**param, "value": self._param(str(param.get("name", "")), param.get("value"), place)}
            for param in params
        ]

    def body(self, text: str, mime_type: str | None) -> str:
        """A request or response body: JSON fields and form values by name, else free text."""
        mime = (mime_type or "").lower()
        stripped = text.lstrip()
        if _JSON_TYPES.search(mime) or stripped[:1] in ("{", "["):
            try:
                document = json.loads(text)
            except ValueError:
                return self.text(text)
            return json.dumps(self._json(document), ensure_ascii=False)
        if mime.startswith(_FORM_TYPE):
            pairs = parse_qsl(text, keep_blank_values=True)
            return urlencode([(name, self._param(name, val, "body")) for name, val in pairs])
        return self.text(text)

    def _param(self, name: str, value: Any, place: str) -> Any:
        if is_secret_name(name, place) and value not in (None, "", REDACTED):
            self.removed[place] += 1
            return REDACTED
        return value

    def _json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: self._param(key, item, "body")
                if is_secret_name(key) and not isinstance(item, dict | list)
                else self._json(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._json(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def sanitize_network(sanitizer: Sanitizer, log: dict[str, Any]) -> dict[str, Any]:
    """A HAR log (as validated by the schema) with every secret replaced."""
    entries = []
    for entry in log.get("entries", []):
        request = dict(entry["request"])
        request["url"] = sanitizer.url(request["url"])
        request["headers"] = sanitizer.headers(request.get("headers", []))
        request["queryString"] = sanitizer.params(request.get("queryString", []), "query")
        post = request.get("postData")
        if post is not None:
            post = dict(post)
            if post.get("text") is not None:
                post["text"] = sanitizer.body(post["text"], post.get("mimeType"))
            post["params"] = sanitizer.params(post.get("params", []), "body")
            request["postData"] = post
        response = dict(entry["response"])
        response["headers"] = sanitizer.headers(response.get("headers", []))
        if response.get("redirectURL"):
            response["redirectURL"] = sanitizer.url(response["redirectURL"])
        content = response.get("content")
        if content is not None and content.get("text") is not None:
            response["content"] = {
                **content,
                "text": sanitizer.body(content["text"], content.get("mimeType")),
            }
        entries.append({**entry, "request": request, "response": response})
    return {**log, "entries": entries}
