"""Opaque pagination cursors: URL-safe base64 of a small JSON object.

Lists ordered by time read and write their position with :func:`encode_position` and
:func:`decode_position` (a timestamp and the row id that breaks ties); other orders put what
they need in the object. A cursor that does not decode is :class:`InvalidCursor` (422).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from ticketcreator.core.errors import UnprocessableEntity

_NOT_OURS = "The cursor is not one this API issued."


class InvalidCursor(UnprocessableEntity):
    slug = "invalid-cursor"
    title = "The pagination cursor is invalid"


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor(_NOT_OURS) from exc
    if not isinstance(position, dict):
        raise InvalidCursor(_NOT_OURS)
    return position


def encode_position(at: datetime, id_: uuid.UUID) -> str:
    """The cursor after the row created at ``at`` with id ``id_``."""
    return encode_cursor({"t": at.isoformat(), "i": str(id_)})


def decode_position(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (time, id) a cursor of :func:`encode_position` points after; None for no cursor."""
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    try:
        return datetime.fromisoformat(position["t"]), uuid.UUID(position["i"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor(_NOT_OURS) from exc
