"""Fake GitHub and Jira: real HTTP servers (Starlette on uvicorn, in a thread, on a free port).

Every request is checked against the vendor's own OpenAPI description (:mod:`.contract`):
violations are recorded (a test asserts there are none) and answered with 400. Answers are
built from the description's own response examples and validated against its response
schemas. Faults can be injected: one-off statuses (401, 404, 410, 422, 500), 429 with
``Retry-After``, answers slower than the client's timeout, a 500 *after* the effect happened
(the call went through but its answer was lost), or a random share of 500/429 (chaos).

A few calls the product makes are not in the cut-down descriptions (issue search, JQL
search, token endpoints); they are answered and listed in ``uncontracted``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import uvicorn
from jsonschema import Draft4Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.integrations import contract
from tests.support.services import free_port, wait_for_port


@dataclass
class Req:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    form: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    status: int = 500
    retry_after: float | None = None
    delay_s: float = 0.0
    after_effect: bool = False
    operation: str | None = None  # only requests of this operation id


Answer = tuple[int, Any, dict[str, str]]
Handler = Callable[[Req], Answer]


class FakeVendor:
    contract: contract.Contract

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.RLock()
        self.calls: list[tuple[str, str, str | None, int]] = []
        self.violations: list[str] = []
        self.uncontracted: set[str] = set()
        self.faults: list[Fault] = []
        self.chaos_rate = 0.0
        self.rng = random.Random(7)
        self.expected_auth: str | None = None
        self.handlers: dict[str, Handler] = {}
        self.extra: dict[tuple[str, str], Handler] = {}
        self._server: uvicorn.Server | None = None

    # lifecycle

    def start(self) -> None:
        app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._endpoint,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                )
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._server.run, daemon=True).start()
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    # fault injection

    def fail_next(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def _fault(self, operation: str | None) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.operation is None or fault.operation == operation:
                    return self.faults.pop(index)
            if self.chaos_rate and self.rng.random() < self.chaos_rate:
                roll = self.rng.random()
                if roll < 0.4:
                    return Fault(429, retry_after=1)
                return Fault(500, after_effect=roll > 0.8)
        return None

    # dispatch

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        path = "/" + request.path_params["path"]
        headers = dict(request.headers)
        query = dict(request.query_params)
        content_type = headers.get("content-type", "")
        operation, problems = self.contract.check_request(
            request.method, path, query, headers, body, content_type
        )
        req = Req(request.method, path, {}, query, headers, body)
        if content_type.startswith("multipart/form-data"):
            async with request.form() as form:
                req.form = {key: await _read(value) for key, value in form.multi_items()}
        handler: Handler | None = None
        if operation is not None:
            matched = self.contract.match(request.method, path)
            assert matched is not None
            req.params = matched[1]
            handler = self.handlers.get(operation)
        else:
            for (method, prefix), extra in self.extra.items():
                if method == request.method and path.startswith(prefix):
                    handler = extra
                    with self.lock:
                        self.uncontracted.add(f"{method} {prefix}")
        if handler is None:
            problems.append(f"{request.method} {path}: no such operation")
        if problems:
            with self.lock:
                self.violations += [f"{request.method} {path}: {p}" for p in problems]
                self.calls.append((request.method, path, operation, 400))
            return JSONResponse({"message": "; ".join(problems)}, status_code=400)
        assert handler is not None
        fault = self._fault(operation)
        if fault is not None and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault is not None and not fault.after_effect and not fault.delay_s:
            return self._record(req, operation, *self._fault_answer(fault))
        if (
            self.expected_auth is not None
            and operation is not None
            and headers.get("authorization") != self.expected_auth
        ):
            return self._record(req, operation, 401, {"message": "Bad credentials"}, {})
        with self.lock:
            status, payload, extra_headers = handler(req)
        if fault is not None and fault.after_effect:
            return self._record(req, operation, 500, {"message": "Server Error"}, {})
        if operation is not None:
            problems = self.contract.check_response(request.method, path, status, payload)
            if problems:
                with self.lock:
                    self.violations += [f"answer to {request.method} {path}: {p}" for p in problems]
        return self._record(req, operation, status, payload, extra_headers)

    def _fault_answer(self, fault: Fault) -> Answer:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(int(fault.retry_after))
            headers["X-RateLimit-Remaining"] = "0"
        return fault.status, {"message": f"injected {fault.status}"}, headers

    def _record(
        self, req: Req, operation: str | None, status: int, payload: Any, headers: dict[str, str]
    ) -> Response:
        with self.lock:
            self.calls.append((req.method, req.path, operation, status))
        if payload is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(payload, status_code=status, headers=headers)

    def count(self, operation: str, status: int | None = None) -> int:
        with self.lock:
            return sum(
                1
                for _, _, op, s in self.calls
                if op == operation and (status is None or s == status)
            )


async def _read(value: Any) -> Any:
    if hasattr(value, "read"):
        return (value.filename, await value.read(), value.content_type)
    return value


class FakeGitHub(FakeVendor):
    """Issues, comments and labels of any repository, numbered per repository."""

    TOKEN = "github_pat_test_token"

    def __init__(self) -> None:
        super().__init__()
        self.contract = contract.github()
        self.issues: dict[str, dict[str, Any]] = {}  # "owner/repo#n" -> issue
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.next_number: dict[str, int] = {}
        self.next_comment = 1000
        self.app_public_key: str | None = None
        self.expected_auth = f"Bearer {self.TOKEN}"
        self.handlers = {
            "issues/create": self._create,
            "issues/get": self._get,
            "issues/update": self._update,
            "issues/create-comment": self._comment,
            "issues/list-comments": self._list_comments,
            "issues/list-labels-for-repo": self._labels,
        }
        self.extra = {
            ("GET", "/search/issues"): self._search,
            ("POST", "/app/installations/"): self._app_token,
        }

    def _key(self, req: Req, number: Any = None) -> str:
        number = number if number is not None else req.params["issue_number"]
        return f"{req.params['owner']}/{req.params['repo']}#{number}"

    def _issue(self, req: Req, number: int, data: dict[str, Any]) -> dict[str, Any]:
        issue = self.contract.example("post", "/repos/{owner}/{repo}/issues", 201)
        label = self.contract.example("get", "/repos/{owner}/{repo}/labels", 200)[0]
        repo = f"{req.params['owner']}/{req.params['repo']}"
        issue.update(
            id=number * 7,
            number=number,
            title=str(data["title"]),
            body=data.get("body"),
            state="open",
            labels=[{**label, "name": name} for name in data.get("labels", [])],
            assignees=[],
            assignee=None,
            html_url=f"https://github.example/{repo}/issues/{number}",
            url=f"{self.base_url}/repos/{repo}/issues/{number}",
            closed_at=None,
        )
        issue.pop("state_reason", None)
        return issue

    def _create(self, req: Req) -> Answer:
        data = req.json()
        repo = f"{req.params['owner']}/{req.params['repo']}"
        number = self.next_number.get(repo, 0) + 1
        self.next_number[repo] = number
        issue = self._issue(req, number, data)
        self.issues[self._key(req, number)] = issue
        self.comments[self._key(req, number)] = []
        return 201, issue, {"Location": issue["url"]}

    def _get(self, req: Req) -> Answer:
        issue = self.issues.get(self._key(req))
        if issue is None:
            return 404, {"message": "Not Found"}, {}
        return 200, issue, {}

    def _update(self, req: Req) -> Answer:
        issue = self.issues.get(self._key(req))
        if issue is None:
            return 404, {"message": "Not Found"}, {}
        data = req.json()
        label = self.contract.example("get", "/repos/{owner}/{repo}/labels", 200)[0]
        for name in ("title", "body", "state", "state_reason"):
            if name in data:
                issue[name] = data[name]
        if "labels" in data:
            issue["labels"] = [{**label, "name": n} for n in data["labels"]]
        if "assignees" in data:
            user = self.contract.example("post", "/repos/{owner}/{repo}/issues", 201)["user"]
            issue["assignees"] = [{**user, "login": login} for login in data["assignees"]]
        return 200, issue, {}

    def _comment(self, req: Req) -> Answer:
        key = self._key(req)
        if key not in self.issues:
            return 404, {"message": "Not Found"}, {}
        comment = self.contract.example(
            "post", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 201
        )
        self.next_comment += 1
        comment.update(id=self.next_comment, body=req.json()["body"])
        self.comments[key].append(comment)
        return 201, comment, {}

    def _list_comments(self, req: Req) -> Answer:
        key = self._key(req)
        if key not in self.issues:
            return 404, {"message": "Not Found"}, {}
        per_page, page = int(req.query.get("per_page", 30)), int(req.query.get("page", 1))
        return 200, self.comments[key][(page - 1) * per_page : page * per_page], {}

    def _labels(self, req: Req) -> Answer:
        return 200, self.contract.example("get", "/repos/{owner}/{repo}/labels", 200), {}

    def _search(self, req: Req) -> Answer:
        query = req.query.get("q", "")
        wanted = query.split('"')[1] if '"' in query else ""
        items = [i for i in self.issues.values() if wanted and wanted in (i.get("body") or "")]
        return 200, {"total_count": len(items), "incomplete_results": False, "items": items}, {}

    def _app_token(self, req: Req) -> Answer:
        token = req.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            jwt.decode(token, self.app_public_key, algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            return 401, {"message": f"bad app JWT: {exc}"}, {}
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return 201, {"token": self.TOKEN, "expires_at": expires}, {}

    def issues_of(self, repo: str) -> list[dict[str, Any]]:
        with self.lock:
            return [i for k, i in self.issues.items() if k.startswith(repo + "#")]


_JIRA_TIME = "2026-12-03T10:00:00.000+0000"


class FakeJira(FakeVendor):
    """One Jira site: issues in any project, a To Do → In Progress → Done workflow."""

    EMAIL = "bot@example.com"
    API_TOKEN = "jira-api-token"
    STATUSES = ("To Do", "In Progress", "Done")

    def __init__(self) -> None:
        super().__init__()
        self.contract = contract.jira()
        pair = f"{self.EMAIL}:{self.API_TOKEN}".encode()
        self.expected_auth = "Basic " + base64.b64encode(pair).decode()
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.attachments: dict[str, list[tuple[str, bytes]]] = {}
        self.next_id = 10000
        self.refresh_tokens = {"refresh-1"}
        self.adf_errors: list[str] = []
        self.handlers = {
            "createIssue": self._create,
            "getIssue": self._get,
            "editIssue": self._edit,
            "getTransitions": self._transitions,
            "doTransition": self._do_transition,
            "addComment": self._add_comment,
            "getComments": self._get_comments,
            "addAttachment": self._attach,
            "assignIssue": self._assign,
            "getCurrentUser": self._myself,
        }
        self.extra = {
            ("POST", "/rest/api/3/search/jql"): self._search,
            ("POST", "/oauth/token"): self._token,
        }

    def _check_adf(self, document: Any, where: str) -> None:
        errors = [e.message for e in Draft4Validator(contract.adf_schema()).iter_errors(document)]
        if errors:
            self.adf_errors += [f"{where}: {e}" for e in errors[:3]]
            self.violations += [f"ADF {where}: {e}" for e in errors[:3]]

    def _create(self, req: Req) -> Answer:
        fields = req.json()["fields"]
        if "description" in fields:
            self._check_adf(fields["description"], "description")
        self.next_id += 1
        project = fields["project"]["key"]
        key = f"{project}-{self.next_id - 10000}"
        self.issues[key] = {
            "id": str(self.next_id),
            "summary": fields.get("summary"),
            "status": "To Do",
            "labels": list(fields.get("labels", [])),
            "priority": (fields.get("priority") or {}).get("name"),
            "description": fields.get("description"),
            "assignee": None,
        }
        self.comments[key] = []
        self.attachments[key] = []
        created = self.contract.example("post", "/rest/api/3/issue", 201)
        created.update(
            id=str(self.next_id), key=key, self=f"{self.base_url}/rest/api/3/issue/{self.next_id}"
        )
        created.pop("transition", None)
        return 201, created, {}

    def _issue_or_404(self, req: Req) -> dict[str, Any] | None:
        return self.issues.get(req.params["issueIdOrKey"])

    def _get(self, req: Req) -> Answer:
        issue = self._issue_or_404(req)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist"], "errors": {}}, {}
        key = req.params["issueIdOrKey"]
        attachment = self.contract.example(
            "post", "/rest/api/3/issue/{issueIdOrKey}/attachments", 200
        )[0]
        bean = {
            "id": issue["id"],
            "key": key,
            "self": f"{self.base_url}/rest/api/3/issue/{issue['id']}",
            "fields": {
                "summary": issue["summary"],
                "status": {"name": issue["status"]},
                "labels": issue["labels"],
                "priority": {"name": issue["priority"]},
                "attachment": [
                    {**attachment, "filename": n, "created": _JIRA_TIME}
                    for n, _ in self.attachments[key]
                ],
            },
        }
        return 200, bean, {}

    def _edit(self, req: Req) -> Answer:
        issue = self._issue_or_404(req)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist"], "errors": {}}, {}
        fields = req.json().get("fields", {})
        if "description" in fields:
            self._check_adf(fields["description"], "description")
            issue["description"] = fields["description"]
        if "summary" in fields:
            issue["summary"] = fields["summary"]
        if "labels" in fields:
            issue["labels"] = list(fields["labels"])
        if "priority" in fields:
            issue["priority"] = fields["priority"]["name"]
        return 204, None, {}

    def _transitions(self, req: Req) -> Answer:
        issue = self._issue_or_404(req)
        if issue is None:
            return 404, None, {}
        template = self.contract.example("get", "/rest/api/3/issue/{issueIdOrKey}/transitions", 200)
        base = template["transitions"][0]
        transitions = []
        for index, name in enumerate(self.STATUSES):
            if name != issue["status"]:
                transitions.append(
                    {
                        **base,
                        "id": str(11 + index),
                        "name": f"Move to {name}",
                        "to": {**base["to"], "name": name},
                    }
                )
        return 200, {"transitions": transitions}, {}

    def _do_transition(self, req: Req) -> Answer:
        issue = self._issue_or_404(req)
        if issue is None:
            return 404, None, {}
        index = int(req.json()["transition"]["id"]) - 11
        issue["status"] = self.STATUSES[index]
        return 204, None, {}

    def _add_comment(self, req: Req) -> Answer:
        key = req.params["issueIdOrKey"]
        if key not in self.issues:
            return 404, None, {}
        data = req.json()
        self._check_adf(data["body"], "comment")
        comment = self.contract.example("post", "/rest/api/3/issue/{issueIdOrKey}/comment", 201)
        self.next_id += 1
        comment.update(
            id=str(self.next_id), body=data["body"], properties=data.get("properties", [])
        )
        self.comments[key].append(comment)
        return 201, comment, {}

    def _get_comments(self, req: Req) -> Answer:
        key = req.params["issueIdOrKey"]
        if key not in self.issues:
            return 404, None, {}
        start, size = int(req.query.get("startAt", 0)), int(req.query.get("maxResults", 50))
        page = self.comments[key][start : start + size]
        return (
            200,
            {
                "comments": page,
                "startAt": start,
                "maxResults": size,
                "total": len(self.comments[key]),
            },
            {},
        )

    def _attach(self, req: Req) -> Answer:
        key = req.params["issueIdOrKey"]
        if key not in self.issues:
            return 404, None, {}
        if req.headers.get("x-atlassian-token") != "no-check":
            self.violations.append("addAttachment without X-Atlassian-Token: no-check")
            return 403, None, {}
        filename, data, _ = req.form["file"]
        self.attachments[key].append((filename, data))
        example = self.contract.example("post", "/rest/api/3/issue/{issueIdOrKey}/attachments", 200)
        # the description's own example has a numeric ``created``; its schema says string
        answer = {**example[0], "filename": filename, "size": len(data), "created": _JIRA_TIME}
        return 200, [answer], {}

    def _assign(self, req: Req) -> Answer:
        issue = self._issue_or_404(req)
        if issue is None:
            return 404, None, {}
        issue["assignee"] = req.json().get("accountId")
        return 204, None, {}

    def _myself(self, req: Req) -> Answer:
        return 200, self.contract.example("get", "/rest/api/3/myself", 200), {}

    def _search(self, req: Req) -> Answer:
        jql = req.json()["jql"]
        label = jql.rsplit('labels = "', 1)[-1].rstrip('"')
        found = [{"key": k, "id": i["id"]} for k, i in self.issues.items() if label in i["labels"]]
        return 200, {"issues": found[:1]}, {}

    def _token(self, req: Req) -> Answer:
        data = req.json()
        if data.get("refresh_token") not in self.refresh_tokens:
            return 403, {"error": "unauthorized_client"}, {}
        self.refresh_tokens = {f"refresh-{len(self.refresh_tokens) + 1}"}
        self.expected_auth = "Bearer access-token-2"
        return (
            200,
            {
                "access_token": "access-token-2",
                "refresh_token": next(iter(self.refresh_tokens)),
                "expires_in": 3600,
            },
            {},
        )
