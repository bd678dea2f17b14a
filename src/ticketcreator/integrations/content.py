"""A ticket as a vendor issue: title, capture summary, labels, priority, assignees, files.

Built once per sync from the ticket's current state (every sync sends the state, not the
event that triggered it). The capture summary says what a developer needs first: the page,
browser and OS, console errors, failed requests, the start of the narration, and signed links
to the files (GitHub has no attachment API; Jira gets links for files over its limit).
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.attachments import service as attachments
from ticketcreator.attachments.models import Attachment
from ticketcreator.attachments.schemas import ORIGINAL, SignedUrlRequest
from ticketcreator.captures import service as captures
from ticketcreator.captures.models import Capture
from ticketcreator.core.config import get_settings
from ticketcreator.integrations.base import (
    AttachmentFile,
    CaptureSummaryText,
    IssueContent,
    Mappings,
    marker,
)
from ticketcreator.storage import get_storage
from ticketcreator.taxonomy import lookups as taxonomy
from ticketcreator.tickets.models import Ticket
from ticketcreator.transcripts.models import TextSource, TextStatus

MAX_CONSOLE_ERRORS = 10
MAX_FAILED_REQUESTS = 10
TRANSCRIPT_EXCERPT = 600


def ticket_marker(ticket: Ticket) -> str:
    return marker("ticket", str(ticket.id))


def _facts(capture: Capture) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    if capture.page_url:
        facts.append(("Page", f"{capture.page_title} <{capture.page_url}>".strip()))
    for label, software in (("Browser", capture.browser), ("OS", capture.os)):
        text = f"{software.get('name', '')} {software.get('version', '')}".strip()
        if text:
            facts.append((label, text))
    if capture.viewport:
        facts.append(("Viewport", f"{capture.viewport['width']}x{capture.viewport['height']}"))
    return facts


def _console_errors(capture: Capture) -> list[str]:
    return [
        str(entry.get("message", ""))[:500]
        for entry in capture.console
        if entry.get("level") == "error"
    ][:MAX_CONSOLE_ERRORS]


def _failed_requests(capture: Capture) -> list[str]:
    failed = []
    for entry in capture.network.get("entries", []):
        status = int(entry.get("response", {}).get("status", 0))
        if status == 0 or status >= 400:
            request = entry.get("request", {})
            failed.append(f"{request.get('method', '?')} {request.get('url', '?')} → {status}")
    return failed[:MAX_FAILED_REQUESTS]


def _file(attachment: Attachment) -> AttachmentFile:
    ttl = get_settings().storage.signed_url_max_ttl_s
    link = attachments.signed_url(attachment, SignedUrlRequest(variant=ORIGINAL, ttl_s=ttl))
    key = attachment.storage_key

    async def read() -> bytes:
        chunks = [chunk async for chunk in await get_storage().open_range(key)]
        return b"".join(chunks)

    return AttachmentFile(
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size_bytes,
        url=link.url,
        read=read,
    )


async def _summary(
    session: AsyncSession, ticket: Ticket
) -> tuple[CaptureSummaryText, list[AttachmentFile]]:
    found, media, texts = await captures.with_media(session, ticket)
    files = [_file(a) for capture in found for a in media[capture.id]]
    transcript = " ".join(
        t.text for t in texts if t.source is TextSource.TRANSCRIPT and t.status is TextStatus.READY
    ).strip()
    if len(transcript) > TRANSCRIPT_EXCERPT:
        transcript = transcript[:TRANSCRIPT_EXCERPT].rsplit(" ", 1)[0] + " …"
    summary = CaptureSummaryText(
        description=ticket.description,
        facts=[fact for capture in found for fact in _facts(capture)],
        console_errors=[line for capture in found for line in _console_errors(capture)],
        failed_requests=[line for capture in found for line in _failed_requests(capture)],
        transcript=transcript,
        attachment_links=[(f.filename, f.url) for f in files],
    )
    return summary, files


def render_markdown(summary: CaptureSummaryText, ticket_key: str, hidden_marker: str) -> str:
    """The issue body in GitHub-flavoured Markdown."""
    parts = [summary.description.strip() or "_No description._"]
    if summary.facts:
        parts.append("### Capture\n" + "\n".join(f"- **{k}:** {v}" for k, v in summary.facts))
    if summary.console_errors:
        block = "\n".join(summary.console_errors)
        parts.append(f"### Console errors\n```\n{block}\n```")
    if summary.failed_requests:
        parts.append(
            "### Failed requests\n" + "\n".join(f"- `{r}`" for r in summary.failed_requests)
        )
    if summary.transcript:
        parts.append("### Narration (excerpt)\n> " + summary.transcript)
    if summary.attachment_links:
        links = "\n".join(f"- [{name}]({url})" for name, url in summary.attachment_links)
        parts.append("### Attachments\n" + links)
    parts.append(f"---\nSynced from {ticket_key} by AI Ticket Creator. <!-- {hidden_marker} -->")
    return "\n\n".join(parts)


async def issue_content(session: AsyncSession, ticket: Ticket, mappings: Mappings) -> IssueContent:
    """The ticket's current state as the vendor should show it (tags must be loaded)."""
    summary, files = await _summary(session, ticket)
    labels: list[str] = []
    if ticket.category_id is not None:
        category = await taxonomy.category(session, ticket.organization_id, ticket.category_id)
        if category is not None:
            labels.append(mappings.category_labels.get(category.name, category.name))
    if mappings.tags_as_labels:
        labels.extend(ticket.tag_names)
    assignees = []
    if ticket.assignee_id is not None and ticket.assignee_id in mappings.assignees:
        assignees.append(mappings.assignees[ticket.assignee_id])
    hidden = ticket_marker(ticket)
    stable = [
        ticket.title,
        summary.description,
        summary.facts,
        summary.console_errors,
        summary.failed_requests,
        summary.transcript,
        [f.filename for f in files],
    ]
    fingerprint = hashlib.sha256(json.dumps(stable).encode()).hexdigest()
    return IssueContent(
        ticket_key=ticket.key,
        marker=hidden,
        title=f"[{ticket.key}] {ticket.title}",
        body_markdown=render_markdown(summary, ticket.key, hidden),
        body_fingerprint=fingerprint,
        summary=summary,
        status=ticket.status,
        vendor_status=mappings.vendor_status(ticket.status),
        priority=mappings.priority.get(ticket.priority),
        labels=sorted(dict.fromkeys(labels)),
        assignees=assignees,
        attachments=files,
    )
