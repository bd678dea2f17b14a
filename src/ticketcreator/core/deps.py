"""FastAPI dependencies and parameters shared by the route modules of every domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import get_session


def public() -> None:
    """Route dependency that declares a route open to anonymous callers."""


Session = Annotated[AsyncSession, Depends(get_session)]
"""The request's database session, committed by :class:`~ticketcreator.core.db.UnitOfWorkRoute`."""

TicketRef = Annotated[
    str, Path(max_length=40, description="Ticket id, `T-<number>` or `<number>`.")
]
"""A ticket in a path: its id, ``T-<number>`` or the bare number."""
