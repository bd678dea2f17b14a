"""Outgoing e-mail over SMTP (``mail`` settings), with the standard library.

:func:`send` runs the blocking ``smtplib`` conversation in a thread. A server that cannot be
reached, drops the connection or answers with a temporary (4xx) error raises
:class:`MailUnavailable`, which callers turn into a retry; a permanent refusal (5xx, e.g. a
rejected recipient) raises :class:`MailRejected` and is not worth retrying.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from ticketcreator.core.config import get_settings, secret_value
from ticketcreator.core.config_sections import MailSection


class MailUnavailable(Exception):
    """The SMTP server is unreachable or answered with a temporary error: try again later."""


class MailRejected(Exception):
    """The SMTP server refused the message for good."""


def message(to: str, subject: str, body: str, *, key: str) -> EmailMessage:
    """A plain-text message from the configured sender.

    ``key`` names what the message is about (e.g. ``invitation.<id>``) and makes its
    ``Message-ID``: a send retried after an unclear outcome carries the same id, so a copy
    that arrives twice is recognisably one message.
    """
    mail = EmailMessage()
    mail["From"] = get_settings().mail.from_address
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id(key)
    mail.set_content(body)
    return mail


def sender_domain() -> str:
    """The domain of the configured sender address."""
    return parseaddr(get_settings().mail.from_address)[1].rpartition("@")[2] or "localhost"


def message_id(key: str) -> str:
    """The ``Message-ID`` of the message about ``key`` (also what replies refer to)."""
    return f"<{key}@{sender_domain()}>"


def _deliver(config: MailSection, mail: EmailMessage) -> None:
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout_s) as smtp:
        if config.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, secret_value(config.password) or "")
        smtp.send_message(mail)


async def send(mail: EmailMessage) -> None:
    """Hand ``mail`` to the configured SMTP server."""
    config = get_settings().mail
    try:
        await asyncio.to_thread(_deliver, config, mail)
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise MailUnavailable(f"SMTP server answered {exc.smtp_code}") from exc
        raise MailRejected(f"SMTP server answered {exc.smtp_code}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(400 <= code < 500 for code in codes):
            raise MailUnavailable(f"SMTP server deferred the recipients: {codes}") from exc
        raise MailRejected(f"SMTP server refused the recipients: {codes}") from exc
    except OSError as exc:  # refused, timed out, disconnected, TLS failure
        raise MailUnavailable(
            f"SMTP server {config.smtp_host}:{config.smtp_port} unavailable: {exc}"
        ) from exc
