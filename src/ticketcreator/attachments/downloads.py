"""Serving stored files over HTTP: single byte ranges (so browsers can seek in recordings),
conditional requests, and safe ``Content-Disposition``/``Content-Type`` headers."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Response
from fastapi.responses import StreamingResponse

from ticketcreator.attachments.service import StoredFile
from ticketcreator.core.errors import NotFound, RangeNotSatisfiable
from ticketcreator.storage import ObjectNotFound, Storage
from ticketcreator.storage.content import content_disposition

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
INLINE_PREFIXES = ("image/", "video/", "audio/")

BINARY = {"schema": {"type": "string", "format": "binary"}}
RANGE_HEADERS = {
    "Accept-Ranges": {"schema": {"type": "string"}, "description": "Always `bytes`."},
    "ETag": {"schema": {"type": "string"}, "description": "Strong validator of the file."},
    "Content-Disposition": {
        "schema": {"type": "string"},
        "description": "`inline` or `attachment`, with the file name (RFC 6266).",
    },
}
DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file.", "content": {"*/*": BINARY}, "headers": RANGE_HEADERS},
    206: {
        "description": "The requested byte range (`Content-Range` says which).",
        "content": {"*/*": BINARY},
        "headers": {
            **RANGE_HEADERS,
            "Content-Range": {"schema": {"type": "string"}, "description": "`bytes a-b/size`"},
        },
    },
    304: {"description": "Not modified (`If-None-Match` matched the ETag)."},
}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range asked for, None for the whole file; 416 if unsatisfiable.

    Several ranges, or a malformed header, are ignored (the whole file is sent), as HTTP
    allows; one range is what video players ask for.
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    start = int(match[1])
    end = int(match[2]) if match[2] else size - 1
    if match[2] and end < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(end, size - 1)


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"The file has {size} bytes.", headers={"Content-Range": f"bytes */{size}"}
    )


async def serve(
    storage: Storage,
    stored: StoredFile,
    *,
    range_header: str | None,
    if_range: str | None,
    if_none_match: str | None,
    download: bool | None,
) -> Response:
    inline = stored.content_type.startswith(INLINE_PREFIXES) if download is None else not download
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": stored.etag,
        "Cache-Control": "private, max-age=3600",
        "Content-Disposition": content_disposition(stored.filename, inline=inline),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
    }
    if if_none_match is not None and stored.etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    byte_range = parse_range(range_header, stored.size)
    if byte_range is not None and if_range is not None and if_range.strip() != stored.etag:
        byte_range = None
    start, end = byte_range or (0, stored.size - 1)
    try:
        body = await storage.open_range(stored.key, start, end) if stored.size else None
    except ObjectNotFound:
        raise NotFound("The file is no longer stored.") from None
    headers["Content-Length"] = str(end - start + 1 if stored.size else 0)
    status = 200
    if byte_range is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    if body is None:
        return Response(status_code=status, headers=headers, media_type=stored.content_type)
    return StreamingResponse(
        body, status_code=status, headers=headers, media_type=stored.content_type
    )
