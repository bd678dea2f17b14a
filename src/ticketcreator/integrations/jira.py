"""Jira Cloud (and Data Center through the base URL): issues, transitions, comments, files.

An issue's external id is its key (``ACME-12``). The description is Atlassian Document
Format; priority and labels are mapped; our statuses map to Jira status names, reached by
the transition whose target has that name. Files are uploaded (``X-Atlassian-Token:
no-check``) up to the instance's limit, larger ones are listed as signed links. Every issue
carries a label ``ticketcreator-<ticket id>``, which finds it again (JQL search) after an
interrupted create; our comments carry an entity property with their marker.

Auth: an API token (basic, with the account e-mail) or OAuth 2.0 (3LO), whose access token
is refreshed with the rotating refresh token shortly before it expires (the new pair is
stored sealed). Webhooks: :mod:`.jira_webhooks`; the document format: :mod:`.jira_adf`.
"""

from __future__ import annotations

import base64
import time
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from ticketcreator.integrations.base import (
    AttachmentFile,
    Connection,
    IssueContent,
    Mappings,
    ProviderConfig,
    ProviderSecrets,
    RemoteIssue,
)
from ticketcreator.integrations.http import Rejected
from ticketcreator.integrations.jira_adf import adf_description, adf_text
from ticketcreator.integrations.jira_webhooks import COMMENT_PROPERTY, JiraWebhooks
from ticketcreator.tickets.models import Priority, Status

_TOKEN_MARGIN_S = 60
_PAGE = 100


class JiraConfig(ProviderConfig):
    project_key: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,19}$", description="Project key.")
    issue_type: str = Field(default="Bug", min_length=1, max_length=100)
    auth: Literal["basic", "oauth"] = Field(
        default="basic", description="`basic`: e-mail + API token; `oauth`: OAuth 2.0 (3LO)."
    )
    email: str | None = Field(default=None, max_length=320, description="Account (auth basic).")
    site_url: str | None = Field(
        default=None,
        description="Where people open issues (`https://acme.atlassian.net`); default base URL.",
    )
    oauth_client_id: str | None = Field(default=None, max_length=200)
    token_url: str = Field(default="https://auth.atlassian.com/oauth/token", max_length=2000)
    max_attachment_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Files above the instance's limit go as links."
    )

    @model_validator(mode="after")
    def _auth_fields(self) -> JiraConfig:
        if self.auth == "basic" and not self.email:
            raise ValueError("auth `basic` needs email")
        if self.auth == "oauth" and not self.oauth_client_id:
            raise ValueError("auth `oauth` needs oauth_client_id")
        return self


class JiraSecrets(ProviderSecrets):
    api_token: SecretStr | None = Field(default=None, description="API token (auth basic).")
    oauth_client_secret: SecretStr | None = None
    oauth_access_token: SecretStr | None = None
    oauth_refresh_token: SecretStr | None = None
    oauth_expires_at: float | None = Field(default=None, description="Unix time.")


def marker_label(content_marker: str) -> str:
    return "ticketcreator-" + content_marker.rsplit(":", 1)[-1].replace("-", "")


