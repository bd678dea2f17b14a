from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from ticketcreator.media.errors import CorruptMediaError, UnsupportedMediaError
from ticketcreator.media.ocr import ocr_image, preprocess


def character_error_rate(truth: str, text: str) -> float:
    hyp = re.sub(r"\s+", " ", text).strip()
    row = list(range(len(hyp) + 1))
    for i in range(1, len(truth) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            value = min(row[j] + 1, row[j - 1] + 1, diagonal + (truth[i - 1] != hyp[j - 1]))
            diagonal, row[j] = row[j], value
    return row[len(hyp)] / len(truth)


def test_light_screenshot(screenshot_light: Path, screen_text: str) -> None:
    result = ocr_image(screenshot_light)
    assert character_error_rate(screen_text, result.text) < 0.02
    assert result.steps == ("grayscale", "upscale2x")
    assert result.mean_confidence > 80
    assert result.to_json() == {"text": result.text, "processing_s": round(result.processing_s, 3)}


def test_dark_screenshot_is_inverted(screenshot_dark: Path, screen_text: str) -> None:
    result = ocr_image(screenshot_dark)
    assert character_error_rate(screen_text, result.text) < 0.06
    assert "invert" in result.steps


def test_small_jpeg_is_upscaled(screenshot_dark: Path, tmp_path: Path, screen_text: str) -> None:
    with Image.open(screenshot_dark) as image:
        small = image.convert("RGB").resize((800, 320), Image.Resampling.LANCZOS)
    path = tmp_path / "small.jpg"
    small.save(path, quality=70)
    result = ocr_image(path)
    assert "PAY-502" in result.text
    assert character_error_rate(screen_text, result.text) < 0.10


def test_transparent_image_reads_on_white() -> None:
    image = Image.new("RGBA", (600, 80), (0, 0, 0, 0))
    font = ImageFont.load_default(size=28)
    ImageDraw.Draw(image).text((10, 20), "Session expired", fill=(0, 0, 0, 255), font=font)
    prepared, steps = preprocess(image)
    assert "invert" not in steps
    assert "Session expired" in ocr_image(image).text
    assert prepared.mode == "L"


def test_concurrent_use_of_the_shared_engine(screenshot_light: Path) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        texts = list(pool.map(lambda _: ocr_image(screenshot_light).text, range(3)))
    assert len(set(texts)) == 1


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_text("hello")
    with pytest.raises(UnsupportedMediaError):
        ocr_image(path)


def test_truncated_image(tmp_path: Path, screenshot_light: Path) -> None:
    path = tmp_path / "cut.png"
    path.write_bytes(screenshot_light.read_bytes()[:2000])
    with pytest.raises(CorruptMediaError):
        ocr_image(path)
