"""FastAPI dependencies and parameters shared by the route modules of every domain."""

from __future__ import annotations

import types
from collections.abc import Sequence, Set
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import get_session


def public() -> None:
    """Route dependency that declares a route open to anonymous callers."""


Session = Annotated[AsyncSession, Depends(get_session)]
"""The request's database session, committed by :class:`~ticketcreator.core.db.UnitOfWorkRoute`."""

TicketRef = Annotated[
    str, Path(max_length=40, description="Ticket id, `T-<number>` or `<number>`.")
]
"""A ticket in a path: its id, ``T-<number>`` or the bare number."""


class QueryModel:
    """Route dependency: the query string validated as ``model``, as a FastAPI query parameter
    model (``Annotated[model, Query()]``) gives it, read in one pass.

    A repeated parameter fills a list field (any other field takes the last value), unknown
    parameters are refused when the model forbids extras, and errors are located in
    ``query``, as FastAPI does; FastAPI's generic reading inspected each field's annotation
    on every request, a twentieth of a ticket list's CPU. Declare the route with
    ``openapi_extra=query.openapi()`` so that its parameters are documented as FastAPI
    documents the model, and its 422 among its ``responses`` (FastAPI adds one only for the
    parameters it reads itself); take the dependency after the caller's, which is checked
    first.
    """

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.lists = frozenset(
            name for name, field in model.model_fields.items() if _is_sequence(field.annotation)
        )

    async def __call__(self, request: Request) -> BaseModel:
        given = request.query_params
        values = {
            name: given.getlist(name) if name in self.lists else given[name] for name in given
        }
        try:
            return self.model.model_validate(values)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in errors]
            ) from None

    def openapi(self) -> dict[str, Any]:
        """The ``openapi_extra`` of a route taking this dependency: the model's parameters,
        documented by FastAPI itself for a route that takes the model as its query."""
        return _documented_as(Annotated[self.model, Query()])


class HeaderValue:
    """Route dependency: the value of one optional request header, as sent (None without it),
    checked against ``constraints`` (those of a string field: ``min_length``,
    ``max_length``, ``pattern``) when given.

    FastAPI reads a header parameter by walking every header of the request and validating
    the value against its annotation, on every request: a twentieth of the CPU of a ticket's
    read or change by profile. This reads the one header. A value outside the constraints is
    refused with FastAPI's own error, located in ``header``. Declare the route with
    ``openapi_extra=header.openapi()`` so that the document lists it as FastAPI lists an
    optional ``str`` header parameter with those constraints.
    """

    def __init__(self, name: str, description: str | None = None, **constraints: Any) -> None:
        self.name, self.description, self.constraints = name, description, constraints
        self._key = name.lower()
        checked: Any = Annotated[str, Field(**constraints)]
        self._checked: TypeAdapter[str] | None = TypeAdapter(checked) if constraints else None

    async def __call__(self, request: Request) -> str | None:
        value = request.headers.get(self._key)
        if value is not None and self._checked is not None:
            try:
                self._checked.validate_python(value)
            except ValidationError as exc:
                errors = exc.errors(include_url=False)
                raise RequestValidationError(
                    [{**error, "loc": ("header", self.name, *error["loc"])} for error in errors]
                ) from None
        return value

    def openapi(self) -> dict[str, Any]:
        """The ``openapi_extra`` of a route taking this dependency: the header, documented by
        FastAPI itself for a route that takes it as a header parameter."""
        header = Header(alias=self.name, description=self.description, **self.constraints)
        return _documented_as(Annotated[str | None, header], optional=True)


def _documented_as(annotation: Any, *, optional: bool = False) -> dict[str, Any]:
    """The parameters FastAPI documents for a route taking one parameter of ``annotation``
    (with the default None when ``optional``)."""

    async def documented(parameter: Any) -> None:
        """A route taking the parameter."""

    documented.__annotations__ = {"parameter": annotation, "return": None}
    documented.__defaults__ = (None,) if optional else None
    probe = FastAPI()
    probe.get("/")(documented)
    paths = get_openapi(title="", version="", routes=probe.routes)["paths"]
    return {"parameters": paths["/"]["get"]["parameters"]}


def _is_sequence(annotation: Any) -> bool:
    """Whether a field takes every value of a repeated parameter (a list, tuple or set)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_sequence(argument) for argument in get_args(annotation))
    origin = get_origin(annotation) or annotation
    return (
        isinstance(origin, type)
        and issubclass(origin, (Sequence, Set))
        and not issubclass(origin, (str, bytes))
    )
