"""The e-mail itself: Jinja2 templates (HTML and text), threading and unsubscribe headers.

Every e-mail about a ticket belongs to the ticket's thread: the one announcing its creation
carries the thread's ``Message-ID`` (``<ticket.<id>@domain>``), every other one its own id
and ``In-Reply-To``/``References`` naming the thread, so mail clients show a ticket's
e-mails as one conversation. ``List-Unsubscribe`` offers the one-click link (RFC 8058, with
``List-Unsubscribe-Post``); a mailto address only when an inbound mailbox that processes
unsubscribe requests is configured (``email_notifications.unsubscribe_mailto``), since an
address whose mail nobody reads would unsubscribe no one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ticketcreator.core import mail
from ticketcreator.core.config import get_settings

_templates = Environment(
    loader=PackageLoader("ticketcreator.notifications", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class TicketNews:
    """One ticket's part of an e-mail."""

    notification_id: uuid.UUID
    ticket_id: uuid.UUID
    key: str
    title: str
    status: str
    changes: list[dict[str, Any]]
    starts_thread: bool  # the e-mail announces the ticket's creation

    @property
    def url(self) -> str:
        return get_settings().email_notifications.ticket_url.replace("{key}", self.key)


def thread_key(ticket_id: uuid.UUID) -> str:
    return f"ticket.{ticket_id}"


def unsubscribe_url(token: str) -> str:
    template = get_settings().email_notifications.unsubscribe_url
    return template.replace("{token}", quote(token, safe=""))


def list_unsubscribe(token: str) -> str:
    """The ``List-Unsubscribe`` header: the one-click link, and the mailbox when one is
    configured."""
    offers = [unsubscribe_url(token)]
    address = get_settings().email_notifications.unsubscribe_mailto
    if address:
        offers.append(f"mailto:{address}?subject={quote('unsubscribe ' + token)}")
    return ", ".join(f"<{offer}>" for offer in offers)


def compose(
    *,
    to_email: str,
    to_name: str,
    organization: str,
    tickets: list[TicketNews],
    digest: bool,
    unsubscribe_token: str,
) -> EmailMessage:
    if digest:
        count = len(tickets)
        subject = f"{organization}: {count} ticket{'s' if count != 1 else ''} changed"
        key = f"digest.{tickets[0].notification_id}"
    else:
        [news] = tickets
        subject = f"[{news.key}] {news.title}"
        key = thread_key(news.ticket_id)
        if not news.starts_thread:
            key = f"{key}.{news.notification_id}"
    link = unsubscribe_url(unsubscribe_token)
    context = {
        "subject": subject,
        "organization": organization,
        "tickets": tickets,
        "digest": digest,
        "unsubscribe_url": link,
    }
    message = mail.message(
        formataddr((to_name, to_email)),
        subject,
        _templates.get_template("mail.txt").render(context),
        key=key,
    )
    message.add_alternative(_templates.get_template("mail.html").render(context), subtype="html")
    if not digest and not tickets[0].starts_thread:
        thread = mail.message_id(thread_key(tickets[0].ticket_id))
        message["In-Reply-To"] = thread
        message["References"] = thread
    message["List-Unsubscribe"] = list_unsubscribe(unsubscribe_token)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    return message
