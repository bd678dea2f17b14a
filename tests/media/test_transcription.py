from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faster_whisper.transcribe import Word

from ticketcreator.core.modelstore import ModelMissingError
from ticketcreator.media.probe import SAMPLE_RATE
from ticketcreator.media.transcriber import EmptyReason, Segment, TranscriptionContext
from ticketcreator.media.transcription import (
    DecodingOptions,
    LocalTranscriber,
    _quietest_cut,
    _windows,
    cut_segments,
)
from ticketcreator.media.whisper_models import load_model, load_pipeline, model_dir

NARRATION = (
    "The checkout page shows error five hundred. I pressed the pay now button twice. "
    "Then the spinner kept turning for a whole minute! Why does the payment form fail?"
)


@pytest.fixture(scope="module")
def tiny(models_root: Path) -> LocalTranscriber:
    return LocalTranscriber("tiny.en", models_root=models_root)


def test_chrome_recording_without_duration_header(tiny: LocalTranscriber, webm_live: Path) -> None:
    progress: list[float] = []
    result = tiny.transcribe(webm_live, on_progress=progress.append)
    text = result.text.lower()
    assert "500 after i press" in text  # tiny.en hears the rest of espeak's voice poorly
    assert result.language == "en"
    assert result.empty_reason is None
    assert result.duration_s == pytest.approx(5.2, abs=0.2)
    assert 0 < result.processing_s < 30
    assert result.segments
    assert result.segments[0].start >= 0.5  # the narration starts after 1 s of silence
    assert progress == sorted(progress)
    assert progress[-1] == 1.0


def test_no_audio_track_is_an_empty_transcript(tiny: LocalTranscriber, webm_no_audio: Path) -> None:
    progress: list[float] = []
    result = tiny.transcribe(webm_no_audio, on_progress=progress.append)
    assert result.empty_reason is EmptyReason.NO_AUDIO_TRACK
    assert (result.text, result.segments, result.language) == ("", (), None)
    assert result.duration_s == pytest.approx(3.0, abs=0.1)
    assert progress == [1.0]


def test_silence_is_an_empty_transcript(tiny: LocalTranscriber, silence_webm: Path) -> None:
    result = tiny.transcribe(silence_webm)
    assert result.empty_reason is EmptyReason.SILENCE
    assert result.text == ""
    assert result.duration_s == pytest.approx(4.0, abs=0.1)


