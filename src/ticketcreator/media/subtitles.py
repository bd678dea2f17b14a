"""WebVTT and SRT export of a transcript, so a recording plays with captions in the browser
(``<track>`` takes WebVTT) and in desktop players and editors (SRT)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ticketcreator.media.transcriber import Segment

_BLANK_LINES = re.compile(r"\s*\n\s*")


def _millis(seconds: float) -> tuple[int, int, int, int]:
    total = max(0, round(seconds * 1000))
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return hours, minutes, secs, millis


def vtt_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` (hours always written; WebVTT allows more than two digits)."""
    h, m, s, ms = _millis(seconds)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def srt_timestamp(seconds: float) -> str:
    """``HH:MM:SS,mmm``: SRT uses a comma before the milliseconds."""
    h, m, s, ms = _millis(seconds)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _one_line(text: str) -> str:
    """A blank line ends a cue in both formats, so cue text must not contain one."""
    return _BLANK_LINES.sub(" ", text.strip())


def _vtt_text(text: str) -> str:
    """WebVTT cue text is markup: ``&``, ``<`` and ``>`` must be entities (this also keeps
    a spoken "-->" from ending the timing line)."""
    return _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _srt_text(text: str) -> str:
    """SRT has no escapes but players interpret ``<i>``/``<font>`` tags: angle brackets are
    replaced by look-alikes so narrated text is shown as said."""
    return _one_line(text).replace("<", "\u2039").replace(">", "\u203a")


def _cues(segments: Iterable[Segment]) -> list[Segment]:
    cues = []
    for seg in segments:
        if seg.text.strip():
            cues.append(Segment(seg.start, max(seg.start, seg.end), seg.text))
    return cues


def to_webvtt(segments: Iterable[Segment]) -> str:
    blocks = ["WEBVTT"]
    for seg in _cues(segments):
        timing = f"{vtt_timestamp(seg.start)} --> {vtt_timestamp(seg.end)}"
        blocks.append(f"{timing}\n{_vtt_text(seg.text)}")
    return "\n\n".join(blocks) + "\n"


def to_srt(segments: Iterable[Segment]) -> str:
    blocks = []
    for index, seg in enumerate(_cues(segments), start=1):
        timing = f"{srt_timestamp(seg.start)} --> {srt_timestamp(seg.end)}"
        blocks.append(f"{index}\n{timing}\n{_srt_text(seg.text)}")
    return "\n\n".join(blocks) + "\n" if blocks else ""
