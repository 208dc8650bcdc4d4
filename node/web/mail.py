"""Email through the operator's SMTP server (NODE_SMTP_*), with the standard library only.

Messages go out on a background thread, so a page answers in the same time whether or not it
sent anything (the forgotten-password page must not reveal which addresses have accounts). A
failure is logged, never shown. In debug mode without an SMTP host, messages are written to
the log instead, so the demo works without a mail server.
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import ssl
import threading
from email.message import EmailMessage

from node.settings import NodeSettings

log = logging.getLogger("partynet.mail")
#: Port of SMTP over TLS from the first byte (RFC 8314); other ports use STARTTLS or nothing.
IMPLICIT_TLS_PORT = 465
TIMEOUT = 30


def mail_available(settings: NodeSettings) -> bool:
    return bool(settings.smtp_host) or settings.debug


def compose(settings: NodeSettings, *, to: str, subject: str, body: str,
            language: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from or f"partynet <noreply@{_domain(settings)}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain=_domain(settings))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)  # (replaces every Content-* header)
    message["Content-Language"] = language.replace("_", "-")
    return message


def _domain(settings: NodeSettings) -> str:
    address = email.utils.parseaddr(settings.mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def send(settings: NodeSettings, message: EmailMessage) -> None:
    """Deliver one message now (raises on failure)."""
    if not settings.smtp_host:
        log.warning("mail (no NODE_SMTP_HOST, debug mode): to %s\n%s", message["To"],
                    message.get_content())
        return
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_port == IMPLICIT_TLS_PORT:
        smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT,
                                context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT)
    with smtp:
        if settings.smtp_starttls and settings.smtp_port != IMPLICIT_TLS_PORT:
            smtp.starttls(context=context)
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)


def _send_logged(settings: NodeSettings, message: EmailMessage) -> None:
    try:
        send(settings, message)
    except Exception:  # a background thread: log it, there is nobody to tell
        log.exception("sending mail to %s failed", message["To"])


def send_later(settings: NodeSettings, message: EmailMessage) -> threading.Thread:
    """Deliver on a background thread; returns it (tests may join it)."""
    thread = threading.Thread(target=_send_logged, args=(settings, message),
                              name="partynet-mail", daemon=True)
    thread.start()
    return thread
