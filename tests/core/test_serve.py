"""`ticketcreator serve`: worker processes from settings, uvloop and httptools."""

from __future__ import annotations

import gc
import os
from typing import Any

import pytest
import uvicorn

from ticketcreator import cli, main
from ticketcreator.core.config import get_settings


def test_workers_come_from_the_option_then_settings_then_the_cpu_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli.server_workers(3) == 3
    monkeypatch.setenv("TC_API__WORKERS", "4")
    get_settings.cache_clear()
    try:
        assert cli.server_workers() == 4
        monkeypatch.delenv("TC_API__WORKERS")
        get_settings.cache_clear()
        assert cli.server_workers() == (os.cpu_count() or 1)
    finally:
        get_settings.cache_clear()


def test_serve_runs_uvloop_and_httptools(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    cli.serve(host=None, port=None, workers=2, reload=False)
    assert calls[0]["loop"] == "uvloop"
    assert calls[0]["http"] == "httptools"
    assert calls[0]["workers"] == 2
    assert calls[0]["proxy_headers"] is False, "the app trusts `api.trusted_proxies` only"
    assert calls[0]["ws_per_message_deflate"] is False, "no compressor per stream connection"


def test_the_served_app_keeps_its_startup_objects_out_of_collections() -> None:
    gc.unfreeze()
    try:
        app = main.create_served_app()
        assert app.routes
        assert gc.get_freeze_count() > 10_000  # the imports and the app's routes and models
    finally:
        gc.unfreeze()
