"""Summary and title of a bug report, from its text and the browser capture.

The summary states in one or two of the reporter's own sentences what is broken, where, and
the impact; then, from the capture when there is one, the steps to reproduce (what the
reporter clicked and typed), expected against actual behaviour, and the error lines (console
errors and failed requests), each once. Nothing is cut inside a word and no part of the
description is repeated (the tags are chosen in :mod:`ticketcreator.ai.tags`). Everything is
deterministic and needs no model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from ticketcreator.ai import text as analysis

_MAX_STEPS: Final = 12
_MAX_ERRORS: Final = 8
_MAX_TITLE: Final = 80
_MAX_LINE: Final = 240


@dataclass(frozen=True)
class CaptureFacts:
    """What the extension recorded on the reporter's page (one capture)."""

    page_url: str = ""
    page_title: str = ""
    steps: Sequence[Mapping[str, Any]] = ()
    console: Sequence[Mapping[str, Any]] = ()
    requests: Sequence[Mapping[str, Any]] = ()  # HAR entries


@dataclass(frozen=True)
class ReportSummary:
    overview: list[str]
    steps: list[str] = field(default_factory=list)
    expected: str = ""
    actual: str = ""
    errors: list[str] = field(default_factory=list)
    confidence: float = 0.0

    def as_text(self) -> str:
        parts = [" ".join(self.overview)] if self.overview else []
        if self.steps:
            numbered = [f"{i}. {step}" for i, step in enumerate(self.steps, 1)]
            parts.append("Steps to reproduce:\n" + "\n".join(numbered))
        if self.expected or self.actual:
            lines = [f"Expected: {self.expected}"] if self.expected else []
            lines += [f"Actual: {self.actual}"] if self.actual else []
            parts.append("\n".join(lines))
        if self.errors:
            parts.append("Errors:\n" + "\n".join(f"- {line}" for line in self.errors))
        return "\n\n".join(part for part in parts if part)


