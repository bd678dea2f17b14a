from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ticketcreator.media.cli import app, models_root

runner = CliRunner()


@pytest.fixture(autouse=True)
def models_env(monkeypatch: pytest.MonkeyPatch, models_root: Path) -> None:
    monkeypatch.setenv("TC_MODELS__DIR", str(models_root))


def test_models_root_defaults_to_app_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TC_MODELS__DIR")
    assert models_root() == Path("var/models")


def test_transcribe_json(webm_live: Path, tmp_path: Path) -> None:
    vtt, srt = tmp_path / "c.vtt", tmp_path / "c.srt"
    result = runner.invoke(
        app,
        ["transcribe", str(webm_live), "--model", "tiny.en", "--json",
         "--vtt", str(vtt), "--srt", str(srt)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["text", "language", "duration_s", "processing_s", "segments"]
    assert "500" in data["text"]
    assert data["language"] == "en"
    assert data["duration_s"] > 5
    assert data["segments"][0]["text"]
    assert vtt.read_text().startswith("WEBVTT")
    assert srt.read_text().startswith("1\n")


def test_transcribe_without_audio_explains_on_stderr(webm_no_audio: Path) -> None:
    result = runner.invoke(app, ["transcribe", str(webm_no_audio), "--model", "tiny.en"])
    assert result.exit_code == 0
    assert "no transcript: no_audio_track" in result.stderr
    assert result.stdout.strip() == ""


def test_transcribe_rejects_unknown_model(webm: Path) -> None:
    result = runner.invoke(app, ["transcribe", str(webm), "--model", "large"])
    assert result.exit_code == 1
    assert "unknown model" in result.stderr


def test_transcribe_reports_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.webm"
    broken.write_bytes(b"\x1a\x45\xdf\xa3garbage")
    result = runner.invoke(app, ["transcribe", str(broken), "--model", "tiny.en", "--json"])
    assert result.exit_code == 1
    assert "error:" in result.stderr


def test_ocr_json(screenshot_light: Path) -> None:
    result = runner.invoke(app, ["ocr", str(screenshot_light), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["text", "processing_s"]
    assert "PAY-502" in data["text"]


def test_ocr_plain_text_and_errors(screenshot_light: Path, tmp_path: Path) -> None:
    assert "Payment failed" in runner.invoke(app, ["ocr", str(screenshot_light)]).stdout
    bogus = tmp_path / "bogus.png"
    bogus.write_text("no")
    result = runner.invoke(app, ["ocr", str(bogus)])
    assert result.exit_code == 1
