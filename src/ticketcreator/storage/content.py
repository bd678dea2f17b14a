"""HTTP header values for serving stored files."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote


def content_disposition(filename: str, *, inline: bool) -> str:
    """An RFC 6266 ``Content-Disposition`` with an ASCII fallback and the UTF-8 name."""
    disposition = "inline" if inline else "attachment"
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(c if c.isprintable() and c not in '"\\;' else "_" for c in ascii_name)
    ascii_name = ascii_name.strip() or "download"
    encoded = quote(filename, safe="")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"
