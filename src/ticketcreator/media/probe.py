"""Probing, posters, thumbnails and audio extraction for uploaded captures.

Recordings come from Chrome's MediaRecorder (WebM, VP8/VP9 + Opus) and are often written
without a duration header, so the duration is computed from the packets when the container
does not state it. Everything here streams: a recording of several hundred megabytes is
read packet by packet and never held in memory whole.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from ticketcreator.media.errors import CorruptMediaError, MediaError, UnsupportedMediaError

SAMPLE_RATE = 16_000
"""Whisper (local and cloud) works on 16 kHz mono; extracting at that rate keeps files small."""

AudioChunk = npt.NDArray[np.float32]


@dataclass(frozen=True)
class VideoStreamInfo:
    codec: str
    width: int
    height: int
    fps: float | None


@dataclass(frozen=True)
class AudioStreamInfo:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class MediaInfo:
    """What the ticket view needs to show a recording, and what decides transcription."""

    container: str
    duration_s: float
    duration_from_header: bool
    size_bytes: int
    video: VideoStreamInfo | None
    audio: AudioStreamInfo | None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def has_video(self) -> bool:
        return self.video is not None


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except FileNotFoundError:
        raise
    except av.error.InvalidDataError as exc:
        raise CorruptMediaError(f"{path.name}: not a readable audio/video file ({exc})") from exc
    except av.error.FFmpegError as exc:
        raise UnsupportedMediaError(f"{path.name}: cannot open ({exc})") from exc


def _fps(stream: av.video.stream.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return round(float(rate), 3) if rate else None


def _duration_from_packets(container: av.container.InputContainer) -> float:
    """Demux every packet (no decoding) and take the latest end time over all streams.

    MediaRecorder writes WebM as a live stream: no duration, no cues. Demuxing is cheap next
    to decoding and reads the file sequentially, so memory stays flat.
    """
    end = 0.0
    start: float | None = None
    for packet in container.demux():
        if packet.pts is None or packet.time_base is None:
            continue
        pts = float(packet.pts * packet.time_base)
        start = pts if start is None else min(start, pts)
        end = max(end, pts + float((packet.duration or 0) * packet.time_base))
    return max(0.0, end - (start or 0.0))


def probe_media(path: Path) -> MediaInfo:
    """Container, streams and duration of an audio or video file."""
    with _open(path) as container:
        video = next(iter(container.streams.video), None)
        audio = next(iter(container.streams.audio), None)
        if video is None and audio is None:
            raise UnsupportedMediaError(f"{path.name}: no audio or video stream")
        video_info = (
            VideoStreamInfo(
                codec=video.codec_context.name,
                width=video.codec_context.width,
                height=video.codec_context.height,
                fps=_fps(video),
            )
            if video is not None
            else None
        )
        audio_info = (
            AudioStreamInfo(
                codec=audio.codec_context.name,
                sample_rate=audio.codec_context.sample_rate,
                channels=audio.codec_context.channels,
            )
            if audio is not None
            else None
        )
        header = container.duration
        try:
            duration = header / av.time_base if header else _duration_from_packets(container)
        except av.error.FFmpegError as exc:
            raise CorruptMediaError(f"{path.name}: unreadable packets ({exc})") from exc
        return MediaInfo(
            container=container.format.name,
            duration_s=round(float(duration), 3),
            duration_from_header=bool(header),
            size_bytes=path.stat().st_size,
            video=video_info,
            audio=audio_info,
        )


def probe_image(path: Path) -> ImageInfo:
    """Format and pixel size of a screenshot or uploaded image (header only, no decode)."""
    try:
        with Image.open(path) as image:
            return ImageInfo(format=image.format or "", width=image.width, height=image.height)
    except UnidentifiedImageError as exc:
        raise UnsupportedMediaError(f"{path.name}: not a supported image") from exc
    except (OSError, Image.DecompressionBombError) as exc:
        raise CorruptMediaError(f"{path.name}: unreadable image ({exc})") from exc


def video_frame(path: Path, at_s: float = 1.0) -> Image.Image:
    """The frame shown at ``at_s`` seconds, or the last one before the end if shorter.

    Decodes from the start instead of seeking: MediaRecorder files have no cues to seek
    with, and one second of video is only a few dozen frames.
    """
    chosen: Image.Image | None = None
    with _open(path) as container:
        if not container.streams.video:
            raise UnsupportedMediaError(f"{path.name}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                chosen = Image.fromarray(frame.to_ndarray(format="rgb24"))
                if frame.time is not None and frame.time >= at_s:
                    break
        except av.error.FFmpegError as exc:
            if chosen is None:
                raise CorruptMediaError(f"{path.name}: cannot decode video ({exc})") from exc
    if chosen is None:
        raise CorruptMediaError(f"{path.name}: video stream has no frames")
    return chosen


def _save(image: Image.Image, dest: Path, box: tuple[int, int]) -> ImageInfo:
    """Shrink into ``box`` (never enlarge) and save in the format named by the suffix."""
    image = ImageOps.exif_transpose(image)
    image.thumbnail(box, Image.Resampling.LANCZOS)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".png": "PNG"}.get(dest.suffix.lower())
    if fmt is None:
        raise ValueError(f"{dest.name}: use a .jpg, .webp or .png file name")
    image.save(dest, fmt, quality=82)
    return ImageInfo(format=fmt, width=image.width, height=image.height)


def render_poster(
    video: Path, dest: Path, *, at_s: float = 1.0, max_size: tuple[int, int] = (1280, 1280)
) -> ImageInfo:
    """The still shown before a recording plays: the frame at ~1 s (first frames are often
    black while the tab capture starts)."""
    return _save(video_frame(video, at_s), dest, max_size)


def render_thumbnail(
    source: Path, dest: Path, *, max_size: tuple[int, int] = (320, 320), at_s: float = 1.0
) -> ImageInfo:
    """A small preview for lists, from an image or from a video's frame at ``at_s``."""
    try:
        with Image.open(source) as image:
            image.draft("RGB", max_size)
            return _save(image, dest, max_size)
    except UnidentifiedImageError:
        pass
    except (OSError, Image.DecompressionBombError) as exc:
        raise CorruptMediaError(f"{source.name}: unreadable image ({exc})") from exc
    return _save(video_frame(source, at_s), dest, max_size)


