"""An upload's request body, read without a database connection: the request's work so far is
committed and its connection goes back to the pool, so slow clients cannot take the pool; each
caller has a cap on uploads in flight, and a body that stalls between chunks is stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core import concurrency
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import release_connection
from ticketcreator.uploads.errors import BodyTimeout


@asynccontextmanager
async def receiving(
    session: AsyncSession, principal: Principal, body: AsyncIterator[bytes]
) -> AsyncIterator[AsyncGenerator[bytes]]:
    """The body of an upload, to be read inside the block without a database connection.

    The request's work so far (authorization, checks) is committed and its connection goes
    back to the pool; the caller holds one of its ``max_concurrent_per_principal`` upload
    slots (else 429); a body that sends nothing for ``body_read_timeout_s`` ends in 408.
    """
    cfg = get_settings().uploads
    await release_connection(session)
    async with concurrency.slot(
        f"uploads:{principal.rate_key}",
        cfg.max_concurrent_per_principal,
        lease_s=3 * cfg.body_read_timeout_s,
        detail=f"At most {cfg.max_concurrent_per_principal} uploads at once per user or API "
        "key; try again when one has finished.",
    ) as held:
        yield _paced(body, cfg.body_read_timeout_s, held)


async def _paced(
    body: AsyncIterator[bytes], timeout_s: float, held: concurrency.Slot | None
) -> AsyncGenerator[bytes]:
    chunks = aiter(body)
    while True:
        try:
            chunk = await asyncio.wait_for(anext(chunks), timeout_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTimeout(
                f"Nothing arrived for {timeout_s:g} s; the request was stopped. Resume the upload."
            ) from None
        if held is not None:
            await held.renew()
        yield chunk
