"""Settings changed for one test: environment variables, and the cached settings reloaded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ticketcreator.core.config import get_settings


@contextmanager
def overridden(monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[None]:
    """``overridden(monkeypatch, TC_WEBHOOKS__TIMEOUT_S="1")``: in effect inside the block."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
