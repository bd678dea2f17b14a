"""Text PostgreSQL can store, checked once for every request instead of per schema.

PostgreSQL refuses NUL characters in ``text`` and ``\\u0000`` in ``jsonb``, and a lone UTF-16
surrogate cannot be encoded as UTF-8 at all; either, reaching the database, fails the
statement and the request ends in a 500. JSON escapes (``"\\u0000"``, ``"\\ud800"``) let a
client send both. :func:`reject_unstorable_text` runs in ``core.db.UnitOfWorkRoute`` before
the handler and checks every string of the request that reaches a handler: path and
query parameters and, for routes with a JSON body, every key and value of the parsed body
(free-form objects included). The answer is the usual 422 validation problem naming each
offending field, so new routes and new fields are covered without touching their schemas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
ERROR_TYPE = "string_unstorable"
MESSAGE = "Text must not contain NUL characters or unpaired surrogates."

Location = tuple[str | int, ...]


def is_storable(text: str) -> bool:
    """True when PostgreSQL can store ``text`` (no NUL, no unpaired surrogate)."""
    return _UNSTORABLE.search(text) is None


def unstorable_locations(value: Any, location: Location) -> Iterator[Location]:
    """Where in a parsed JSON value (objects' keys included) unstorable text occurs."""
    if isinstance(value, str):
        if not is_storable(value):
            yield location
    elif isinstance(value, dict):
        for key, item in value.items():
            if not is_storable(key):
                key = key.encode("unicode_escape").decode("ascii")  # named, not echoed
                yield (*location, key)
            yield from unstorable_locations(item, (*location, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_locations(item, (*location, index))


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return not media_type or media_type == "application/json" or media_type.endswith("+json")


async def reject_unstorable_text(request: Request, *, json_body: bool) -> None:
    """Raise a 422 validation error naming every parameter or body field with such text."""
    locations: list[Location] = [
        ("path", name)
        for name, value in request.path_params.items()
        if isinstance(value, str) and not is_storable(value)
    ]
    locations += [
        ("query", name)
        for name, value in request.query_params.multi_items()
        if not (is_storable(name) and is_storable(value))
    ]
    if json_body and _is_json(request.headers.get("content-type")) and await request.body():
        try:
            # Parsed once: the handler reuses the request's cached JSON.
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None  # the handler reports malformed JSON
        locations += unstorable_locations(body, ("body",))
    if locations:
        raise RequestValidationError(
            [{"type": ERROR_TYPE, "loc": location, "msg": MESSAGE} for location in locations]
        )
