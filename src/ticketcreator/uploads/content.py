"""What a file is, decided from its first bytes, and whether an organization accepts it.

The type a client declares (file name, ``Content-Type``, tus ``filetype``) is only a claim:
the bytes are identified with ``filetype`` (magic numbers), and text that has no magic
number is recognised as plain text, JSON or a HAR network log. A declared type that
contradicts the bytes, or a type the organization does not accept, is refused with 415.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

import filetype

from ticketcreator.attachments.models import TEXT_TYPES
from ticketcreator.core.config import get_settings
from ticketcreator.core.errors import UnsupportedMediaType

SNIFF_SIZE = 8192
"""Bytes read from the start of a file to identify it (filetype needs 261; text needs more)."""

OCTET_STREAM = "application/octet-stream"

_ALIASES = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/m4a": "audio/mp4",
    "audio/x-m4a": "audio/mp4",
    "video/x-m4v": "video/mp4",
    "text/json": "application/json",
    "application/x-har+json": "application/har+json",
}

# Types that share one container format: the bytes cannot tell them apart, the client can
# (an audio-only MediaRecorder file is still a WebM/Matroska file).
_FAMILIES: list[frozenset[str]] = [
    frozenset({"video/webm", "audio/webm", "video/x-matroska"}),
    frozenset({"video/mp4", "audio/mp4"}),
    frozenset({"audio/ogg", "video/ogg", "application/ogg", "audio/opus"}),
    TEXT_TYPES,
]

_HAR = re.compile(rb'^\s*\{\s*"log"\s*:\s*\{')
_JSON = re.compile(rb"^\s*[\[{]")


def normalize(content_type: str | None) -> str | None:
    """``Video/WebM; codecs=vp9`` -> ``video/webm``; aliases to their canonical name."""
    if not content_type:
        return None
    base = content_type.split(";", 1)[0].strip().lower()
    if not base or base == OCTET_STREAM:
        return None
    return _ALIASES.get(base, base)


def detect(head: bytes) -> str:
    """The content type of a file starting with ``head`` (up to :data:`SNIFF_SIZE` bytes)."""
    kind = filetype.guess(head)
    if kind is not None:
        return normalize(str(kind.mime)) or OCTET_STREAM
    if b"\x00" in head:
        return OCTET_STREAM
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return OCTET_STREAM
    if _HAR.match(head):
        return "application/har+json"
    if _JSON.match(head):
        return "application/json"
    return "text/plain"


def _family(content_type: str) -> frozenset[str] | None:
    return next((family for family in _FAMILIES if content_type in family), None)


@dataclass(frozen=True)
class UploadPolicy:
    """An organization's upload limits: the defaults, narrowed by its settings."""

    max_upload_size: int
    max_request_size: int
    allowed_types: frozenset[str]
    max_recording_s: int

    @classmethod
    def for_organization(cls, org_settings: dict[str, Any]) -> UploadPolicy:
        """Defaults from ``uploads.*``; ``organization.settings["uploads"]`` may lower them."""
        cfg = get_settings().uploads
        own = org_settings.get("uploads") or {}
        allowed = frozenset(filter(None, (normalize(t) for t in cfg.allowed_types)))
        if own.get("allowed_types") is not None:
            allowed &= frozenset(filter(None, (normalize(t) for t in own["allowed_types"])))
        return cls(
            max_upload_size=min(int(own.get("max_size", cfg.max_upload_size)), cfg.max_upload_size),
            max_request_size=min(
                int(own.get("max_size", cfg.max_request_size)), cfg.max_request_size
            ),
            allowed_types=allowed,
            max_recording_s=min(
                int(own.get("max_recording_s", cfg.max_recording_s)), cfg.max_recording_s
            ),
        )

    def check_declared(self, declared: str | None) -> None:
        """Refuse early (before any byte is stored) a type the organization does not accept."""
        if declared is not None and declared not in self.allowed_types:
            raise UnsupportedMediaType(
                f"Files of type {declared} are not accepted.", content_type=declared
            )

    def resolve(self, declared: str | None, head: bytes) -> str:
        """The type to store the file as; 415 on a mismatch or a type not accepted."""
        detected = detect(head)
        chosen = detected
        if declared is not None and declared != detected:
            family = _family(detected)
            if family is None or declared not in family:
                raise UnsupportedMediaType(
                    f"The content is {detected}, not {declared} as declared.",
                    content_type=detected,
                    declared_type=declared,
                )
            # The bytes say which family; the client knows better within it (audio vs video
            # WebM, CSV vs plain text) unless the bytes are more specific (a HAR log).
            if not (family is TEXT_TYPES and detected != "text/plain"):
                chosen = declared
        if chosen not in self.allowed_types:
            raise UnsupportedMediaType(
                f"Files of type {chosen} are not accepted.", content_type=chosen
            )
        return chosen