def test_noise_without_speech_is_no_speech(tiny: LocalTranscriber, tmp_path: Path) -> None:
    hum = tmp_path / "hum.wav"
    tone = 0.05 * np.sin(2 * np.pi * 50 * np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE)
    with wave.open(str(hum), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((tone * 32767).astype("<i2").tobytes())
    result = tiny.transcribe(hum)
    assert result.empty_reason in (EmptyReason.NO_SPEECH, None)
    if result.empty_reason is EmptyReason.NO_SPEECH:
        assert result.text == ""


def test_to_json_has_the_cli_shape(tiny: LocalTranscriber, speech_wav: Path) -> None:
    data = tiny.transcribe(speech_wav).to_json()
    assert list(data) == ["text", "language", "duration_s", "processing_s", "segments"]
    assert set(data["segments"][0]) == {"start", "end", "text"}


def test_context_prompt_is_bounded_and_ordered() -> None:
    context = TranscriptionContext(
        page_title="Acme Shop - Checkout",
        page_url="https://shop.example.com/checkout",
        ui_labels=("Pay now", "Cancel"),
        error_texts=("PAY-502 card issuer timeout.",),
    )
    assert context.prompt() == (
        "Acme Shop - Checkout. https://shop.example.com/checkout. Pay now, Cancel. "
        "PAY-502 card issuer timeout."
    )
    assert TranscriptionContext().prompt() == ""
    assert len(TranscriptionContext(ui_labels=["Save"] * 1000).prompt()) <= 600


def test_context_and_hotwords_bias_decoding(models_root: Path, speech_wav: Path) -> None:
    # Which words the context corrects depends on the CPU's arithmetic (tiny.en hears
    # "pay now" on some machines and "paint helmet" on others); what holds everywhere is that
    # the context reaches the decoder and its spelling wins where the audio is ambiguous.
    context = TranscriptionContext(page_title="Checkout", ui_labels=("Pay now",))
    for context_as in ("hotwords", "prompt"):
        biased = LocalTranscriber(
            "tiny.en", models_root=models_root, options=DecodingOptions(context_as=context_as)
        )
        plain = biased.transcribe(speech_wav).text
        result = biased.transcribe(speech_wav, context=context).text
        assert result != plain
        assert "checkout" in result.lower()


def test_long_recordings_are_cut_into_windows_at_pauses(
    models_root: Path, media_dir: Path, speech_wav: Path
) -> None:
    windowed = LocalTranscriber(
        "tiny.en", models_root=models_root, options=DecodingOptions(window_s=6.0)
    )
    twice = media_dir / "twice.wav"
    subprocess.run(
        ["ffmpeg", "-y", "-i", str(speech_wav), "-i", str(speech_wav), "-filter_complex",
         "[0][1]concat=n=2:v=0:a=1", str(twice)],
        check=True, capture_output=True,
    )  # fmt: skip
    result = windowed.transcribe(twice)
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    assert result.segments[-1].end > 6.0
    assert result.text.count("500 after") == 2


def test_windows_keep_every_sample_and_cut_in_pauses() -> None:
    speech = np.full(SAMPLE_RATE, 0.5, dtype=np.float32)
    pause = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    audio = np.concatenate([speech, speech, pause, speech, speech, speech])
    chunks = [audio[i : i + 4000] for i in range(0, audio.size, 4000)]
    windows = list(_windows(chunks, window_s=4.0))
    assert sum(w.size for _, w in windows) == audio.size
    first_offset, first = windows[0]
    assert first_offset == 0.0
    assert 2 * SAMPLE_RATE <= first.size <= 2 * SAMPLE_RATE + SAMPLE_RATE // 2
    assert windows[1][0] == pytest.approx(first.size / SAMPLE_RATE)


def test_quietest_cut_of_short_audio_is_the_end() -> None:
    audio = np.ones(100, dtype=np.float32)
    assert _quietest_cut(audio) == 100


def test_model_is_loaded_once_per_process(models_root: Path) -> None:
    directory = model_dir("tiny.en", models_root)
    assert load_model(directory) is load_model(directory)
    assert load_pipeline(directory) is load_pipeline(directory)
    assert load_pipeline(directory).model is load_model(directory)


def _words(*timed: tuple[float, float, str]) -> list[Word]:
    return [Word(start=start, end=end, word=word, probability=0.9) for start, end, word in timed]


def test_words_are_cut_after_sentences_and_at_pauses() -> None:
    words = _words(
        (0.0, 0.4, " Hello"),
        (0.4, 0.9, " world."),
        (1.0, 1.3, " Is"),
        (1.3, 1.8, " example.com"),
        (2.3, 2.6, " down?"),  # 0.5 s after the previous word: not a pause
        (2.7, 3.0, ' "Stop!"'),  # a closing quote after the punctuation
        (3.1, 3.4, " Next"),
        (3.4, 3.7, " part"),
        (4.6, 4.9, " after"),  # 0.9 s after the previous word
        (4.9, 5.2, " pause"),
    )
    assert cut_segments(words, offset=10.0) == [
        Segment(10.0, 10.9, "Hello world."),
        Segment(11.0, 12.6, "Is example.com down?"),
        Segment(12.7, 13.0, '"Stop!"'),
        Segment(13.1, 13.7, "Next part"),
        Segment(14.6, 15.2, "after pause"),
    ]


def test_long_runs_of_words_are_cut_at_the_maximum_length() -> None:
    words = _words(*((i * 0.5, i * 0.5 + 0.5, f" w{i}") for i in range(20)))
    segments = cut_segments(words, offset=100.0, max_s=7.0)
    assert [(s.start, s.end) for s in segments] == [(100.0, 107.0), (107.0, 110.0)]
    assert " ".join(s.text for s in segments) == " ".join(f"w{i}" for i in range(20))


def test_words_without_spaces_and_blank_words() -> None:
    words = _words((0.0, 0.5, "你好"), (0.5, 1.0, "世界。"), (3.0, 3.2, " "))
    assert cut_segments(words) == [Segment(0.0, 1.0, "你好世界。")]
    assert cut_segments([]) == []


@pytest.fixture
def pipeline_calls(models_root: Path, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Seconds of audio of each call of the cached tiny.en batched pipeline (faster-whisper's
    own code still runs)."""
    pipeline = load_pipeline(model_dir("tiny.en", models_root))
    calls: list[float] = []
    transcribe = pipeline.transcribe

    def counting(audio: np.ndarray, **kwargs: Any) -> Any:
        calls.append(audio.size / SAMPLE_RATE)
        return transcribe(audio, **kwargs)

    monkeypatch.setattr(pipeline, "transcribe", counting)
    return calls


def test_short_clips_are_decoded_sequentially(
    tiny: LocalTranscriber, speech_wav: Path, pipeline_calls: list[float]
) -> None:
    assert "500 after" in tiny.transcribe(speech_wav).text
    assert pipeline_calls == []


@pytest.fixture(scope="module")
def narration_twice(media_dir: Path) -> Path:
    """Four spoken sentences (~9.5 s), 1.5 s of silence, and the same sentences again."""
    once = media_dir / "narration.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(once), NARRATION], check=True)
    twice = media_dir / "narration-twice.wav"
    subprocess.run(
        ["ffmpeg", "-y", "-i", str(once), "-i", str(once), "-filter_complex",
         "[0]apad=pad_dur=1.5[a];[a][1]concat=n=2:v=0:a=1", str(twice)],
        check=True, capture_output=True,
    )  # fmt: skip
    return twice


def test_long_windows_are_decoded_batched_and_cut_at_words(
    models_root: Path, narration_twice: Path, pipeline_calls: list[float]
) -> None:
    options = DecodingOptions(window_s=12.0, batched_from_s=5.0)
    transcriber = LocalTranscriber("tiny.en", models_root=models_root, options=options)
    progress: list[float] = []
    result = transcriber.transcribe(narration_twice, on_progress=progress.append)
    # Two windows (cut in the silence), both long enough for the batched pipeline.
    assert len(pipeline_calls) == 2
    assert all(seconds >= 5.0 for seconds in pipeline_calls)
    text = result.text.lower()
    for spoken in ("checkout page", "spinner", "payment form"):
        assert text.count(spoken) == 2
    # Sequential decoding gives this narration two segments of up to 7.3 s holding several
    # sentences; cut at words, every sentence is its own segment.
    assert len(result.segments) >= 8
    for segment in result.segments:
        assert 0 < segment.end - segment.start <= 7.0
        assert not re.search(r"[.!?]\s", segment.text), segment.text
    times = [t for s in result.segments for t in (s.start, s.end)]
    assert times == sorted(times)
    assert result.segments[len(result.segments) // 2].start > 9.5  # second window's offset
    assert result.segments[-1].end == pytest.approx(result.duration_s, abs=1.0)
    assert progress == sorted(progress)
    assert len(progress) >= 4
    assert progress[-1] == 1.0


def test_unknown_or_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"tiny\.en"):
        model_dir("large-v3", tmp_path)
    with pytest.raises(ModelMissingError, match="not installed"):
        LocalTranscriber("base", models_root=tmp_path)


@pytest.mark.slow
def test_default_base_model_transcribes_and_detects_language(models_root: Path, webm: Path) -> None:
    result = LocalTranscriber(models_root=models_root).transcribe(webm)
    assert result.model == "base"
    assert result.language == "en"
    # Decoding arithmetic differs between CPUs: one heard "shows error five hundred", another
    # "shows there are 500". The words every CPU gets prove the speech was understood.
    words = set(re.findall(r"[a-z0-9]+", result.text.lower().replace("five hundred", "500")))
    assert {"checkout", "page", "500", "press"} <= words, result.text
