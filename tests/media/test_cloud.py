"""The OpenAI client against a local fake server speaking the transcription endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ticketcreator.media.cloud import CloudTranscriptionError, OpenAITranscriber
from ticketcreator.media.probe import probe_media
from ticketcreator.media.transcriber import EmptyReason, TranscriptionContext


class FakeOpenAI(ThreadingHTTPServer):
    """Records each request; answers with ``status`` and ``body``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + raw
        )
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True)
            fields[str(name)] = (filename, payload) if filename else payload.decode()
        self.server.requests.append(
            {"path": self.path, "auth": self.headers["Authorization"], "fields": fields}
        )
        answer = json.dumps(self.server.body).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


VERBOSE = {
    "task": "transcribe",
    "language": "english",
    "duration": 5.2,
    "text": "The checkout page shows error 500.",
    "segments": [
        {"id": 0, "start": 1.0, "end": 3.0, "text": " The checkout page"},
        {"id": 1, "start": 3.0, "end": 5.2, "text": " shows error 500."},
    ],
}


def test_whisper_1_sends_only_audio_and_parses_segments(fake: FakeOpenAI, webm: Path) -> None:
    fake.body = VERBOSE
    progress: list[float] = []
    client = OpenAITranscriber(api_key="sk-test", base_url=fake.url + "/")
    context = TranscriptionContext(page_title="Checkout", error_texts=("PAY-502",))
    result = client.transcribe(webm, context=context, on_progress=progress.append)
    client.close()

    [request] = fake.requests
    assert request["path"] == "/v1/audio/transcriptions"
    assert request["auth"] == "Bearer sk-test"
    fields = request["fields"]
    assert fields["model"] == "whisper-1"
    assert fields["response_format"] == "verbose_json"
    assert fields["timestamp_granularities[]"] == "segment"
    assert fields["prompt"] == "Checkout. PAY-502."
    filename, audio = fields["file"]
    assert filename == "audio.ogg"
    assert audio.startswith(b"OggS")
    assert len(audio) < webm.stat().st_size / 4

    assert result.text == "The checkout page shows error 500."
    assert result.language == "en"
    assert result.duration_s == 5.2
    assert [(s.start, s.end, s.text) for s in result.segments] == [
        (1.0, 3.0, "The checkout page"),
        (3.0, 5.2, "shows error 500."),
    ]
    assert progress[-1] == 1.0


def test_gpt_4o_models_get_json_without_timings(fake: FakeOpenAI, speech_wav: Path) -> None:
    fake.body = {"text": "Pay now does nothing."}
    client = OpenAITranscriber(
        api_key="k", base_url=fake.url, model="gpt-4o-transcribe", language="en"
    )
    result = client.transcribe(speech_wav)
    fields = fake.requests[0]["fields"]
    assert fields["response_format"] == "json"
    assert fields["language"] == "en"
    assert "timestamp_granularities[]" not in fields
    assert "prompt" not in fields
    assert result.language == "en"
    [segment] = result.segments
    assert segment.start == 0.0
    assert segment.end == pytest.approx(probe_media(speech_wav).duration_s, abs=0.05)


def test_empty_text_is_no_speech(fake: FakeOpenAI, speech_wav: Path) -> None:
    fake.body = {"text": " "}
    result = OpenAITranscriber(api_key="k", base_url=fake.url).transcribe(speech_wav)
    assert result.empty_reason is EmptyReason.NO_SPEECH


def test_no_audio_track_makes_no_request(fake: FakeOpenAI, webm_no_audio: Path) -> None:
    result = OpenAITranscriber(api_key="k", base_url=fake.url).transcribe(webm_no_audio)
    assert result.empty_reason is EmptyReason.NO_AUDIO_TRACK
    assert fake.requests == []


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (401, False)])
def test_provider_errors(fake: FakeOpenAI, speech_wav: Path, status: int, retryable: bool) -> None:
    fake.status = status
    fake.body = {"error": {"message": "nope"}}
    with pytest.raises(CloudTranscriptionError, match=str(status)) as caught:
        OpenAITranscriber(api_key="k", base_url=fake.url).transcribe(speech_wav)
    assert caught.value.retryable is retryable


def test_unreachable_provider_is_retryable(speech_wav: Path) -> None:
    client = OpenAITranscriber(api_key="k", base_url="http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(CloudTranscriptionError) as caught:
        client.transcribe(speech_wav)
    assert caught.value.retryable
