"""Atlassian Document Format (ADF), the rich text of Jira Cloud: the issue description and
comments we send, and the plain text of the comments a webhook brings."""

from __future__ import annotations

from typing import Any

from ticketcreator.integrations.base import (
    CaptureSummaryText,
)


def _text(text: str, href: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if href:
        node["marks"] = [{"type": "link", "attrs": {"href": href}}]
    return node


def _paragraph(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": [n for n in nodes if n.get("text")]}


def _heading(text: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [_text(text)]}


def _bullets(items: list[list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "type": "bulletList",
        "content": [{"type": "listItem", "content": [_paragraph(*item)]} for item in items],
    }


def adf_text(text: str) -> dict[str, Any]:
    """Plain text as an ADF document (one paragraph per line block)."""
    blocks = [block for block in text.split("\n\n") if block.strip()] or ["(empty)"]
    return {"type": "doc", "version": 1, "content": [_paragraph(_text(b)) for b in blocks]}


def adf_description(
    summary: CaptureSummaryText, ticket_key: str, links: list[tuple[str, str]]
) -> dict[str, Any]:
    """The issue description: the ticket's text, then the capture summary."""
    content = adf_text(summary.description or "No description.")["content"]
    if summary.facts:
        content += [_heading("Capture"), _bullets([[_text(f"{k}: {v}")] for k, v in summary.facts])]
    if summary.console_errors:
        content += [
            _heading("Console errors"),
            {"type": "codeBlock", "content": [_text("\n".join(summary.console_errors))]},
        ]
    if summary.failed_requests:
        content += [
            _heading("Failed requests"),
            _bullets([[_text(r)] for r in summary.failed_requests]),
        ]
    if summary.transcript:
        content += [
            _heading("Narration (excerpt)"),
            {"type": "blockquote", "content": [_paragraph(_text(summary.transcript))]},
        ]
    if links:
        content += [_heading("Files (links)"), _bullets([[_text(n, href=u)] for n, u in links])]
    content.append(_paragraph(_text(f"Synced from {ticket_key} by AI Ticket Creator.")))
    return {"type": "doc", "version": 1, "content": content}


def adf_plain(node: Any) -> str:
    """The text of an ADF document (or a plain string body, as some webhooks send)."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [adf_plain(child) for child in node.get("content", [])]
    joiner = "\n\n" if node.get("type") == "doc" else ""
    return joiner.join(part for part in parts if part)
