"""Errors specific to resumable uploads (tus)."""

from __future__ import annotations

from ticketcreator.core.errors import AppError


class ChecksumMismatch(AppError):
    """tus checksum extension: the chunk's ``Upload-Checksum`` did not match its bytes."""

    status = 460
    slug = "checksum-mismatch"
    title = "Checksum mismatch"


class UploadLocked(AppError):
    """Another request is still writing to the upload; retry after it has finished."""

    status = 423
    slug = "upload-locked"
    title = "Upload is busy"


class LengthRequired(AppError):
    """The single-request upload needs ``Content-Length`` to refuse oversized files early."""

    status = 411
    slug = "length-required"
    title = "Content-Length required"


class BodyTimeout(AppError):
    """The client stopped sending the request body (``uploads.body_read_timeout_s``)."""

    status = 408
    slug = "body-timeout"
    title = "Request body timed out"
