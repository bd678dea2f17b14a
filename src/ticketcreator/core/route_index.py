"""Matching a request against the routes that could match its path, not against all of them."""

from __future__ import annotations

import functools

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send


def literal_prefix(route: BaseRoute) -> str:
    """What every path the route matches starts with: its path up to its first parameter
    (``""`` for a route without a path, which may match anything)."""
    path = getattr(route, "path_format", None)
    return path.partition("{")[0] if isinstance(path, str) else ""


def _key(path: str) -> str:
    """The first two segments of a path (``/v1/tickets`` of ``/v1/tickets/T-5``)."""
    return "/".join(path.split("/", 3)[:3])


class RouteIndex:
    """The dispatch of ``router`` (installed as its ``middleware_stack``).

    A request is matched only against the routes whose path starts as its own, in the
    router's order, and the first full match handles it, as the router would: a route left
    out could not have matched. Anything else (no full match, hence a 405, a redirect to the
    path with or without its trailing slash, or a 404; the lifespan) goes to the router's own
    dispatch, which walks every route. The app has some 170 routes; walking them cost a
    ticket's GET, the 50th, about 4 % of its CPU.

    The routes that may match are worked out per first two segments of a path, at the first
    request under them, and kept for the last 1,024 such beginnings.
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self.walk_all = router.app
        self._routes_under = functools.lru_cache(maxsize=1024)(self._may_match)

    def _may_match(self, key: str) -> tuple[tuple[str, BaseRoute], ...]:
        """The routes (with their literal prefix) that may match a path starting with ``key``:
        a path starts with both ``key`` and a route's prefix only if one starts the other."""
        routes = ((literal_prefix(route), route) for route in self.router.routes)
        return tuple(
            (prefix, route)
            for prefix, route in routes
            if key.startswith(prefix) or prefix.startswith(key)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            path = get_route_path(scope)
            for prefix, route in self._routes_under(_key(path)):
                if not path.startswith(prefix):
                    continue  # without its regular expression, which could not match either
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self.router)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.walk_all(scope, receive, send)
