"""Every route documents every error it can answer.

The errors a route can raise are read from the code: its endpoint and its dependencies (the
``Authorizer``), and every function of ``ticketcreator`` they call, followed through the call
graph. ``raise E(...)`` counts when ``E`` is an :class:`AppError` subclass (or a function
annotated to return one), less what an enclosing ``except`` catches. Each such error must be
named, by its problem type, in the operation's response for its status, which is where
:func:`ticketcreator.core.errors.documented` puts it.

Calls the code cannot resolve by name (a method of a local object, a callback) are not
followed. Two errors any route may answer are documented once, in the API description, and not
checked here: the 429 of the per-caller rate limit and the 503 ``concurrent-change`` of the
unit of work.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

import ticketcreator
from ticketcreator.accounts.auth import Authorizer
from ticketcreator.accounts.errors import NotAPerson, SlugTaken
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.deps import public
from ticketcreator.core.errors import AppError, Conflict, NotFound, documented
from ticketcreator.taxonomy.errors import InvalidCustomFields
from ticketcreator.tickets.errors import (
    InvalidAssignee,
    InvalidReference,
    InvalidTransition,
    StaleVersion,
)
from ticketcreator.uploads.errors import UploadLocked

_FOLLOWED = (ticketcreator.__name__ + ".", __name__)
"""Modules whose functions are followed: the product's, and this one's probes."""

_TICKET_FIELDS = (InvalidTransition, InvalidReference, InvalidAssignee, InvalidCustomFields)
"""What the shared change path of a ticket checks: status, references, assignee, fields."""

NOT_RAISED: dict[str, tuple[type[AppError], ...]] = {
    # These routes change one field through the ticket's shared change path, which checks
    # every field it is given: they never send a status, references or custom fields.
    "PUT /v1/tickets/{ticket_ref}/assignee": (
        InvalidTransition,
        InvalidReference,
        InvalidCustomFields,
    ),
    "DELETE /v1/tickets/{ticket_ref}/assignee": _TICKET_FIELDS,
    "POST /v1/tickets/{ticket_ref}/tags": _TICKET_FIELDS,
    "DELETE /v1/tickets/{ticket_ref}/tags/{tag_name}": _TICKET_FIELDS,
    # A suggestion sets a category, priority, type, title or tag, without If-Match.
    "POST /v1/tickets/{ticket_ref}/ai/suggestions/{suggestion_id}/accept": (
        InvalidTransition,
        InvalidAssignee,
        InvalidCustomFields,
        StaleVersion,
    ),
    # The first chunk goes to an upload no other request can see yet: nothing locks, moves
    # or removes it meanwhile.
    "POST /v1/uploads": (UploadLocked, Conflict, NotFound),
    # A linked issue's content signs its files' links for the longest lifetime allowed.
    "POST /v1/integrations/{installation_id}/tickets/{ticket_ref}/link": (AppError,),
    # Accepting creates no organization, and a bearer token always belongs to a person.
    "POST /v1/invitations/accept": (SlugTaken, NotAPerson),
}
"""Errors the call graph reaches but the route cannot answer, with the reason."""


def _own_function(obj: Any) -> types.FunctionType | None:
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if callable(obj):
        obj = inspect.unwrap(obj)
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType) and obj.__module__.startswith(_FOLLOWED):
        return obj
    return None


def _error_class(obj: Any) -> type[AppError] | None:
    return obj if isinstance(obj, type) and issubclass(obj, AppError) else None


class _Names:
    """What the names in one function's body refer to."""

    def __init__(self, function: types.FunctionType) -> None:
        self.values: dict[str, Any] = dict(function.__globals__)
        cells = function.__closure__ or ()
        for name, cell in zip(function.__code__.co_freevars, cells, strict=True):
            try:
                self.values[name] = cell.cell_contents
            except ValueError:  # an empty cell
                continue
        owner = function.__qualname__.split(".<locals>.")[-1].rpartition(".")[0]
        self.owner = self.values.get(owner) if owner and "." not in owner else None

    def resolve(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Name):
            if node.id in ("self", "cls") and self.owner is not None:
                return self.owner
            return self.values.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return None if base is None else getattr(base, node.attr, None)
        return None


