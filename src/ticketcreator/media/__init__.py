"""Media processing for captures: probing, posters and thumbnails, audio extraction,
transcription, OCR and caption export. Pure functions and small classes without database
or queue dependencies; the Celery tasks call them and store the results."""

from ticketcreator.media.cloud import CloudTranscriptionError, OpenAITranscriber
from ticketcreator.media.errors import CorruptMediaError, MediaError, UnsupportedMediaError
from ticketcreator.media.ocr import OcrResult, ocr_image
from ticketcreator.media.probe import (
    AudioStreamInfo,
    ImageInfo,
    MediaInfo,
    VideoStreamInfo,
    extract_audio_opus,
    extract_audio_wav,
    iter_audio,
    load_audio,
    probe_image,
    probe_media,
    render_poster,
    render_thumbnail,
)
from ticketcreator.media.subtitles import to_srt, to_webvtt
from ticketcreator.media.transcriber import (
    EmptyReason,
    ProgressCallback,
    Segment,
    Transcriber,
    Transcript,
    TranscriptionContext,
)
from ticketcreator.media.transcription import DecodingOptions, LocalTranscriber
from ticketcreator.media.whisper_models import DEFAULT_MODEL, MODELS, load_model, model_dir

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "AudioStreamInfo",
    "CloudTranscriptionError",
    "CorruptMediaError",
    "DecodingOptions",
    "EmptyReason",
    "ImageInfo",
    "LocalTranscriber",
    "MediaError",
    "MediaInfo",
    "OcrResult",
    "OpenAITranscriber",
    "ProgressCallback",
    "Segment",
    "Transcriber",
    "Transcript",
    "TranscriptionContext",
    "UnsupportedMediaError",
    "VideoStreamInfo",
    "extract_audio_opus",
    "extract_audio_wav",
    "iter_audio",
    "load_audio",
    "load_model",
    "model_dir",
    "ocr_image",
    "probe_image",
    "probe_media",
    "render_poster",
    "render_thumbnail",
    "to_srt",
    "to_webvtt",
]
