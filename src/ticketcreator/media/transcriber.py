"""What transcribing takes and gives, whoever does it (faster-whisper on the worker, or a cloud
provider): the capture's context, the transcript with its segments, the reason a transcript
is empty, and the interface the Celery task calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

ProgressCallback = Callable[[float], None]
"""Called with the fraction of the recording done, from 0.0 to 1.0."""

PROMPT_CHARS = 600  # Whisper keeps at most 223 prompt tokens; ~600 characters of UI text


class EmptyReason(StrEnum):
    """Why a transcript has no text, shown in the ticket instead of an error."""

    NO_AUDIO_TRACK = "no_audio_track"
    SILENCE = "silence"
    NO_SPEECH = "no_speech"


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """A transcript as stored with the attachment; ``processing_s`` excludes model loading,
    which happens once per worker process."""

    text: str
    language: str | None
    duration_s: float
    processing_s: float
    segments: tuple[Segment, ...]
    model: str
    empty_reason: EmptyReason | None = None

    def to_json(self) -> dict[str, Any]:
        """The shape printed by ``ticketcreator media transcribe --json``."""
        return {
            "text": self.text,
            "language": self.language,
            "duration_s": round(self.duration_s, 3),
            "processing_s": round(self.processing_s, 3),
            "segments": [
                {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
                for s in self.segments
            ],
        }


@dataclass(frozen=True)
class TranscriptionContext:
    """What the browser saw while the person narrated: it names the things they talk about.

    Product names, button labels and error codes are exactly the words a speech model gets
    wrong without help; given as a prompt they bias decoding towards the right spelling.
    Redact PII from these texts before they go to a cloud provider.
    """

    page_title: str = ""
    page_url: str = ""
    ui_labels: Sequence[str] = ()
    error_texts: Sequence[str] = ()

    def prompt(self) -> str:
        parts = [self.page_title, self.page_url, ", ".join(self.ui_labels)]
        parts += list(self.error_texts)
        text = ". ".join(p.strip().rstrip(".") for p in parts if p and p.strip())
        return (text + ".")[:PROMPT_CHARS] if text else ""


class Transcriber(Protocol):
    """What the Celery task calls; local and cloud providers both implement it."""

    def transcribe(
        self,
        source: Path,
        *,
        context: TranscriptionContext | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript: ...