class _Raises:
    """The errors functions can raise, themselves or through the functions they call."""

    def __init__(self) -> None:
        self.known: dict[types.FunctionType, frozenset[type[AppError]]] = {}
        self.running: set[types.FunctionType] = set()

    def of(self, obj: Any) -> frozenset[type[AppError]]:
        function = _own_function(obj)
        if function is None or function in self.running:
            return frozenset()
        if function not in self.known:
            self.running.add(function)
            try:
                self.known[function] = frozenset(self._function(function))
            finally:
                self.running.discard(function)
        return self.known[function]

    def _function(self, function: types.FunctionType) -> set[type[AppError]]:
        try:
            source = inspect.getsource(function)
        except OSError:  # generated code (dataclass methods)
            return set()
        definition = next(
            node
            for node in ast.walk(ast.parse(textwrap.dedent(source)))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        )
        return self._nodes(definition.body, _Names(function))

    def _nodes(self, nodes: Iterable[ast.AST], names: _Names) -> set[type[AppError]]:
        found: set[type[AppError]] = set()
        for node in nodes:
            found |= self._node(node, names)
        return found

    def _node(self, node: ast.AST, names: _Names) -> set[type[AppError]]:
        if isinstance(node, ast.Try | ast.TryStar):
            caught: list[type] = []
            for handler in node.handlers:
                kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                for kind in kinds:
                    resolved = BaseException if kind is None else names.resolve(kind)
                    if isinstance(resolved, type):
                        caught.append(resolved)
            body = self._nodes(node.body, names)
            escaping = {error for error in body if not issubclass(error, tuple(caught))}
            rest = [*node.handlers, *node.orelse, *node.finalbody]
            return escaping | self._nodes(rest, names)
        found: set[type[AppError]] = set()
        if isinstance(node, ast.Raise) and node.exc is not None:
            error = self._raised(node.exc, names)
            if error is not None:
                found.add(error)
        if isinstance(node, ast.Call):
            callee = names.resolve(node.func)
            if isinstance(callee, type) and not issubclass(callee, BaseException):
                callee = callee.__init__
            found |= self.of(callee)
        return found | self._nodes(ast.iter_child_nodes(node), names)

    @staticmethod
    def _raised(exc: ast.expr, names: _Names) -> type[AppError] | None:
        target = exc.func if isinstance(exc, ast.Call) else exc
        resolved = names.resolve(target)
        error = _error_class(resolved)
        if error is None and isinstance(target, ast.Attribute):  # Error.constructor(...)
            error = _error_class(names.resolve(target.value))
        function = _own_function(resolved)
        if error is None and function is not None:  # a function building the error
            error = _error_class(inspect.get_annotations(function, eval_str=True).get("return"))
        return error


def _dependency_calls(dependant: Dependant) -> Iterable[Any]:
    for dependency in dependant.dependencies:
        call = dependency.call
        if call is not None and not inspect.isroutine(call):
            call = type(call).__call__
        yield call
        yield from _dependency_calls(dependency)


def raised_by(route: APIRoute, raises: _Raises) -> set[type[AppError]]:
    """The errors a route's endpoint and dependencies can raise."""
    found = set(raises.of(route.endpoint))
    for call in _dependency_calls(route.dependant):
        found |= raises.of(call)
    return found


def undocumented_errors(app: FastAPI) -> dict[str, list[str]]:
    """Per operation, the ``<status> <problem type>`` it can answer but does not document."""
    document = app.openapi()
    raises = _Raises()
    missing: dict[str, list[str]] = {}
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        errors = raised_by(route, raises)
        for method in sorted(route.methods):
            name = f"{method} {route.path_format}"
            errors_here = errors - set(NOT_RAISED.get(name, ()))
            responses = document["paths"][route.path_format][method.lower()]["responses"]
            gaps = sorted(
                f"{error.status} {error.slug}"
                for error in errors_here
                if f"`{error.type_uri()}`"
                not in responses.get(str(error.status), {}).get("description", "")
            )
            if gaps:
                missing[name] = gaps
    return missing


def test_every_route_documents_every_error_it_can_raise(app: FastAPI) -> None:
    assert undocumented_errors(app) == {}


def test_every_exemption_is_still_reached(app: FastAPI) -> None:
    """An exemption the call graph no longer reaches is dropped, not kept by habit."""
    raises = _Raises()
    routes = {
        f"{method} {route.path_format}": route
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    for name, errors in NOT_RAISED.items():
        assert name in routes, name
        assert set(errors) <= raised_by(routes[name], raises), name


class _Gone(Conflict):
    slug = "probe-gone"
    title = "Probe gone"


def _lookup(found: bool) -> None:
    if not found:
        raise NotFound("no such thing")


def _refuse() -> _Gone:
    return _Gone("refused")


def test_an_undocumented_error_is_found() -> None:
    router = APIRouter()

    @router.get("/documented", responses=documented(NotFound), dependencies=[Depends(public)])
    async def fully_documented() -> None:
        _lookup(found=False)

    @router.get("/partly", responses=documented(NotFound))
    async def partly_documented(
        _: Any = Depends(Authorizer(Permission.TICKETS_READ)),
    ) -> None:
        try:
            _lookup(found=False)
        except NotFound:
            raise _refuse() from None

    @router.get("/caught", dependencies=[Depends(public)])
    async def caught() -> None:
        try:
            _lookup(found=False)
        except NotFound:
            return

    probe = FastAPI()
    probe.include_router(router)
    assert undocumented_errors(probe) == {
        "GET /partly": ["401 unauthorized", "403 forbidden", "409 probe-gone"]
    }


def test_errors_sharing_a_status_are_all_documented() -> None:
    class Taken(Conflict):
        slug = "probe-taken"
        title = "Probe taken"

    doc = documented(NotFound, _Gone, Taken, _Gone)
    assert list(doc) == [404, 409]
    conflict = doc[409]
    assert f"`{_Gone.type_uri()}`" in conflict["description"]
    assert f"`{Taken.type_uri()}`" in conflict["description"]
    examples = conflict["content"]["application/problem+json"]["examples"]
    assert [example["value"]["type"] for example in examples.values()] == [
        _Gone.type_uri(),
        Taken.type_uri(),
    ]
