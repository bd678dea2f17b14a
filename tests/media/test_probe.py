from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ticketcreator.media.errors import CorruptMediaError, MediaError, UnsupportedMediaError
from ticketcreator.media.probe import (
    SAMPLE_RATE,
    extract_audio_opus,
    extract_audio_wav,
    iter_audio,
    load_audio,
    probe_image,
    probe_media,
    render_poster,
    render_thumbnail,
)


def test_probe_reads_header_duration_and_streams(webm: Path) -> None:
    info = probe_media(webm)
    assert info.duration_from_header
    assert info.container == "matroska,webm"
    assert info.video is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("vp9", 640, 360)
    assert info.video.fps == pytest.approx(25.0)
    assert info.audio is not None
    assert info.audio.codec == "opus"
    assert info.audio.sample_rate == 48000
    assert info.has_audio
    assert info.has_video
    assert info.size_bytes == webm.stat().st_size


def test_duration_is_computed_without_header(webm: Path, webm_live: Path) -> None:
    live = probe_media(webm_live)
    assert not live.duration_from_header
    assert live.duration_s == pytest.approx(probe_media(webm).duration_s, abs=0.1)
    assert live.duration_s > 4.0


def test_recording_without_audio_track(webm_no_audio: Path) -> None:
    info = probe_media(webm_no_audio)
    assert not info.has_audio
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    assert list(iter_audio(webm_no_audio)) == []
    with pytest.raises(UnsupportedMediaError, match="no audio track"):
        extract_audio_wav(webm_no_audio, webm_no_audio.with_suffix(".wav"))


def test_audio_only_file(speech_wav: Path) -> None:
    info = probe_media(speech_wav)
    assert info.video is None
    assert info.audio is not None
    assert info.audio.channels == 1


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_corrupt_file_raises_media_error(tmp_path: Path, content: bytes) -> None:
    broken = tmp_path / "broken.webm"
    broken.write_bytes(content)
    with pytest.raises(MediaError):
        probe_media(broken)


def test_truncated_recording_still_probes_or_fails_cleanly(tmp_path: Path, webm: Path) -> None:
    cut = tmp_path / "cut.webm"
    cut.write_bytes(webm.read_bytes()[: webm.stat().st_size // 2])
    try:
        info = probe_media(cut)
    except CorruptMediaError:
        return
    assert info.has_video


def test_poster_and_thumbnail_of_video(tmp_path: Path, webm_live: Path) -> None:
    poster = render_poster(webm_live, tmp_path / "poster.jpg")
    assert (poster.format, poster.width, poster.height) == ("JPEG", 640, 360)
    thumb = render_thumbnail(webm_live, tmp_path / "thumb.webp")
    assert (thumb.format, thumb.width, thumb.height) == ("WEBP", 320, 180)
    assert probe_image(tmp_path / "thumb.webp") == thumb


def test_poster_of_clip_shorter_than_one_second(tmp_path: Path, webm_no_audio: Path) -> None:
    info = render_poster(webm_no_audio, tmp_path / "late.png", at_s=60.0)
    assert info.width == 640


def test_poster_needs_video(tmp_path: Path, speech_wav: Path) -> None:
    with pytest.raises(UnsupportedMediaError, match="no video"):
        render_poster(speech_wav, tmp_path / "p.jpg")


def test_thumbnail_of_image_keeps_aspect_and_never_enlarges(tmp_path: Path) -> None:
    big = tmp_path / "screen.png"
    Image.new("RGBA", (1280, 800), (10, 20, 30, 128)).save(big)
    assert probe_image(big).format == "PNG"
    thumb = render_thumbnail(big, tmp_path / "t.jpg")
    assert (thumb.width, thumb.height) == (320, 200)
    small = tmp_path / "icon.png"
    Image.new("RGB", (64, 32)).save(small)
    assert render_thumbnail(small, tmp_path / "s.png").width == 64


def test_thumbnail_rejects_unknown_suffix(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    Image.new("RGB", (10, 10)).save(image)
    with pytest.raises(ValueError, match="file name"):
        render_thumbnail(image, tmp_path / "t.gif")


def test_probe_image_rejects_non_images(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(UnsupportedMediaError):
        probe_image(text)


def test_audio_is_streamed_as_16k_mono_chunks(webm_live: Path, speech_wav: Path) -> None:
    chunks = list(iter_audio(webm_live, chunk_s=2.0))
    assert all(c.dtype == np.float32 for c in chunks)
    assert [c.size for c in chunks[:-1]] == [2 * SAMPLE_RATE] * (len(chunks) - 1)
    total = sum(c.size for c in chunks) / SAMPLE_RATE
    assert total == pytest.approx(1.0 + probe_media(speech_wav).duration_s, abs=0.1)
    assert load_audio(webm_live).size == sum(c.size for c in chunks)


def test_extract_wav(tmp_path: Path, webm_live: Path) -> None:
    dest = tmp_path / "audio.wav"
    seconds = extract_audio_wav(webm_live, dest)
    with wave.open(str(dest)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, 16000, 2)
        assert wav.getnframes() / 16000 == pytest.approx(seconds)


def test_extract_opus_is_small(tmp_path: Path, webm: Path) -> None:
    dest = tmp_path / "audio.ogg"
    seconds = extract_audio_opus(webm, dest)
    info = probe_media(dest)
    assert info.audio is not None
    assert info.audio.codec == "opus"
    assert info.video is None
    assert info.duration_s == pytest.approx(seconds, abs=0.1)
    assert dest.stat().st_size < 6000 * seconds
