"""Captures: what the browser extension gathered, stored with a new or an existing ticket.

A capture names media that were uploaded first (``/v1/uploads``, ``/v1/attachments``), and
carries the page, the browser, console and network logs and the person's steps. Secrets
are stripped before anything is stored (:mod:`ticketcreator.captures.sanitize`). Creating one
writes a ``capture_added`` ticket event and the ``capture.created`` outbox event, which
starts transcription and OCR of its media. An ``Idempotency-Key`` makes retries from a
flaky network safe, with the same keys and rules as ticket creation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import OWN_TICKETS_ONLY, Permission
from ticketcreator.attachments import service as attachments
from ticketcreator.attachments.models import Attachment, AttachmentKind
from ticketcreator.captures import repository
from ticketcreator.captures.errors import InvalidCaptureMedia
from ticketcreator.captures.models import Capture, CaptureKind
from ticketcreator.captures.sanitize import Sanitizer, is_secret_name, sanitize_network
from ticketcreator.captures.schemas import (
    CaptureCreate,
    CaptureLimits,
    CaptureList,
    CaptureRead,
    CaptureSummary,
    ConsoleEntry,
    NetworkLog,
    Software,
    UserStep,
    Viewport,
)
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import Forbidden, NotFound
from ticketcreator.core.events import Topic, emit
from ticketcreator.core.redact import REDACTED
from ticketcreator.tickets import idempotency
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.actors import actor_kind
from ticketcreator.tickets.models import Source, Ticket, TicketEvent
from ticketcreator.tickets.schemas import TicketCreate
from ticketcreator.tickets.visibility import Visibility
from ticketcreator.transcripts import service as transcripts
from ticketcreator.transcripts.models import AttachmentText
from ticketcreator.transcripts.schemas import AttachmentTextSummary
from ticketcreator.uploads import service as uploads

_KIND_LABELS = {
    CaptureKind.SCREENSHOT: "Screenshot",
    CaptureKind.TAB_RECORDING: "Tab recording",
    CaptureKind.SCREEN_RECORDING: "Screen recording",
    CaptureKind.FILE: "File",
}
# The media a capture of each kind must contain (at least one of them).
_NEEDS: dict[CaptureKind, frozenset[AttachmentKind]] = {
    CaptureKind.SCREENSHOT: frozenset({AttachmentKind.IMAGE}),
    CaptureKind.TAB_RECORDING: frozenset({AttachmentKind.VIDEO, AttachmentKind.AUDIO}),
    CaptureKind.SCREEN_RECORDING: frozenset({AttachmentKind.VIDEO, AttachmentKind.AUDIO}),
}
_TITLE_CHARS = 80
_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")


# Creating


async def create_capture(
    session: AsyncSession,
    principal: Principal,
    data: CaptureCreate,
    idempotency_key: str | None,
) -> tuple[CaptureRead, bool]:
    """The new capture, and whether it is the replay of an earlier request with the same key."""

    async def create(remember: idempotency.Remember, _: object) -> CaptureRead:
        capture = await _create(session, principal, data)
        remember(capture.model_dump(mode="json"))
        return capture

    return await idempotency.once(
        session, principal, idempotency_key, data, create, CaptureRead, scope="capture:"
    )


async def _create(session: AsyncSession, principal: Principal, data: CaptureCreate) -> CaptureRead:
    media = await _media(session, principal, data.kind, data.attachment_ids)
    sanitizer = Sanitizer()
    console = [_clean_console(sanitizer, entry) for entry in data.console]
    network = sanitize_network(sanitizer, data.network.model_dump(mode="json"))
    steps = [_clean_step(sanitizer, step) for step in data.steps]
    page_url = sanitizer.url(data.page_url)
    ticket_id, ticket_key, title_generated = await _target(session, principal, data, page_url)
    capture = Capture(
        id=uuid.uuid4(),
        organization_id=principal.organization_id,
        ticket_id=ticket_id,
        created_by_user_id=principal.user_id,
        created_by_api_key_id=principal.api_key_id,
        kind=data.kind,
        page_url=page_url,
        page_title=data.page_title,
        user_agent=data.user_agent,
        browser=data.browser.model_dump(mode="json"),
        os=data.os.model_dump(mode="json"),
        viewport=data.viewport.model_dump(mode="json") if data.viewport else None,
        console=console,
        network=network,
        steps=steps,
        description=data.description,
        title_generated=title_generated,
        secrets_removed=sanitizer.counts(),
        created_at=utcnow(),
    )
    repository.add(session, capture, data.attachment_ids)
    attachment_ids = [str(attachment.id) for attachment in media]
    repository.add_event(
        session,
        TicketEvent(
            id=uuid.uuid4(),
            organization_id=principal.organization_id,
            ticket_id=ticket_id,
            actor_user_id=principal.user_id,
            actor_api_key_id=principal.api_key_id,
            actor_kind=actor_kind(principal),
            kind="capture_added",
            field="captures",
            new={
                "capture_id": str(capture.id),
                "kind": data.kind.value,
                "attachment_ids": attachment_ids,
            },
            internal=False,
            created_at=utcnow(),
        ),
    )
    await session.flush()
    # Text of media that were already transcribed (e.g. in an earlier capture) is searchable.
    await tickets.refresh_search(session, ticket_id)
    payload = {
        "capture_id": str(capture.id),
        "ticket_id": str(ticket_id),
        "kind": data.kind.value,
        "attachment_ids": attachment_ids,
        "title_generated": title_generated,
    }
    emit(session, Topic.CAPTURE_CREATED, payload, organization_id=principal.organization_id)
    if data.ticket_id is not None:
        # A new ticket is announced as ``ticket.created``, which triggers triage already.
        emit(
            session,
            Topic.TICKET_CONTENT_ADDED,
            {
                "ticket_id": str(ticket_id),
                "source": "capture",
                "attachment_id": None,
                "capture_id": str(capture.id),
            },
            organization_id=principal.organization_id,
        )
    texts = await transcripts.of_attachments(session, [a.id for a in media])
    return _read(capture, ticket_key, media, texts)


async def _media(
    session: AsyncSession,
    principal: Principal,
    kind: CaptureKind,
    attachment_ids: Sequence[uuid.UUID],
) -> list[Attachment]:
    """The capture's attachments in the order given; each must be one the caller may use.

    Reporters may use the files they uploaded themselves; the other roles any file of their
    organization. Anything else is reported as unknown (no existence leak).
    """
    found = {
        attachment.id: attachment
        for attachment in await repository.attachments_in(
            session, principal.organization_id, attachment_ids
        )
        if principal.role not in OWN_TICKETS_ONLY
        or principal.is_author(attachment.uploaded_by_user_id, attachment.uploaded_by_api_key_id)
    }
    missing = [str(attachment_id) for attachment_id in attachment_ids if attachment_id not in found]
    if missing:
        raise InvalidCaptureMedia(
            "No such attachment: " + ", ".join(missing) + ".", attachment_ids=missing
        )
    media = [found[attachment_id] for attachment_id in attachment_ids]
    needed = _NEEDS.get(kind)
    if needed is not None and not any(attachment.kind in needed for attachment in media):
        wanted = " or ".join(sorted(k.value for k in needed))
        raise InvalidCaptureMedia(
            f"A {kind.value} capture needs at least one {wanted} attachment.", kind=kind.value
        )
    return media


async def _target(
    session: AsyncSession, principal: Principal, data: CaptureCreate, page_url: str
) -> tuple[uuid.UUID, str, bool]:
    """The id and key of the ticket the capture goes to (created if asked for), and whether
    its title was made from the capture."""
    if data.ticket is None:
        assert data.ticket_id is not None
        ticket = await tickets.load(session, principal, data.ticket_id)
        return ticket.id, ticket.key, False
    if not principal.can(Permission.TICKETS_CREATE):
        raise Forbidden(
            "Creating a ticket with a capture needs `tickets:create`; "
            "send `ticket_id` to attach it to an existing ticket instead.",
            required_permission=Permission.TICKETS_CREATE.value,
        )
    fields = data.ticket
    description = fields.description or data.description
    title = fields.title or _title(data.kind, description, data.page_title, page_url)
    created, _ = await tickets.create_ticket(
        session,
        principal,
        TicketCreate(
            title=title,
            description=description,
            priority=fields.priority,
            type=fields.type,
            source=Source.EXTENSION,
            category_id=fields.category_id,
            tags=fields.tags,
            custom_fields=fields.custom_fields,
        ),
        None,
    )
    return created.id, created.key, fields.title is None


def _title(kind: CaptureKind, description: str, page_title: str, page_url: str) -> str:
    """A provisional title until AI triage suggests a better one: the description's first
    sentence, else what was captured where."""
    first = _SENTENCE_END.split(description.strip(), maxsplit=1)[0].strip()
    if first:
        return first if len(first) <= _TITLE_CHARS else first[:_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
    where = page_title.strip() or (urlsplit(page_url).hostname or "")
    label = _KIND_LABELS[kind]
    return f"{label} of {where}"[:300] if where else label


def _clean_console(sanitizer: Sanitizer, entry: ConsoleEntry) -> dict[str, Any]:
    cleaned = entry.model_dump(mode="json")
    cleaned["message"] = sanitizer.text(entry.message)
    if entry.source is not None:
        cleaned["source"] = sanitizer.url(entry.source)
    return cleaned


def _clean_step(sanitizer: Sanitizer, step: UserStep) -> dict[str, Any]:
    cleaned = step.model_dump(mode="json")
    if step.url is not None:
        cleaned["url"] = sanitizer.url(step.url)
    if step.text is not None:
        if step.type == "input" and is_secret_name(step.selector or ""):
            sanitizer.removed["steps"] += 1
            cleaned["text"] = REDACTED
        else:
            cleaned["text"] = sanitizer.text(step.text)
    return cleaned


# Reading


async def limits(session: AsyncSession, principal: Principal) -> CaptureLimits:
    policy = await uploads.policy_for(session, principal.organization_id)
    return CaptureLimits(
        max_upload_size=policy.max_upload_size,
        max_recording_s=policy.max_recording_s,
        allowed_types=sorted(policy.allowed_types),
    )


async def get_capture(
    session: AsyncSession, principal: Principal, capture_id: uuid.UUID
) -> CaptureRead:
    """A capture whose ticket the caller may see; any other is reported as not found."""
    capture = await repository.get(session, principal.organization_id, capture_id)
    if capture is None:
        raise NotFound("No such capture.")
    try:
        ticket = await tickets.load(session, principal, str(capture.ticket_id))
    except NotFound:
        raise NotFound("No such capture.") from None
    media = (await repository.media_of(session, [capture.id]))[capture.id]
    texts = await transcripts.of_attachments(session, [a.id for a in media])
    return _read(capture, ticket.key, media, texts)


async def list_captures(session: AsyncSession, ticket: Ticket) -> CaptureList:
    captures, media, texts = await with_media(session, ticket)
    return CaptureList(
        items=[
            CaptureSummary.model_validate(
                _read(capture, ticket.key, media[capture.id], texts).model_dump()
            )
            for capture in captures
        ]
    )


async def with_media(
    session: AsyncSession, ticket: Ticket
) -> tuple[list[Capture], dict[uuid.UUID, list[Attachment]], list[AttachmentText]]:
    """The ticket's captures, each one's attachments in the order they were sent, and the
    texts read from those attachments."""
    captures = await repository.of_ticket(session, ticket)
    media = await repository.media_of(session, [capture.id for capture in captures])
    texts = await transcripts.of_attachments(
        session, [a.id for attachments_ in media.values() for a in attachments_]
    )
    return captures, media, texts


async def with_attachment(session: AsyncSession, attachment_id: uuid.UUID) -> list[Capture]:
    """The captures an attachment belongs to, on tickets that are not deleted."""
    return await repository.with_attachment(session, attachment_id)


async def on_visible_ticket(
    session: AsyncSession, visibility: Visibility, attachment_id: uuid.UUID
) -> bool:
    """Whether the attachment belongs to a capture of a live ticket the caller may see."""
    return await repository.on_visible_ticket(session, visibility, attachment_id)


async def attachments_only_of(session: AsyncSession, ticket: Ticket) -> list[uuid.UUID]:
    """The attachments of the ticket's captures that no capture of another ticket uses (what
    purging the ticket erases)."""
    return await repository.attachments_only_of(session, ticket)


def _read(
    capture: Capture, ticket_key: str, media: list[Attachment], texts: list[AttachmentText]
) -> CaptureRead:
    ids = {attachment.id for attachment in media}
    return CaptureRead(
        id=capture.id,
        ticket_id=capture.ticket_id,
        ticket_key=ticket_key,
        kind=capture.kind,
        page_url=capture.page_url,
        page_title=capture.page_title,
        description=capture.description,
        title_generated=capture.title_generated,
        attachments=[attachments.to_read(attachment) for attachment in media],
        texts=[AttachmentTextSummary.model_validate(t) for t in texts if t.attachment_id in ids],
        created_at=capture.created_at,
        user_agent=capture.user_agent,
        browser=Software.model_validate(capture.browser),
        os=Software.model_validate(capture.os),
        viewport=Viewport.model_validate(capture.viewport) if capture.viewport else None,
        console=[ConsoleEntry.model_validate(entry) for entry in capture.console],
        network=NetworkLog.model_validate(capture.network),
        steps=[UserStep.model_validate(step) for step in capture.steps],
        secrets_removed=capture.secrets_removed,
    )
