from __future__ import annotations

import pytest

from ticketcreator.media.subtitles import srt_timestamp, to_srt, to_webvtt, vtt_timestamp
from ticketcreator.media.transcriber import Segment


@pytest.mark.parametrize(
    ("seconds", "vtt", "srt"),
    [
        (0.0, "00:00:00.000", "00:00:00,000"),
        (1.2345, "00:00:01.234", "00:00:01,234"),
        (59.9996, "00:01:00.000", "00:01:00,000"),
        (3723.5, "01:02:03.500", "01:02:03,500"),
        (-0.2, "00:00:00.000", "00:00:00,000"),
        (100 * 3600.0, "100:00:00.000", "100:00:00,000"),
    ],
)
def test_timestamps(seconds: float, vtt: str, srt: str) -> None:
    assert vtt_timestamp(seconds) == vtt
    assert srt_timestamp(seconds) == srt


SEGMENTS = [
    Segment(0.5, 2.0, "Click <Save> & wait"),
    Segment(2.0, 1.5, "then --> it fails"),
    Segment(3.0, 4.0, "   "),
    Segment(4.0, 6.25, "line one\n\nline two"),
]


def test_webvtt_escapes_markup_and_keeps_cues_whole() -> None:
    assert to_webvtt(SEGMENTS) == (
        "WEBVTT\n\n"
        "00:00:00.500 --> 00:00:02.000\nClick &lt;Save&gt; &amp; wait\n\n"
        "00:00:02.000 --> 00:00:02.000\nthen --&gt; it fails\n\n"
        "00:00:04.000 --> 00:00:06.250\nline one line two\n"
    )


def test_srt_numbers_cues_and_neutralises_tags() -> None:
    assert to_srt(SEGMENTS) == (
        "1\n00:00:00,500 --> 00:00:02,000\nClick \u2039Save\u203a & wait\n\n"
        "2\n00:00:02,000 --> 00:00:02,000\nthen --\u203a it fails\n\n"
        "3\n00:00:04,000 --> 00:00:06,250\nline one line two\n"
    )


def test_empty_transcript() -> None:
    assert to_webvtt([]) == "WEBVTT\n"
    assert to_srt([]) == ""
