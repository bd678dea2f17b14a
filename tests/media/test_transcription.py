from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from ticketcreator.core.modelstore import ModelMissingError
from ticketcreator.media.probe import SAMPLE_RATE
from ticketcreator.media.transcription import (
    DecodingOptions,
    EmptyReason,
    LocalTranscriber,
    TranscriptionContext,
    _quietest_cut,
    _windows,
    load_model,
    model_dir,
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
    context = TranscriptionContext(page_title="Checkout", ui_labels=("Pay now",))
    for context_as in ("hotwords", "prompt"):
        biased = LocalTranscriber(
            "tiny.en", models_root=models_root, options=DecodingOptions(context_as=context_as)
        )
        result = biased.transcribe(speech_wav, context=context)
        assert "pay now" in result.text.lower()


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
    assert "error" in result.text.lower()
