"""Transcription and OCR quality benchmark (issue 7 targets).

Measures, for each local Whisper model:
  * word error rate on a narrated bug report made with espeak-ng (15 sentences with UI
    words, error codes and a URL), without and with the capture's context as prompt;
  * word error rate on real read speech from Debian's pocketsphinx-testdata (LibriVox);
  * speed factor (processing time / audio time) on a 35 s clip and a >= 3 min recording;
and the character error rate of OCR on a web page rendered by headless Chromium in a light
and a dark theme.

Needs: ffmpeg, espeak-ng, pocketsphinx-testdata, chromium (see scripts/apt-packages.txt)
and the models in TC_MODELS__DIR (default var/models; installed if missing).

    .venv/bin/python bench/transcription.py [--models base tiny.en] [--no-long]
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ticketcreator.media.cli import models_root
from ticketcreator.media.ocr import ocr_image
from ticketcreator.media.transcriber import TranscriptionContext
from ticketcreator.media.transcription import LocalTranscriber
from ticketcreator.media.whisper_models import model_dir

BUG_REPORT = [
    "When I click the Save button on the Settings page, nothing happens and the spinner "
    "keeps turning.",
    "The checkout page shows error 500 after I enter my credit card details and press Pay now.",
    "I opened example.com/account/billing and the invoice list is completely empty.",
    "After logging in, the dashboard says session expired and sends me back to the login screen.",
    "The search field on the Orders tab returns no results even for order number 4711.",
    "Uploading a PDF larger than 10 megabytes fails with the message file too large.",
    "In dark mode the Submit button is invisible because the text is black on a dark background.",
    "The Export to CSV link downloads a file with only the header row.",
    "Every time I change the language to German, the page reloads and switches back to English.",
    "The password reset email never arrives, although the page says check your inbox.",
    "Clicking Delete project opens the confirmation dialog twice.",
    "The API returns status 403 forbidden when I try to update my profile picture.",
    "On the mobile view the navigation menu overlaps the Add to cart button.",
    "The notification bell shows three unread messages, but the inbox is empty.",
    "The date picker in the booking form does not let me select any day after the 28th.",
]

# What the extension captured with the recording: page title and URL, visible labels, errors.
CAPTURE_CONTEXT = TranscriptionContext(
    page_title="Acme Shop - Checkout",
    page_url="example.com/account/billing",
    ui_labels=(
        "Settings",
        "Orders",
        "Billing",
        "Save",
        "Pay now",
        "Submit",
        "Export to CSV",
        "Delete project",
        "Add to cart",
        "Notifications",
    ),
    error_texts=("Session expired", "File too large", "403 Forbidden", "500 Internal Server Error"),
)

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")

OCR_LINES = [
    "Acme Support Portal",
    "Orders Billing Settings Help",
    "Checkout failed",
    "We could not process your payment. Error code PAY-502: the card issuer did not respond "
    "in time.",
    "Please check your card details and try again, or choose another payment method.",
    "Order number: 4711-2024-0815",
    "Total amount: EUR 129.90 including VAT",
    "Shipping address: 12 Baker Street, London NW1 6XE",
    "Request ID: 9f3c2a7e-51b0-4c1d-8e2f-6a7b8c9d0e1f",
    "Retry payment",
    "Contact support at support@example.com or call +44 20 7946 0958.",
    "Last updated on 28 November 2025 at 14:32 UTC.",
]


def words(text: str) -> list[str]:
    """Lower-case words; URLs (``a.com/b``, ``a.com slash b``, ``a.com-b``), thousands
    separators and ordinals written either way compare equal, so only recognition errors
    count."""
    text = text.lower()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", text)
    text = re.sub(r"(?<=\w)\.(?=\w)", " dot ", text)
    return [w for w in re.sub(r"[^\w\s']", " ", text).split() if w != "slash"]


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            value = min(row[j] + 1, row[j - 1] + 1, diagonal + (ref[i - 1] != hyp[j - 1]))
            diagonal, row[j] = row[j], value
    return row[len(hyp)]


@dataclass(frozen=True)
class Run:
    text: str
    audio_s: float
    processing_s: float
    cpu_s: float


@dataclass
class Score:
    errors: int = 0
    words: int = 0
    audio_s: float = 0.0
    processing_s: float = 0.0
    cpu_s: float = 0.0

    def add(self, reference: str, run: Run) -> None:
        ref = words(reference)
        self.errors += edit_distance(ref, words(run.text))
        self.words += len(ref)
        self.audio_s += run.audio_s
        self.processing_s += run.processing_s
        self.cpu_s += run.cpu_s

    @property
    def wer(self) -> float:
        return self.errors / max(1, self.words)

    @property
    def speed(self) -> float:
        return self.processing_s / max(1e-9, self.audio_s)

    @property
    def idle_speed(self) -> float:
        """Speed factor on an otherwise idle 2-core machine, estimated from CPU time (both
        decoder threads busy): wall time is meaningless when other jobs share the CPUs."""
        return self.cpu_s / 2 / max(1e-9, self.audio_s)


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def espeak(text: str, dest: Path, voice: str = "en-us") -> Path:
    run(["espeak-ng", "-v", voice, "-w", str(dest), text])
    return dest


def narration(work: Path, voice: str) -> Path:
    """All sentences spoken in one take with pauses, encoded as Chrome records it (Opus)."""
    parts = [espeak(s, work / f"{voice}-{i}.wav", voice) for i, s in enumerate(BUG_REPORT)]
    listing = work / f"{voice}.txt"
    silence = work / "pause.wav"
    run(["ffmpeg", "-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-t", "0.7",
         str(silence)])  # fmt: skip
    listing.write_text("".join(f"file '{p}'\nfile '{silence}'\n" for p in parts))
    dest = work / f"narration-{voice}.webm"
    run(["ffmpeg", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c:a", "libopus",
         "-b:a", "64k", str(dest)])  # fmt: skip
    return dest


def concat(work: Path, sources: Sequence[Path], name: str, seconds: float | None = None) -> Path:
    listing = work / f"{name}.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in sources))
    dest = work / f"{name}.webm"
    limit = ["-t", str(seconds)] if seconds else []
    run(["ffmpeg", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), *limit,
         "-ar", "48000", "-ac", "1", "-c:a", "libopus", "-b:a", "64k", str(dest)])  # fmt: skip
    return dest


def librivox() -> list[tuple[Path, str]]:
    """(wav, transcript) pairs from pocketsphinx-testdata's LibriVox excerpt."""
    pairs = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        match = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
        if match:
            pairs.append((LIBRIVOX / f"{match.group(2)}.wav", match.group(1).strip()))
    return pairs


