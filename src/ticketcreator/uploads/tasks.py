"""Worker side of uploads: removing abandoned uploads (beat, ``default`` queue)."""

from __future__ import annotations

from ticketcreator.core.db import commit, session_factory
from ticketcreator.core.tasks import celery_app, run_async
from ticketcreator.uploads import service


async def _expire() -> int:
    async with session_factory()() as session:
        removed = await service.expire(session)
        await commit(session)
    return removed


@celery_app.task(name="uploads.expire")  # type: ignore[untyped-decorator]
def expire_uploads() -> int:
    """Remove uploads past their expiry, with the bytes of unfinished ones."""
    return run_async(_expire())
