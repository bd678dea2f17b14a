"""Exceptions of media processing, so the task layer can mark an attachment ``failed``
with a reason a person understands instead of a stack trace."""

from __future__ import annotations


class MediaError(Exception):
    """Base class: the attachment cannot be processed; ``str(error)`` is the reason."""


class CorruptMediaError(MediaError):
    """The file claims a known format but cannot be read (truncated upload, bad bytes)."""


class UnsupportedMediaError(MediaError):
    """The file is readable but not something this stage can handle (e.g. no video stream)."""
