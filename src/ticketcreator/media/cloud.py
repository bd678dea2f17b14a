"""OpenAI's transcription API as the cloud alternative to local Whisper.

Only the audio track is sent, re-encoded as 16 kHz mono Opus: the video may show customer
data, and the compact audio keeps an hour of narration under the API's 25 MB upload limit.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ticketcreator.media.errors import MediaError
from ticketcreator.media.probe import extract_audio_opus, probe_media
from ticketcreator.media.transcriber import (
    EmptyReason,
    ProgressCallback,
    Segment,
    Transcript,
    TranscriptionContext,
)

UPLOAD_LIMIT_BYTES = 25 * 1024 * 1024

# verbose_json names the language ("english"); tickets store ISO 639-1 codes like local Whisper.
_LANGUAGE_CODES = {
    "english": "en",
    "german": "de",
    "french": "fr",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "dutch": "nl",
    "polish": "pl",
    "swedish": "sv",
    "danish": "da",
    "norwegian": "no",
    "finnish": "fi",
    "czech": "cs",
    "turkish": "tr",
    "russian": "ru",
    "ukrainian": "uk",
    "japanese": "ja",
    "chinese": "zh",
    "korean": "ko",
}


class CloudTranscriptionError(MediaError):
    """The provider refused or failed; ``retryable`` tells the task whether to try again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class OpenAITranscriber:
    """``POST {base_url}/v1/audio/transcriptions`` with the audio as multipart upload.

    ``whisper-1`` answers ``verbose_json`` with timed segments; the ``gpt-4o-*`` models only
    answer ``json`` (text without timings), so their transcript has one segment.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "https://api.openai.com",
        model: str = "whisper-1",
        language: str | None = None,
        timeout_s: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.model = model
        self.language = language
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def transcribe(
        self,
        source: Path,
        *,
        context: TranscriptionContext | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        started = time.perf_counter()
        info = probe_media(source)
        if not info.has_audio:
            return self._empty(info.duration_s, started, EmptyReason.NO_AUDIO_TRACK)
        with tempfile.TemporaryDirectory(prefix="tc-audio-") as scratch:
            audio = Path(scratch) / "audio.ogg"
            duration_s = extract_audio_opus(source, audio)
            if on_progress is not None:
                on_progress(0.1)
            if audio.stat().st_size > UPLOAD_LIMIT_BYTES:
                raise CloudTranscriptionError(
                    f"{source.name}: audio is {audio.stat().st_size} bytes after compression, "
                    f"over the provider's {UPLOAD_LIMIT_BYTES} byte limit",
                    retryable=False,
                )
            body = self._post(audio, context)
        if on_progress is not None:
            on_progress(1.0)
        return self._transcript(body, duration_s, started)

    def _post(self, audio: Path, context: TranscriptionContext | None) -> dict[str, Any]:
        verbose = self.model.startswith("whisper")
        data: dict[str, str] = {
            "model": self.model,
            "response_format": "verbose_json" if verbose else "json",
        }
        if verbose:
            data["timestamp_granularities[]"] = "segment"
        if self.language:
            data["language"] = self.language
        prompt = context.prompt() if context else ""
        if prompt:
            data["prompt"] = prompt
        try:
            with audio.open("rb") as handle:
                response = self._client.post(
                    "/v1/audio/transcriptions",
                    data=data,
                    files={"file": (audio.name, handle, "audio/ogg")},
                )
        except httpx.TransportError as exc:
            raise CloudTranscriptionError(
                f"transcription request failed: {exc}", retryable=True
            ) from exc
        if response.status_code != httpx.codes.OK:
            raise CloudTranscriptionError(
                f"transcription provider answered {response.status_code}: {response.text[:300]}",
                retryable=response.status_code == 429 or response.status_code >= 500,
            )
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise CloudTranscriptionError(
                "transcription provider sent invalid JSON", retryable=True
            ) from exc
        return body

    def _transcript(self, body: dict[str, Any], duration_s: float, started: float) -> Transcript:
        text = str(body.get("text", "")).strip()
        if not text:
            return self._empty(duration_s, started, EmptyReason.NO_SPEECH)
        raw_segments = body.get("segments") or [{"start": 0.0, "end": duration_s, "text": text}]
        segments = tuple(
            Segment(float(s["start"]), float(s["end"]), str(s["text"]).strip())
            for s in raw_segments
            if str(s.get("text", "")).strip()
        )
        language = body.get("language") or self.language
        return Transcript(
            text=text,
            language=_LANGUAGE_CODES.get(str(language).lower(), language) if language else None,
            duration_s=float(body.get("duration") or duration_s),
            processing_s=time.perf_counter() - started,
            segments=segments,
            model=self.model,
        )

    def _empty(self, duration_s: float, started: float, reason: EmptyReason) -> Transcript:
        return Transcript(
            text="",
            language=None,
            duration_s=duration_s,
            processing_s=time.perf_counter() - started,
            segments=(),
            model=self.model,
            empty_reason=reason,
        )
