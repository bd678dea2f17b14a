"""Which access every route declares (:func:`~ticketcreator.core.deps.public` or an
:class:`~ticketcreator.accounts.auth.Authorizer`), and the credentials the OpenAPI document
shows for it."""

from __future__ import annotations

import dataclasses
import operator
from typing import Annotated

from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from starlette.routing import BaseRoute

from ticketcreator.accounts.auth import Authorizer, api_key_scheme, bearer_scheme
from ticketcreator.core.deps import public


async def _credentials(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header_key: Annotated[str | None, Depends(api_key_scheme)],
) -> None:
    """The credentials an :class:`Authorizer` reads, as security schemes (never called)."""


_CREDENTIALS = get_dependant(path="", call=_credentials).dependencies


def documented_credentials(dependant: Dependant) -> Dependant:
    """``dependant`` as the OpenAPI document sees it: each :class:`Authorizer` in it depends
    on the security schemes of the credentials it reads (``BearerAuth``, ``ApiKeyAuth``), so
    that FastAPI documents them, in its order, as when they were its sub-dependencies.
    ``dependant`` itself when it has no authorizer."""
    dependencies = [documented_credentials(dependency) for dependency in dependant.dependencies]
    if isinstance(dependant.call, Authorizer):
        dependencies[:0] = _CREDENTIALS
    elif all(map(operator.is_, dependencies, dependant.dependencies)):
        return dependant
    return dataclasses.replace(dependant, dependencies=dependencies)


def _declares_access(dependant: Dependant) -> bool:
    for dependency in dependant.dependencies:
        if dependency.call is public or isinstance(dependency.call, Authorizer):
            return True
        if _declares_access(dependency):
            return True
    return False


def is_public(dependant: Dependant) -> bool:
    """Whether the route was declared open to anonymous callers."""
    return any(
        dependency.call is public or is_public(dependency) for dependency in dependant.dependencies
    )


def undeclared_routes(routes: list[BaseRoute]) -> list[str]:
    """Routes that declare neither :func:`public` nor an :class:`Authorizer`."""
    return [
        f"{sorted(route.methods)} {route.path}"
        for route in routes
        if isinstance(route, APIRoute) and not _declares_access(route.dependant)
    ]
