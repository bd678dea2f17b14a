"""CPU of reading a route's parameters: FastAPI's own reading against the dependencies of
:mod:`ticketcreator.core.deps` that replace it on the busiest routes.

FastAPI's dependency solving (``solve_dependencies``) runs on a request as a route would run
it, for two routes declared both ways: a ticket's change (its path and ``If-Match``, FastAPI's
header parameter against ``HeaderValue``) and the ticket list (the query string, FastAPI's
query parameter model against ``QueryModel``). It prints the µs per request of each, the
fastest of several rounds, in one process and without I/O, so that the difference is
measured apart from the noise of a loaded server.

    .venv/bin/python bench/parameters.py [--requests 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.dependencies.utils import get_dependant, solve_dependencies

from ticketcreator.core.deps import HeaderValue, QueryModel, TicketRef
from ticketcreator.tickets.schemas import TicketListQuery

IF_MATCH = HeaderValue("If-Match")
LIST_QUERY = QueryModel(TicketListQuery)


async def change_by_fastapi(
    ticket_ref: TicketRef,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> None:
    """A ticket's change, its header read by FastAPI."""


async def change_by_header_value(
    ticket_ref: TicketRef, if_match: Annotated[str | None, Depends(IF_MATCH)]
) -> None:
    """A ticket's change, its header read by ``HeaderValue``."""


async def list_by_fastapi(query: Annotated[TicketListQuery, Query()]) -> None:
    """The ticket list, its query read by FastAPI."""


async def list_by_query_model(query: Annotated[TicketListQuery, Depends(LIST_QUERY)]) -> None:
    """The ticket list, its query read by ``QueryModel``."""


# What wrk sends to bench/api.py: host, a bearer token, and a JSON body's headers.
HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"authorization", b"Bearer " + b"x" * 300),
    (b"content-type", b"application/json"),
    (b"content-length", b"22"),
]


async def per_request(call: Callable[..., Any], path: str, query: bytes, args: Any) -> float:
    """µs of dependency solving per request, the fastest round."""
    dependant = get_dependant(path="/v1/tickets/{ticket_ref}", call=call)
    fastest = float("inf")
    for _ in range(args.rounds):
        started = time.process_time()
        for _ in range(args.requests):
            stack = AsyncExitStack()
            scope = {
                "type": "http", "method": "GET", "path": path, "headers": HEADERS,
                "query_string": query, "path_params": {"ticket_ref": "T-1"},
                "fastapi_inner_astack": stack, "fastapi_function_astack": stack,
            }  # fmt: skip
            solved = await solve_dependencies(
                request=Request(scope),
                dependant=dependant,
                async_exit_stack=stack,
                embed_body_fields=False,
            )
            assert not solved.errors, solved.errors
        fastest = min(fastest, (time.process_time() - started) / args.requests * 1e6)
    return fastest


async def measure(args: argparse.Namespace) -> None:
    cases = [
        ("change: FastAPI header", change_by_fastapi, "/v1/tickets/T-1", b""),
        ("change: HeaderValue", change_by_header_value, "/v1/tickets/T-1", b""),
        ("list: FastAPI query model", list_by_fastapi, "/v1/tickets", b"status=open"),
        ("list: QueryModel", list_by_query_model, "/v1/tickets", b"status=open"),
    ]
    print(f"{'parameters read by':<28}{'us CPU per request':>20}")
    for name, call, path, query in cases:
        print(f"{name:<28}{await per_request(call, path, query, args):>20.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per case")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