def clip(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` characters at a word boundary (never in a word)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if not text[limit - 1].isspace():
        cut = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return cut.rstrip(" ,;:-") + "…"


# Log text written into a description ("Console: TypeError: ...", "POST /api/x returned 500").
_ERROR_MESSAGE = re.compile(
    r"(?:Uncaught\s+(?:\(in\s+promise\)\s+)?)?\b((?:[A-Z]\w*)?(?:Error|Exception)\b:?[^\n]*?)"
    r"(?=\s+at\s+\S+:\d|\.\s|\.$|\n|$)"
)
_REQUEST = re.compile(
    r"\b(GET|POST|PUT|PATCH|DELETE)\s+(\S+?)\s*(?:->|→|returned|returns|returning|gave|gives|"
    r"responded\s+with|with|:)?\s*(?:an?\s+|status\s+|HTTP\s+)?([1-5]\d\d)\b(?:\s*\(([^)]+)\))?",
    re.IGNORECASE,
)
# Chrome's "Failed to load resource: the server responded with a status of 502 (Bad Gateway)".
_STATUS_URL = re.compile(r"status\s+of\s+([1-5]\d\d)\s*\(([^)]+)\)\s*(/\S+)?", re.IGNORECASE)
_LOG_PREFIX = re.compile(
    r"^\s*(?:console(?:\s+(?:says|shows|error))?|network(?:\s+tab)?|failed\s+request|"
    r"logcat|error\s+log)\s*:",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])|\n+")
_EXPECTED = re.compile(
    r"\b(?:i\s+)?(?:expected|expect|would\s+expect|should\s+(?!not\s+be\s+possible))\b",
    re.IGNORECASE,
)
_IMPACT = re.compile(
    r"\b(?:all|every\w*|nobody|no\s+one|none\s+of|whole|entire|customers?|users?|losing|lost|"
    r"can(?:no|')?t|unable|blocked|since|affected|deadline|today|tomorrow)\b",
    re.IGNORECASE,
)


def _request_line(method: str, url: str, status: int, text: str = "") -> str:
    path = urlsplit(url).path or url if "://" in url else url
    reason = f" {text}" if text else ""
    return f"{method.upper()} {path} → {status}{reason}"


def _capture_errors(captures: Sequence[CaptureFacts]) -> list[str]:
    lines: list[str] = []
    for capture in captures:
        for entry in capture.console:
            if entry.get("level") == "error" and str(entry.get("message", "")).strip():
                lines.append(str(entry["message"]).strip().splitlines()[0])
        for entry in capture.requests:
            request, response = entry.get("request", {}), entry.get("response", {})
            status = int(response.get("status", 0) or 0)
            if status >= 400 or status == 0:
                text = str(response.get("statusText", "") or ("no response" if not status else ""))
                lines.append(
                    _request_line(
                        str(request.get("method", "GET")), str(request.get("url", "")), status, text
                    )
                )
    return lines


def _text_errors(text: str) -> list[str]:
    lines = []
    for method, url, status, reason in _REQUEST.findall(text):
        lines.append(_request_line(method, url.rstrip(".,;"), int(status), reason))
    for match in _ERROR_MESSAGE.finditer(text):
        message = match.group(1).strip().rstrip(".,;")
        if ":" in message and len(message) > 12:
            lines.append(message)
    for status, reason, url in _STATUS_URL.findall(text):
        lines.append(f"{url} → {status} {reason}" if url else f"{status} {reason}")
    return lines


def _once(lines: Sequence[str]) -> list[str]:
    """Each error once: the same message (case and spacing aside) or a shorter copy of one kept
    line is dropped."""
    kept: list[str] = []
    keys: list[str] = []
    for line in lines:
        line = clip(line, _MAX_LINE)
        key = re.sub(r"\W+", " ", line.lower()).strip()
        if not key or any(key in other or other in key for other in keys):
            continue
        keys.append(key)
        kept.append(line)
    return kept[:_MAX_ERRORS]


def _steps(captures: Sequence[CaptureFacts]) -> list[str]:
    steps: list[str] = []
    for capture in captures:
        if capture.page_url and not capture.steps:
            continue
        for step in capture.steps:
            kind, label = step.get("type"), str(step.get("text") or "").strip()
            target = label or str(step.get("selector") or "").strip()
            if kind == "navigation" and step.get("url"):
                line = f"Open {step['url']}"
            elif kind == "click" and target:
                line = f'Click "{clip(target, 60)}"'
            elif kind == "input" and step.get("selector"):
                line = f"Fill in {step['selector']}"  # what was typed stays in the capture
            elif kind == "submit":
                line = "Submit the form"
            elif kind == "keypress" and label:
                line = f"Press {label}"
            else:
                continue
            if not steps or steps[-1] != line:
                steps.append(line)
        if steps and capture.page_url and not steps[0].startswith("Open "):
            steps.insert(0, f"Open {capture.page_url}")
    return steps[:_MAX_STEPS]


def _prose(description: str) -> list[str]:
    """The description's sentences that are the reporter's words, not pasted logs."""
    sentences = []
    for part in _SENTENCE.split(description):
        part = part.strip()
        if len(part) < 4 or _LOG_PREFIX.match(part):
            continue
        if _REQUEST.search(part) and len(analysis.words(part)) < 8:
            continue  # "POST /api/payments returned 500." is an error line, listed below
        if _ERROR_MESSAGE.search(part) and not re.search(r"\b(?:i|we|when|after)\b", part, re.I):
            continue
        sentences.append(part)
    return sentences


def _where(captures: Sequence[CaptureFacts], known: str) -> str:
    for capture in captures:
        page = capture.page_title.strip()
        path = urlsplit(capture.page_url).path if capture.page_url else ""
        if page and page.lower() not in known.lower():
            return f"on the page “{clip(page, 60)}”" + (
                f" ({path})" if path not in ("", "/") else ""
            )
        if path not in ("", "/") and path not in known:
            return f"on {path}"
    return ""


def summarize_report(
    title: str,
    description: str,
    captures: Sequence[CaptureFacts] = (),
    context: Sequence[str] = (),
) -> ReportSummary:
    """The summary of a bug report (see the module docstring)."""
    sentences = _prose(description)
    expected = next((s for s in sentences if _EXPECTED.search(s)), "")
    problem = next((s for s in sentences if s is not expected), "") or title.strip()
    impact = next((s for s in sentences if s not in (problem, expected) and _IMPACT.search(s)), "")
    overview = [clip(problem, _MAX_LINE)] if problem else []
    where = _where(captures, " ".join([title, description]))
    if overview and where:
        overview[0] = overview[0].rstrip(".!") + f" {where}."
    if impact:
        overview.append(clip(impact, _MAX_LINE))
    errors = _once(
        [
            *_capture_errors(captures),
            *_text_errors(description),
            *(line for text in context for line in _text_errors(text)),
        ]
    )
    steps = _steps(captures)
    actual = problem if expected and problem else ""
    confidence = 0.0 if not overview else 0.6 + 0.1 * bool(impact) + 0.1 * bool(errors or steps)
    return ReportSummary(
        overview=overview,
        steps=steps,
        expected=clip(expected, _MAX_LINE) if expected else "",
        actual=clip(actual, _MAX_LINE) if actual else "",
        errors=errors,
        confidence=round(confidence, 3),
    )


def suggested_title(
    title: str, description: str, captures: Sequence[CaptureFacts] = (), *, generated: bool = False
) -> str | None:
    """A title when the reporter's is empty or vague ("bug", "help", "doesn't work"), or was
    made by the extension; else None. It is the report's problem sentence, shortened at a word,
    with the page it happened on when the sentence does not say."""
    if not generated and analysis.title_problem(title) is None:
        return None
    sentences = _prose(description)
    if not sentences:
        errors = _once([*_capture_errors(captures), *_text_errors(description)])
        return clip(errors[0], _MAX_TITLE) if errors else None
    problem = sentences[0].rstrip(".!?")
    page = next((c.page_title.strip() for c in captures if c.page_title.strip()), "")
    if page and page.lower() not in problem.lower() and len(problem) + len(page) < _MAX_TITLE - 4:
        problem = f"{page}: {problem}"
    return clip(problem[:1].upper() + problem[1:], _MAX_TITLE)
