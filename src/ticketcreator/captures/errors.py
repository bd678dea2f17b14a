"""Errors of the captures API, each with a stable problem type."""

from __future__ import annotations

from ticketcreator.core.errors import UnprocessableEntity


class InvalidCaptureMedia(UnprocessableEntity):
    slug = "invalid-capture-media"
    title = "The capture's attachments cannot be used"
