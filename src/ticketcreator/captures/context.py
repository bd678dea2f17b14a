"""What a capture tells about the page a recording was made on, for the speech decoder."""

from __future__ import annotations

from collections.abc import Sequence

from ticketcreator.captures.models import Capture
from ticketcreator.media import TranscriptionContext
from ticketcreator.privacy import redact

_MAX_LABELS = 30
_MAX_ERRORS = 10
_LABEL_CHARS = 80
_ERROR_CHARS = 200


def transcription_context(captures: Sequence[Capture], *, for_cloud: bool) -> TranscriptionContext:
    """What the captures show about the page: title, URL, clicked labels, error messages.

    For a cloud provider every text is PII-redacted first (only the audio and this prompt
    leave the service).
    """
    first = captures[0]
    labels = [
        str(step["text"]).strip()[:_LABEL_CHARS]
        for capture in captures
        for step in capture.steps
        if step.get("type") in ("click", "submit") and str(step.get("text") or "").strip()
    ]
    errors = [
        str(entry["message"]).strip().splitlines()[0][:_ERROR_CHARS]
        for capture in captures
        for entry in capture.console
        if entry.get("level") == "error" and str(entry.get("message") or "").strip()
    ]

    def clean(value: str) -> str:
        return redact(value).text if for_cloud else value

    return TranscriptionContext(
        page_title=clean(first.page_title),
        page_url=clean(first.page_url),
        ui_labels=[clean(label) for label in list(dict.fromkeys(labels))[:_MAX_LABELS]],
        error_texts=[clean(error) for error in list(dict.fromkeys(errors))[:_MAX_ERRORS]],
    )
