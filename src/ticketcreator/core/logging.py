"""Structured logging: one JSON object per line, carrying the current request id.

Every line passes :class:`RedactSecrets`: the access log writes each request's query string,
and query strings carry credentials (signed-link ``signature=``, valid up to a day;
invitation ``token=``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from datetime import date
from datetime import time as dt_time
from typing import Any

import orjson

from ticketcreator.core.redact import redact_text

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _text(value: Any) -> str:
    """A value JSON has no type for, as a log line writes it: a time in ISO 8601 (as orjson
    writes it), anything else as its text."""
    return value.isoformat() if isinstance(value, date | dt_time) else str(value)


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with the request id and any ``extra={...}`` fields.

    Every request writes a line (the access log), so the line is built with the least work:
    the time's date and seconds are formatted once a second, and orjson writes it (times in
    ISO 8601, any value JSON has no type for as its text). What orjson refuses (an integer
    past 64 bits, a key that is not text) goes through one ``json`` encoder, built once."""

    _encode = json.JSONEncoder(default=_text).encode
    _second: tuple[int, str] = (-1, "")  # one attribute: threads never see half of it

    def _time(self, created: float) -> str:
        second = int(created)
        known, text = self._second
        if second != known:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int((created - second) * 1e6):06d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=_text).decode()
        except TypeError:
            return self._encode(entry)


_MASKED = "_ticketcreator_masked"  # set on a record RedactSecrets has masked


def _redacted(value: Any) -> Any:
    return redact_text(value)[0] if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Masks credentials in a record's arguments, its extra fields and an argument-less message.

    Arguments are masked one by one (not the formatted message) so formatters that read
    ``record.args`` themselves, as uvicorn's access formatter does, keep working. A record is
    masked once: the access loggers and the handler both carry the filter, and masking each
    access line twice cost every request a few per cent of its CPU.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MASKED, False):
            return True
        setattr(record, _MASKED, True)
        if isinstance(record.args, dict):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_redacted(arg) for arg in record.args)
        else:
            record.msg = _redacted(record.msg)
        for key, value in list(record.__dict__.items()):
            if key not in _RESERVED and isinstance(value, str):
                masked = _redacted(value)
                if masked is not value:
                    setattr(record, key, masked)
        return True


REDACTED_LOGGERS = ("ticketcreator.access",)
QUIET_LOGGERS = ("httpx", "httpcore")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


def configure_logging(level: str, json_format: bool) -> None:
    """Route every logger (ours, uvicorn's, celery's) through one handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets())
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.addFilter(_RequestIdFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # No format shows where a line was logged from, nor its thread, process or task; finding
    # them cost every line (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # Python 3.12, not in typeshed yet
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "celery"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The app writes each request's access line itself, with its request id
    # (core.middleware); uvicorn's would be a second line per request, which cost a ticket's
    # GET a tenth of its CPU. Without a handler, uvicorn does not even format it.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    for name in QUIET_LOGGERS:
        # Their request lines print whole URLs, and a webhook's URL is often its credential
        # (Slack's incoming webhooks and response_url, customers' endpoints); our own code
        # records vendor calls without them (sync log, delivery log).
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in REDACTED_LOGGERS:
        # Also on the loggers: they keep masking if a server installs its own handlers.
        logger = logging.getLogger(name)
        if not any(isinstance(each, RedactSecrets) for each in logger.filters):
            logger.addFilter(RedactSecrets())
