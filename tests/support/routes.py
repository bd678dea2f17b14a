"""The route-coverage gate: every route of the app must be called by some test.

The recorder wraps the ASGI app given to test clients and notes the (method, route
template) FastAPI matched for each request. When the whole suite ran, the session fails and
names each route no test called.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

_SELECTION_OPTIONS = ("keyword", "markexpr", "lf", "deselect", "last_failed_no_failures")


class RouteRecorder:
    def __init__(self) -> None:
        self.called: set[tuple[str, str]] = set()
        self.app: Any = None

    def wrap(self, app: Any) -> ASGIApp:
        self.app = app

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                route = scope.get("route")
                if isinstance(route, BaseRoute) and hasattr(route, "path"):
                    method = scope.get("method", "WEBSOCKET")
                    self.called.add((method, route.path))

        return recording

    @staticmethod
    def routes_of(app: Any) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for route in app.routes:
            if isinstance(route, Route):
                methods = route.methods or set()
                for method in methods:
                    if method != "HEAD" or "GET" not in methods:  # HEAD beside GET is implied
                        found.add((method, route.path))
            elif hasattr(route, "path") and type(route).__name__ == "APIWebSocketRoute":
                found.add(("WEBSOCKET", route.path))
        return found

    @staticmethod
    def whole_suite_ran(session: pytest.Session) -> bool:
        config = session.config
        if any(getattr(config.option, name, None) for name in _SELECTION_OPTIONS):
            return False
        testpaths = [str(config.rootpath / path) for path in config.getini("testpaths")]
        args = [str((config.invocation_params.dir / arg).resolve()) for arg in config.args]
        return not args or sorted(args) == sorted(testpaths)

    def missing(self) -> list[tuple[str, str]]:
        if self.app is None:
            from ticketcreator.main import create_app

            self.app = create_app()
        return sorted(self.routes_of(self.app) - self.called)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.whole_suite_ran(session) or session.testscollected == 0:
            return
        missing = self.missing()
        if missing:
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            lines = "\n".join(f"  {method} {path}" for method, path in missing)
            message = f"route coverage: {len(missing)} route(s) no test called:\n{lines}"
            if reporter is not None:
                reporter.write_line(message, red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
