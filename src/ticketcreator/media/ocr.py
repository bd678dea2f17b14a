"""Text in screenshots (error dialogs, stack traces, form values) for search and triage.

Tesseract reads dark text on a light background best, at about 30 px per capital letter
height. Screenshots of dark themes and small or downscaled images are therefore turned into
grayscale, inverted when dark, and upscaled before recognition.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import tesserocr
from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError

from ticketcreator.media.errors import CorruptMediaError, UnsupportedMediaError

_DARK_MEAN = 128  # mean luminance below this: light text on a dark background
_UPSCALE_BELOW_WIDTH = 2000  # 1x-DPR screenshots; HiDPI captures already have large glyphs
_MAX_PIXELS = 40_000_000  # after upscaling; bounds memory and time per image


@dataclass(frozen=True)
class OcrResult:
    text: str
    processing_s: float
    mean_confidence: float
    """Tesseract's mean word confidence, 0 to 100; low values mark text worth no trust."""
    steps: tuple[str, ...]
    """Preprocessing applied (``grayscale``, ``invert``, ``upscale2x``), for diagnostics."""

    def to_json(self) -> dict[str, object]:
        """The shape printed by ``ticketcreator media ocr --json``."""
        return {"text": self.text, "processing_s": round(self.processing_s, 3)}


class _Engine:
    """One Tesseract instance per process (loading eng.traineddata costs ~0.1 s).

    The API object is not thread-safe, so calls are serialised; the instance is recreated
    after a fork because a prefork worker must not share the parent's engine.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._api: tesserocr.PyTessBaseAPI | None = None
        self._pid = 0

    def read(self, image: Image.Image) -> tuple[str, float]:
        with self._lock:
            if self._api is None or self._pid != os.getpid():
                self._api = tesserocr.PyTessBaseAPI(
                    path=os.path.join(sys.prefix, "share", "tessdata") + os.sep, lang="eng"
                )
                self._pid = os.getpid()
            self._api.SetImage(image)
            text = str(self._api.GetUTF8Text())
            confidence = float(self._api.MeanTextConf())
            self._api.Clear()
            return text, confidence


_engine = _Engine()


def preprocess(image: Image.Image) -> tuple[Image.Image, tuple[str, ...]]:
    """Grayscale on white, inverted if dark, upscaled 2x if small; returns the steps taken."""
    steps = ["grayscale"]
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        background = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(background, image.convert("RGBA"))
    gray = image.convert("L")
    if ImageStat.Stat(gray).mean[0] < _DARK_MEAN:
        gray = ImageOps.invert(gray)
        steps.append("invert")
    if gray.width < _UPSCALE_BELOW_WIDTH and gray.width * gray.height * 4 <= _MAX_PIXELS:
        gray = gray.resize((gray.width * 2, gray.height * 2), Image.Resampling.LANCZOS)
        steps.append("upscale2x")
    return gray, tuple(steps)


def _clean(text: str) -> str:
    """Tesseract separates blocks with blank lines and ends with a form feed."""
    lines = [line.rstrip() for line in text.replace("\f", "").splitlines()]
    return "\n".join(line for line in lines if line.strip())


def ocr_image(source: Path | Image.Image) -> OcrResult:
    """Recognise the English text in a screenshot or photo of a screen."""
    started = time.perf_counter()
    if isinstance(source, Image.Image):
        prepared, steps = preprocess(source)
    else:
        try:
            with Image.open(source) as image:
                image.load()
                prepared, steps = preprocess(image)
        except UnidentifiedImageError as exc:
            raise UnsupportedMediaError(f"{source.name}: not a supported image") from exc
        except (OSError, Image.DecompressionBombError) as exc:
            raise CorruptMediaError(f"{source.name}: unreadable image ({exc})") from exc
    text, confidence = _engine.read(prepared)
    return OcrResult(
        text=_clean(text),
        processing_s=time.perf_counter() - started,
        mean_confidence=confidence,
        steps=steps,
    )
