"""GitHub (github.com or GitHub Enterprise Server): issues, labels, assignees, comments.

An issue's external id is ``owner/repo#number``. The body is Markdown with the capture
summary and signed links to the files (GitHub has no attachment API); labels come from the
category, the priority and the tags. Auth is a fine-grained token, or a GitHub App whose
installation token is fetched with an RS256 app JWT and cached until shortly before it
expires. Webhooks (``issues``, ``issue_comment``) carry ``X-Hub-Signature-256``: the
HMAC-SHA256 of the raw body with the webhook secret, compared in constant time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

import jwt
from pydantic import Field, SecretStr, model_validator

from ticketcreator.integrations.base import (
    MARKER_PREFIX,
    Connection,
    InboundEvent,
    IssueContent,
    Mappings,
    ProviderConfig,
    ProviderSecrets,
    RemoteIssue,
    check_hub_signature,
)
from ticketcreator.integrations.http import Rejected
from ticketcreator.tickets.models import Priority, Status

_NAME = r"^[A-Za-z0-9_.-]{1,100}$"
_PAGE = 100
_TOKEN_MARGIN_S = 120


class GitHubConfig(ProviderConfig):
    owner: str = Field(pattern=_NAME, description="User or organization owning the repository.")
    repo: str = Field(pattern=_NAME, description="Repository the issues are created in.")
    auth: Literal["token", "app"] = Field(
        default="token", description="`token`: fine-grained token; `app`: GitHub App."
    )
    app_id: int | None = Field(default=None, ge=1, description="GitHub App id (auth `app`).")
    app_installation_id: int | None = Field(
        default=None, ge=1, description="The App's installation id on the repository owner."
    )

    @model_validator(mode="after")
    def _app_ids(self) -> GitHubConfig:
        if self.auth == "app" and (self.app_id is None or self.app_installation_id is None):
            raise ValueError("auth `app` needs app_id and app_installation_id")
        return self


class GitHubSecrets(ProviderSecrets):
    token: SecretStr | None = Field(default=None, description="Fine-grained personal token.")
    app_private_key: SecretStr | None = Field(
        default=None, description="The GitHub App's private key (PEM), for auth `app`."
    )


def _body_with_marker(body: str, hidden: str) -> str:
    return f"{body}\n\n<!-- {hidden} -->"


def _has_marker(text: str | None) -> bool:
    return bool(text) and MARKER_PREFIX in (text or "")


class GitHubProvider:
    key: ClassVar[str] = "github"
    title: ClassVar[str] = "GitHub"
    default_base_url: ClassVar[str] = "https://api.github.com"
    Config: ClassVar[type[ProviderConfig]] = GitHubConfig
    Secrets: ClassVar[type[ProviderSecrets]] = GitHubSecrets

    # installation id → (token, expiry); per process, refreshed before it expires
    _app_tokens: ClassVar[dict[str, tuple[str, float]]] = {}

    def default_mappings(self) -> Mappings:
        return Mappings(
            status_outbound={
                Status.OPEN: "open",
                Status.IN_PROGRESS: "open",
                Status.WAITING: "open",
                Status.RESOLVED: "closed",
                Status.CLOSED: "closed",
            },
            status_inbound={"open": Status.OPEN, "closed": Status.RESOLVED},
            priority={p: f"priority: {p.value}" for p in Priority},
        )

    def check_secrets(self, config: Any, secrets: Any) -> str | None:
        """What is missing for the chosen auth, or None."""
        if config.auth == "token" and secrets.token is None:
            return "auth `token` needs the secret `token`"
        if config.auth == "app" and secrets.app_private_key is None:
            return "auth `app` needs the secret `app_private_key`"
        return None

    async def authenticate(self, connection: Connection) -> dict[str, str]:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if connection.config.auth == "app":
            token = await self._installation_token(connection)
        else:
            token = connection.secrets.token.get_secret_value()
        headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _installation_token(self, connection: Connection) -> str:
        cache_key = f"{connection.installation_id}:{connection.config.app_installation_id}"
        cached = self._app_tokens.get(cache_key)
        if cached is not None and cached[1] - _TOKEN_MARGIN_S > time.time():
            return cached[0]
        now = int(time.time())
        app_jwt = jwt.encode(
            {"iat": now - 60, "exp": now + 540, "iss": str(connection.config.app_id)},
            connection.secrets.app_private_key.get_secret_value(),
            algorithm="RS256",
        )
        response = await connection.http.request(
            "POST",
            f"/app/installations/{connection.config.app_installation_id}/access_tokens",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {app_jwt}",
            },
            expect=(201,),
        )
        body = response.json()
        expires = time.time() + 3600
        if isinstance(body.get("expires_at"), str):
            expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")).timestamp()
        self._app_tokens[cache_key] = (str(body["token"]), expires)
        return str(body["token"])

    def _repo(self, connection: Connection) -> str:
        return f"/repos/{connection.config.owner}/{connection.config.repo}"

    def _number(self, connection: Connection, external_id: str) -> str:
        prefix = f"{connection.config.owner}/{connection.config.repo}#"
        if not external_id.startswith(prefix) or not external_id[len(prefix) :].isdigit():
            raise Rejected(f"{external_id!r} is not an issue of {prefix[:-1]}")
        return external_id[len(prefix) :]

    def _remote(self, connection: Connection, issue: dict[str, Any]) -> RemoteIssue:
        return RemoteIssue(
            external_id=f"{connection.config.owner}/{connection.config.repo}#{issue['number']}",
            url=str(issue.get("html_url") or ""),
            state={
                "title": issue.get("title"),
                "body": issue.get("body"),
                "status": issue.get("state"),
                "labels": sorted(
                    label["name"] if isinstance(label, dict) else str(label)
                    for label in issue.get("labels", [])
                ),
                "assignees": sorted(a["login"] for a in issue.get("assignees") or []),
            },
        )

    @staticmethod
    def _labels(content: IssueContent) -> list[str]:
        labels = list(content.labels)
        if content.priority:
            labels.append(content.priority)
        return sorted(dict.fromkeys(labels))

    def desired_state(self, content: IssueContent) -> dict[str, Any]:
        return {
            "title": content.title,
            "body": content.body_fingerprint,
            "status": content.vendor_status,
            "labels": self._labels(content),
            "assignees": sorted(content.assignees),
        }

    async def check_connection(self, connection: Connection) -> str:
        await connection.http.request(
            "GET",
            f"{self._repo(connection)}/labels",
            headers=await self.authenticate(connection),
            params={"per_page": 1},
            expect=(200,),
        )
        return f"{connection.config.owner}/{connection.config.repo}"

    async def get_issue(self, connection: Connection, external_id: str) -> RemoteIssue:
        response = await connection.http.request(
            "GET",
            f"{self._repo(connection)}/issues/{self._number(connection, external_id)}",
            headers=await self.authenticate(connection),
            expect=(200,),
        )
        return self._remote(connection, response.json())

    async def create_issue(self, connection: Connection, content: IssueContent) -> RemoteIssue:
        body: dict[str, Any] = {
            "title": content.title,
            "body": content.body_markdown,
            "labels": self._labels(content),
        }
        if content.assignees:
            body["assignees"] = content.assignees
        response = await connection.http.request(
            "POST",
            f"{self._repo(connection)}/issues",
            headers=await self.authenticate(connection),
            json=body,
            expect=(201,),
        )
        created = self._remote(connection, response.json())
        # what we sent, in the terms desired_state compares (the body by its fingerprint)
        state = self.desired_state(content) | {
            "status": created.state["status"],
            "assignees": created.state["assignees"],
        }
        return RemoteIssue(created.external_id, created.url, state)

    async def find_issue(self, connection: Connection, content: IssueContent) -> RemoteIssue | None:
        """Search the repository for the ticket's marker (the issue search API)."""
        owner, repo = connection.config.owner, connection.config.repo
        response = await connection.http.request(
            "GET",
            "/search/issues",
            headers=await self.authenticate(connection),
            params={"q": f'repo:{owner}/{repo} is:issue in:body "{content.marker}"'},
            expect=(200,),
        )
        for item in response.json().get("items", []):
            if content.marker in (item.get("body") or ""):
                return self._remote(connection, item)
        return None

    async def update_issue(
        self,
        connection: Connection,
        external_id: str,
        content: IssueContent,
        changed: frozenset[str],
    ) -> dict[str, Any]:
        desired = self.desired_state(content)
        values = {**desired, "body": content.body_markdown}
        body: dict[str, Any] = {
            f: values[f] for f in ("title", "body", "labels", "assignees") if f in changed
        }
        if "status" in changed:
            body["state"] = desired["status"]
            body["state_reason"] = "completed" if desired["status"] == "closed" else "reopened"
        response = await connection.http.request(
            "PATCH",
            f"{self._repo(connection)}/issues/{self._number(connection, external_id)}",
            headers=await self.authenticate(connection),
            json=body,
            expect=(200,),
        )
        response.json()
        return {field: desired[field] for field in changed}

    async def add_comment(
        self, connection: Connection, external_id: str, body: str, marker: str
    ) -> str:
        response = await connection.http.request(
            "POST",
            f"{self._repo(connection)}/issues/{self._number(connection, external_id)}/comments",
            headers=await self.authenticate(connection),
            json={"body": _body_with_marker(body, marker)},
            expect=(201,),
        )
        return str(response.json()["id"])

    async def find_comment(
        self, connection: Connection, external_id: str, marker: str
    ) -> str | None:
        path = f"{self._repo(connection)}/issues/{self._number(connection, external_id)}/comments"
        page = 1
        while True:
            response = await connection.http.request(
                "GET",
                path,
                headers=await self.authenticate(connection),
                params={"per_page": _PAGE, "page": page},
                expect=(200,),
            )
            comments = response.json()
            for comment in comments:
                if marker in (comment.get("body") or ""):
                    return str(comment["id"])
            if len(comments) < _PAGE:
                return None
            page += 1

    # Webhooks

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        check_hub_signature(headers.get("x-hub-signature-256"), body, secret, "X-Hub-Signature-256")

    def webhook_delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        return headers.get("x-github-delivery") or hashlib.sha256(body).hexdigest()

    def webhook_event_name(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        event = headers.get("x-github-event", "unknown")
        action = payload.get("action")
        return f"{event}.{action}" if isinstance(action, str) else event

    def parse_webhook(self, event: str, payload: dict[str, Any]) -> InboundEvent:
        issue = payload.get("issue") or {}
        repository = (payload.get("repository") or {}).get("full_name")
        if not repository or "number" not in issue:
            return InboundEvent(kind="ignored")
        external_id = f"{repository}#{issue['number']}"
        if event in ("issues.closed", "issues.reopened"):
            return InboundEvent(
                kind="status", external_issue_id=external_id, vendor_status=str(issue["state"])
            )
        if event == "issue_comment.created":
            comment = payload.get("comment") or {}
            body = comment.get("body") or ""
            return InboundEvent(
                kind="comment",
                external_issue_id=external_id,
                comment_id=str(comment.get("id")),
                comment_body=body,
                author=(comment.get("user") or {}).get("login"),
                from_us=_has_marker(body),
            )
        return InboundEvent(kind="ignored", external_issue_id=external_id)
