"""Object storage for uploaded files and their derived media, behind one interface.

The backend comes from ``storage.backend``: ``local`` (a directory, the default) or ``s3``
(any S3-compatible service). Callers use :func:`get_storage` and the :class:`Storage`
protocol only; nothing outside this package knows which backend is in use.
"""

from __future__ import annotations

from functools import lru_cache

from ticketcreator.core.config import get_settings
from ticketcreator.storage.base import (
    ByteStream,
    InvalidKey,
    ObjectNotFound,
    Storage,
    StoredObject,
)
from ticketcreator.storage.local import LocalStorage
from ticketcreator.storage.s3 import S3Storage


@lru_cache(maxsize=1)
def get_storage() -> Storage:
    """The process-wide storage backend chosen by the settings."""
    cfg = get_settings().storage
    if cfg.backend == "s3":
        return S3Storage.from_settings(cfg)
    return LocalStorage(cfg.local_root, buffer_size=cfg.io_buffer_size)


__all__ = [
    "ByteStream",
    "InvalidKey",
    "LocalStorage",
    "ObjectNotFound",
    "S3Storage",
    "Storage",
    "StoredObject",
    "get_storage",
]