def iter_audio(path: Path, *, chunk_s: float = 30.0) -> Iterator[AudioChunk]:
    """16 kHz mono float32 chunks of about ``chunk_s`` seconds, decoded as they are needed.

    Yields nothing for a file without an audio track. Memory is bounded by one chunk.
    """
    chunk_samples = max(1, int(chunk_s * SAMPLE_RATE))
    with _open(path) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pending: list[AudioChunk] = []
        pending_samples = 0
        try:
            for frame in _decode_then_flush(container, stream, resampler):
                samples = frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                pending.append(samples)
                pending_samples += samples.size
                while pending_samples >= chunk_samples:
                    joined = np.concatenate(pending)
                    yield joined[:chunk_samples]
                    pending = [joined[chunk_samples:]]
                    pending_samples = pending[0].size
        except av.error.FFmpegError as exc:
            raise CorruptMediaError(f"{path.name}: cannot decode audio ({exc})") from exc
        if pending_samples:
            yield np.concatenate(pending)


def _decode_then_flush(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    resampler: av.AudioResampler,
) -> Iterator[av.AudioFrame]:
    for frame in container.decode(stream):
        frame.pts = None  # MediaRecorder timestamps jitter; the resampler needs none
        yield from resampler.resample(frame)
    yield from resampler.resample(None)


def load_audio(path: Path) -> AudioChunk:
    """The whole audio track as one array: for short clips only (64 kB per second)."""
    chunks = list(iter_audio(path))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def extract_audio_wav(path: Path, dest: Path) -> float:
    """Write the audio track as 16 kHz mono 16-bit WAV, streamed; returns its duration.

    Raises UnsupportedMediaError when there is no audio track, so callers can record why.
    """
    if not probe_media(path).has_audio:
        raise UnsupportedMediaError(f"{path.name}: no audio track")
    dest.parent.mkdir(parents=True, exist_ok=True)
    samples = 0
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for chunk in iter_audio(path):
            pcm = (np.clip(chunk, -1.0, 1.0) * 32767.0).astype("<i2")
            out.writeframes(pcm.tobytes())
            samples += chunk.size
    return samples / SAMPLE_RATE


def extract_audio_opus(path: Path, dest: Path, *, bitrate: int = 32_000) -> float:
    """Write the audio track as 16 kHz mono Opus in Ogg: about 4 kB/s, so an hour of
    narration fits the 25 MB upload limit of cloud transcription, and no video pixels
    (which may show customer data) leave the system. Returns the duration in seconds."""
    if not probe_media(path).has_audio:
        raise UnsupportedMediaError(f"{path.name}: no audio track")
    dest.parent.mkdir(parents=True, exist_ok=True)
    samples = 0
    try:
        with av.open(str(dest), mode="w", format="ogg") as out:
            stream = out.add_stream("libopus", rate=SAMPLE_RATE)
            stream.layout = "mono"
            stream.bit_rate = bitrate
            for chunk in iter_audio(path, chunk_s=1.0):
                frame = av.AudioFrame.from_ndarray(
                    chunk.reshape(1, -1), format="flt", layout="mono"
                )
                frame.sample_rate = SAMPLE_RATE
                frame.pts = samples
                frame.time_base = Fraction(1, SAMPLE_RATE)
                out.mux(stream.encode(frame))
                samples += chunk.size
            out.mux(stream.encode(None))
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path.name}: cannot encode audio ({exc})") from exc
    return samples / SAMPLE_RATE