class JiraProvider(JiraWebhooks):
    key: ClassVar[str] = "jira"
    title: ClassVar[str] = "Jira"
    default_base_url: ClassVar[str] = "https://your-domain.atlassian.net"
    Config: ClassVar[type[ProviderConfig]] = JiraConfig
    Secrets: ClassVar[type[ProviderSecrets]] = JiraSecrets

    def default_mappings(self) -> Mappings:
        return Mappings(
            status_outbound={
                Status.OPEN: "To Do",
                Status.IN_PROGRESS: "In Progress",
                Status.WAITING: "In Progress",
                Status.RESOLVED: "Done",
                Status.CLOSED: "Done",
            },
            status_inbound={
                "To Do": Status.OPEN,
                "In Progress": Status.IN_PROGRESS,
                "Done": Status.RESOLVED,
            },
            priority={
                Priority.LOW: "Low",
                Priority.NORMAL: "Medium",
                Priority.HIGH: "High",
                Priority.URGENT: "Highest",
            },
        )

    def check_secrets(self, config: Any, secrets: Any) -> str | None:
        if config.auth == "basic" and secrets.api_token is None:
            return "auth `basic` needs the secret `api_token`"
        if config.auth == "oauth" and (
            secrets.oauth_refresh_token is None or secrets.oauth_client_secret is None
        ):
            return "auth `oauth` needs `oauth_client_secret` and `oauth_refresh_token`"
        return None

    async def authenticate(self, connection: Connection) -> dict[str, str]:
        config, secrets = connection.config, connection.secrets
        if config.auth == "basic":
            pair = f"{config.email}:{secrets.api_token.get_secret_value()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if (
            secrets.oauth_access_token is None
            or (secrets.oauth_expires_at or 0) - _TOKEN_MARGIN_S < time.time()
        ):
            await self._refresh(connection)
        token = connection.secrets.oauth_access_token.get_secret_value()
        return {"Authorization": f"Bearer {token}"}

    async def _refresh(self, connection: Connection) -> None:
        config, secrets = connection.config, connection.secrets
        response = await connection.http.request(
            "POST",
            config.token_url,
            json={
                "grant_type": "refresh_token",
                "client_id": config.oauth_client_id,
                "client_secret": secrets.oauth_client_secret.get_secret_value(),
                "refresh_token": secrets.oauth_refresh_token.get_secret_value(),
            },
            expect=(200,),
        )
        body = response.json()
        refreshed = secrets.model_copy(
            update={
                "oauth_access_token": SecretStr(str(body["access_token"])),
                "oauth_refresh_token": SecretStr(
                    str(body.get("refresh_token") or secrets.oauth_refresh_token.get_secret_value())
                ),
                "oauth_expires_at": time.time() + float(body.get("expires_in", 3600)),
            }
        )
        connection.secrets = refreshed
        await connection.save_secrets(refreshed)

    def _browse(self, connection: Connection, key: str) -> str:
        site = (connection.config.site_url or connection.base_url).rstrip("/")
        return f"{site}/browse/{key}"

    def _links(self, connection: Connection, content: IssueContent) -> list[tuple[str, str]]:
        limit = connection.config.max_attachment_bytes
        return [(f.filename, f.url) for f in content.attachments if f.size > limit]

    def desired_state(self, content: IssueContent) -> dict[str, Any]:
        return {
            "title": content.title,
            "body": content.body_fingerprint,
            "status": content.vendor_status,
            "labels": sorted({*content.labels, marker_label(content.marker)}),
            "priority": content.priority,
            "assignees": sorted(content.assignees),
            "files": sorted(f.filename for f in content.attachments),
        }

    def _fields(
        self, connection: Connection, content: IssueContent, changed: frozenset[str]
    ) -> dict[str, Any]:
        desired = self.desired_state(content)
        fields: dict[str, Any] = {}
        if "title" in changed:
            fields["summary"] = content.title[:255]
        if "body" in changed:
            links = self._links(connection, content)
            fields["description"] = adf_description(content.summary, content.ticket_key, links)
        if "labels" in changed:
            fields["labels"] = desired["labels"]
        if "priority" in changed and content.priority:
            fields["priority"] = {"name": content.priority}
        return fields

    async def check_connection(self, connection: Connection) -> str:
        response = await connection.http.request(
            "GET", "/rest/api/3/myself", headers=await self.authenticate(connection), expect=(200,)
        )
        user = response.json()
        return str(user.get("displayName") or user.get("accountId") or "Jira user")

    async def get_issue(self, connection: Connection, external_id: str) -> RemoteIssue:
        response = await connection.http.request(
            "GET",
            f"/rest/api/3/issue/{external_id}",
            headers=await self.authenticate(connection),
            params={"fields": "summary,status,labels,priority"},
            expect=(200,),
        )
        issue = response.json()
        fields = issue.get("fields") or {}
        return RemoteIssue(
            external_id=str(issue["key"]),
            url=self._browse(connection, str(issue["key"])),
            state={
                "title": fields.get("summary"),
                "status": (fields.get("status") or {}).get("name"),
                "labels": sorted(fields.get("labels") or []),
                "priority": (fields.get("priority") or {}).get("name"),
            },
        )

    async def create_issue(self, connection: Connection, content: IssueContent) -> RemoteIssue:
        every = frozenset({"title", "body", "labels", "priority"})
        fields = {
            "project": {"key": connection.config.project_key},
            "issuetype": {"name": connection.config.issue_type},
            **self._fields(connection, content, every),
        }
        response = await connection.http.request(
            "POST",
            "/rest/api/3/issue",
            headers=await self.authenticate(connection),
            json={"fields": fields},
            expect=(201,),
        )
        key = str(response.json()["key"])
        state = {k: v for k, v in self.desired_state(content).items() if k in every}
        # a new issue starts in the workflow's first status; assignee and files follow
        state |= {"status": None, "assignees": [], "files": []}
        return RemoteIssue(external_id=key, url=self._browse(connection, key), state=state)

    async def find_issue(self, connection: Connection, content: IssueContent) -> RemoteIssue | None:
        """JQL search for the ticket's label."""
        project = connection.config.project_key
        response = await connection.http.request(
            "POST",
            "/rest/api/3/search/jql",
            headers=await self.authenticate(connection),
            json={
                "jql": f'project = "{project}" AND labels = "{marker_label(content.marker)}"',
                "fields": ["status"],
                "maxResults": 1,
            },
            expect=(200,),
        )
        issues = response.json().get("issues") or []
        if not issues:
            return None
        found = await self.get_issue(connection, str(issues[0]["key"]))
        return RemoteIssue(found.external_id, found.url, {**found.state, "files": None})

    async def update_issue(
        self,
        connection: Connection,
        external_id: str,
        content: IssueContent,
        changed: frozenset[str],
    ) -> dict[str, Any]:
        headers = await self.authenticate(connection)
        desired = self.desired_state(content)
        fields = self._fields(connection, content, changed)
        state: dict[str, Any] = {}
        if fields:
            await connection.http.request(
                "PUT",
                f"/rest/api/3/issue/{external_id}",
                headers=headers,
                json={"fields": fields},
                expect=(204,),
            )
        state |= {k: desired[k] for k in ("title", "body", "labels", "priority") if k in changed}
        if "assignees" in changed:
            # Jira's description allows no null account: an unassigned ticket leaves the
            # issue's assignee as it is
            if content.assignees:
                await connection.http.request(
                    "PUT",
                    f"/rest/api/3/issue/{external_id}/assignee",
                    headers=headers,
                    json={"accountId": content.assignees[0]},
                    expect=(204,),
                )
            state["assignees"] = desired["assignees"]
        if "status" in changed:
            await self._transition(connection, external_id, content.vendor_status, headers)
            state["status"] = content.vendor_status
        if "files" in changed:
            state["files"] = await self._upload_new(connection, external_id, content, headers)
        return state

    async def _transition(
        self, connection: Connection, key: str, target: str, headers: dict[str, str]
    ) -> None:
        response = await connection.http.request(
            "GET", f"/rest/api/3/issue/{key}/transitions", headers=headers, expect=(200,)
        )
        for transition in response.json().get("transitions", []):
            to = transition.get("to") or {}
            if str(to.get("name", "")).casefold() == target.casefold():
                await connection.http.request(
                    "POST",
                    f"/rest/api/3/issue/{key}/transitions",
                    headers=headers,
                    json={"transition": {"id": str(transition["id"])}},
                    expect=(204,),
                )
                return
        current = (await self.get_issue(connection, key)).state.get("status")
        if str(current).casefold() != target.casefold():  # else it is there already
            raise Rejected(f"{key}: no transition leads to status {target!r}", 409)

    async def _upload_new(
        self, connection: Connection, key: str, content: IssueContent, headers: dict[str, str]
    ) -> list[str]:
        """Upload files the issue does not have yet; returns every file name it has."""
        response = await connection.http.request(
            "GET",
            f"/rest/api/3/issue/{key}",
            headers=headers,
            params={"fields": "attachment"},
            expect=(200,),
        )
        present = {
            str(a.get("filename"))
            for a in (response.json().get("fields") or {}).get("attachment") or []
        }
        for attachment in content.attachments:
            if attachment.filename not in present:
                await self.attach(connection, key, attachment)
        return sorted(f.filename for f in content.attachments)

    async def attach(
        self, connection: Connection, external_id: str, attachment: AttachmentFile
    ) -> bool:
        if attachment.size > connection.config.max_attachment_bytes:
            return False
        data = await attachment.read()
        await connection.http.request(
            "POST",
            f"/rest/api/3/issue/{external_id}/attachments",
            headers={**await self.authenticate(connection), "X-Atlassian-Token": "no-check"},
            files={"file": (attachment.filename, data, attachment.content_type)},
            expect=(200,),
        )
        return True

    async def add_comment(
        self, connection: Connection, external_id: str, body: str, marker: str
    ) -> str:
        response = await connection.http.request(
            "POST",
            f"/rest/api/3/issue/{external_id}/comment",
            headers=await self.authenticate(connection),
            json={
                "body": adf_text(body),
                "properties": [{"key": COMMENT_PROPERTY, "value": {"marker": marker}}],
            },
            expect=(201,),
        )
        return str(response.json()["id"])

    async def find_comment(
        self, connection: Connection, external_id: str, marker: str
    ) -> str | None:
        start = 0
        while True:
            response = await connection.http.request(
                "GET",
                f"/rest/api/3/issue/{external_id}/comment",
                headers=await self.authenticate(connection),
                params={"startAt": start, "maxResults": _PAGE, "expand": "properties"},
                expect=(200,),
            )
            page = response.json()
            comments = page.get("comments") or []
            for comment in comments:
                for prop in comment.get("properties") or []:
                    if (
                        prop.get("key") == COMMENT_PROPERTY
                        and (prop.get("value") or {}).get("marker") == marker
                    ):
                        return str(comment["id"])
            start += len(comments)
            if not comments or start >= int(page.get("total", start)):
                return None