def transcribe(
    transcriber: LocalTranscriber, path: Path, context: TranscriptionContext | None = None
) -> Run:
    cpu = time.process_time()
    result = transcriber.transcribe(path, context=context)
    return Run(result.text, result.duration_s, result.processing_s, time.process_time() - cpu)


def bench_model(model: str, work: Path, long: bool) -> dict[str, Score]:
    model_dir(model, models_root(), install=True)
    transcriber = LocalTranscriber(model, models_root=models_root())
    us = narration(work, "en-us")
    reference = " ".join(BUG_REPORT)
    scores = {name: Score() for name in ("synthetic", "synthetic+context", "real read")}
    transcribe(transcriber, us)  # warm-up: model load and first-call allocations
    scores["synthetic"].add(reference, transcribe(transcriber, us))
    scores["synthetic+context"].add(reference, transcribe(transcriber, us, CAPTURE_CONTEXT))
    for wav, text in librivox():
        scores["real read"].add(text, transcribe(transcriber, wav))
    clip = concat(work, [us], "clip35", seconds=35.0)
    scores["35 s clip"] = Score()
    scores["35 s clip"].add("", transcribe(transcriber, clip))
    if long:
        gb = narration(work, "en-gb")
        sources = [us, *[wav for wav, _ in librivox()], gb, us]
        recording = concat(work, sources, "long")
        scores["long recording"] = Score()
        scores["long recording"].add("", transcribe(transcriber, recording))
    return scores


def ocr_page(dark: bool) -> str:
    bg, fg, muted, button = (
        ("#1e1e1e", "#d4d4d4", "#9aa0a6", "#3a7bd5")
        if dark
        else ("#ffffff", "#202124", "#5f6368", "#1a73e8")
    )
    body = "\n".join(f"<p>{html.escape(line)}</p>" for line in OCR_LINES)
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{background:{bg}; color:{fg}; font-family:'DejaVu Sans',sans-serif; font-size:15px;
       margin:40px}}
p {{margin:10px 0}} p:nth-child(2) {{color:{muted}}}
p:nth-child(3) {{font-size:24px; font-weight:bold}}
p:nth-child(10) {{display:inline-block; background:{button}; color:#fff; padding:8px 16px;
                  border-radius:4px}}
</style></head><body>{body}</body></html>"""


def screenshot(page: str, work: Path, name: str) -> Path:
    source = work / f"{name}.html"
    source.write_text(page, encoding="utf-8")
    dest = work / f"{name}.png"
    profile = tempfile.mkdtemp(dir=work)
    run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={dest}", "--window-size=1280,800",
         source.as_uri()])  # fmt: skip
    return dest


def cer(reference: str, hypothesis: str) -> float:
    ref = " ".join(reference.split())
    return edit_distance(ref, " ".join(hypothesis.split())) / max(1, len(ref))


def bench_ocr(work: Path) -> dict[str, tuple[float, float]]:
    """theme → (character error rate, seconds)."""
    results = {}
    for theme in ("light", "dark"):
        image = screenshot(ocr_page(theme == "dark"), work, theme)
        result = ocr_image(image)
        results[theme] = (cer("\n".join(OCR_LINES), result.text), result.processing_s)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["base", "tiny.en"])
    parser.add_argument("--no-long", action="store_true", help="skip the >= 3 min recording")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as scratch:
        work = Path(scratch)
        print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(f"{'model':8} {'corpus':18} {'WER':>7} {'words':>6} {'audio s':>8} "
              f"{'proc s':>7} {'speed':>6} {'idle speed':>10}", flush=True)  # fmt: skip
        for model in args.models:
            started = time.perf_counter()
            for corpus, score in bench_model(model, work, not args.no_long).items():
                wer = f"{100 * score.wer:6.1f}%" if score.words else "      -"
                print(f"{model:8} {corpus:18} {wer} {score.words:6d} {score.audio_s:8.1f} "
                      f"{score.processing_s:7.2f} {score.speed:6.3f} {score.idle_speed:10.3f}",
                      flush=True)  # fmt: skip
            print(f"{model:8} (benchmark wall time {time.perf_counter() - started:.0f} s)")
        if shutil.which("chromium"):
            for theme, (rate, seconds) in bench_ocr(work).items():
                print(f"OCR {theme:5} screenshot: CER {100 * rate:.2f}% in {seconds:.2f} s")
        else:
            print("OCR: chromium not installed, skipped")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
