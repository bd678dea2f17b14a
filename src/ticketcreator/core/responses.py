"""Responses a route writes itself, from JSON it already has.

A route that returns a model has FastAPI dump it to a dict, validate that dict against the
response model again and write it: for a ticket that is most of the answer's cost, for a
page of 25 of them 190 µs of CPU (bench/request_cpu.py). A route holding JSON that reads
exactly as its response model writes it (the model's own serialiser, or rows written as it
writes them, with a test holding the two equal) returns it through :func:`json_response`.
The route keeps ``response_model`` for its documentation.
"""

from __future__ import annotations

from fastapi import Response


def json_response(content: bytes, answered: Response, status_code: int = 200) -> Response:
    """``content`` (JSON) as the response, with every header the request's dependencies and
    its route set on ``answered`` (the route's ``Response`` parameter: ``ETag``,
    ``Location``), as FastAPI adds them to a response it writes; with ``answered``'s status
    code when one was set there, otherwise ``status_code``. Headers every answer carries (the
    rate limit's) are added by :func:`ticketcreator.core.middleware.answer_with`."""
    response = Response(
        content, status_code=answered.status_code or status_code, media_type="application/json"
    )
    response.headers.raw.extend(answered.headers.raw)
    return response
