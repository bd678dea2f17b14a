"""Entities of a ticket's text: URLs, error codes, HTTP statuses, request paths, exception
names and stack-trace frames. Pure regular expressions, fast enough for every ticket."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StackFrame:
    language: str  # "python", "javascript" or "java"
    file: str
    line: int
    function: str | None


@dataclass(frozen=True)
class Entities:
    urls: list[str] = field(default_factory=list)
    error_codes: list[str] = field(default_factory=list)
    http_statuses: list[int] = field(default_factory=list)
    api_paths: list[str] = field(default_factory=list)  # "POST /v1/orders", "/api/payments"
    exceptions: list[str] = field(default_factory=list)
    stack_frames: list[StackFrame] = field(default_factory=list)


_URL = re.compile(r"\bhttps?://[^\s<>\"'`)\]]+", re.IGNORECASE)
_ERROR_CODE = re.compile(
    r"\b(?:ERR_[A-Z0-9_]{2,}|E[A-Z]{3,}(?=\b)|[A-Z]{2,5}-\d{3,5}|E\d{3,5}|0x[0-9A-Fa-f]{8})\b"
)
# Only POSIX errno-like uppercase words (ECONNREFUSED) count from the E[A-Z]{3,} shape.
_ERRNO = frozenset(
    {
        "ECONNREFUSED",
        "ECONNRESET",
        "ETIMEDOUT",
        "ENOTFOUND",
        "ENOENT",
        "EACCES",
        "EPERM",
        "EADDRINUSE",
        "EPIPE",
        "EHOSTUNREACH",
        "ENETUNREACH",
        "EAI_AGAIN",
        "ENOSPC",
        "EMFILE",
    }
)
_HTTP_STATUS = re.compile(
    r"(?i)(?:\b(?:HTTP(?:/\d(?:\.\d)?)?|status(?:\s*code)?|code|error|returned|returns|got)"
    r"\s*[:=]?\s*([1-5]\d\d)\b|\b([45]\d\d)\s+\(?(?:Bad Request|Unauthorized|Forbidden|Not Found|"
    r"Method Not Allowed|Conflict|Gone|Too Many Requests|Internal Server Error|Bad Gateway|"
    r"Service Unavailable|Gateway Timeout)\b"
    # In prose: "returns a 404", "a 500 from /api/payments", "502s on POST /v1/orders".
    r"|\b(?:returned|returns|return|got|getting|gets|gives|giving|throws|throwing|receive[sd]?)"
    r"\s+(?:an?\s+)?([45]\d\d)\b"
    r"|\b([45]\d\d)(?:s\b|\s+(?:errors?|responses?|status|from|when|back)\b))"
)
# Request paths: after an HTTP method, or under a conventional API prefix.
_API_PATH = re.compile(
    r"(?:\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+)(/[\w.~%{}:@/-]*[\w}])"
    r"|(?<![\w/.:])(/(?:api|graphql|rest|rpc|v\d+)(?:/[\w.~%{}:@-]+)*/?)(?=[\s,;)\]'\"]|[.!?]?$|[.!?]\s)",
    re.MULTILINE,
)
_EXCEPTION = re.compile(
    r"\b((?:[a-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Fault|Interrupt|Exit|Warning))\b"
)
_PY_FRAME = re.compile(r'File "([^"]+)", line (\d+)(?:, in ([\w<>.]+))?')
_JS_FRAME = re.compile(
    r"\bat (?:([\w$.<>\[\] ]+?) \()?((?:https?://|webpack://|/|\w:)[^\s():]+):(\d+):\d+\)?"
)
_JAVA_FRAME = re.compile(r"\bat ([\w$.]+)\.([\w$<>]+)\(([\w$]+\.(?:java|kt|scala)):(\d+)\)")


def _unique[T](items: list[T]) -> list[T]:
    return list(dict.fromkeys(items))


_URL_LINE_COL = re.compile(r"(?<=[^/])(?::\d+){1,2}$")


def _clean_url(url: str) -> str:
    """Drop trailing punctuation and the ``:line:col`` a JS stack frame appends to a script URL."""
    url = url.rstrip(".,;:!?")
    has_path = url.split("://", 1)[-1].find("/") >= 0
    return _URL_LINE_COL.sub("", url) if has_path else url


def extract_entities(text: str) -> Entities:
    """URLs, error codes, HTTP statuses, request paths, exception names and stack-trace
    frames in ``text``."""
    urls = _unique([_clean_url(url) for url in _URL.findall(text)])
    codes = [
        code
        for code in _ERROR_CODE.findall(text)
        if not (code[0] == "E" and code[1:].isalpha() and code not in _ERRNO)
    ]
    statuses = [int("".join(groups)) for groups in _HTTP_STATUS.findall(text)]
    paths = [
        f"{method} {path}" if method else bare.rstrip(".")
        for method, path, bare in _API_PATH.findall(text)
    ]
    frames: list[StackFrame] = [
        StackFrame("python", path, int(line), func or None)
        for path, line, func in _PY_FRAME.findall(text)
    ]
    frames += [
        StackFrame("java", f"{cls}/{file}", int(line), f"{cls}.{method}")
        for cls, method, file, line in _JAVA_FRAME.findall(text)
    ]
    frames += [
        StackFrame("javascript", path, int(line), func.strip() or None)
        for func, path, line in _JS_FRAME.findall(text)
    ]
    return Entities(
        urls=urls,
        error_codes=_unique(codes),
        http_statuses=_unique(statuses),
        api_paths=_unique(paths),
        exceptions=_unique(_EXCEPTION.findall(text)),
        stack_frames=frames,
    )
