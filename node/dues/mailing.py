"""Arrears mail: the reminder to the member and the alert to the branch secretary, in the
reader's language, through the node's SMTP server (`node.web.mail`).

The alerts themselves are recorded first, in one transaction (`services.record_reminders`:
at most one per member, month and level); mail goes out afterwards and each sent alert is
marked in its own short transaction. A run that stops half-way leaves the rest for the next
run, so a member is never written to twice for the same month, and never forgotten.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from flask import Flask, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from node.db import db
from node.dues import services
from node.dues.models import ReminderLevel
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from node.tenants.services import get_tenant_by_slug, list_tenants
from node.web import i18n, mail
from node.web.tenancy import absolute_tenant_url
from shared.db import transaction

log = logging.getLogger("partynet.dues")


@dataclasses.dataclass
class RemindReport:
    tenant: str
    reminders: int = 0
    escalations: int = 0
    sent: int = 0
    no_address: int = 0
    failed: int = 0
    mail_off: bool = False


def remind(app: Flask, tenant_slug: str | None = None, *, today: dt.date | None = None
           ) -> list[RemindReport]:
    """Record this month's arrears alerts of each tenant, then mail what is not sent yet."""
    with app.app_context(), app.test_request_context(base_url=app.extensions["node"].base_url):
        with transaction(db):
            tenants = [get_tenant_by_slug(tenant_slug)] if tenant_slug else list(list_tenants())
        reports = []
        for tenant in tenants:
            report = RemindReport(tenant.slug)
            with tenant_context(tenant.id):
                with transaction(db):
                    recorded = services.record_reminders(tenant, today=today)
                report.reminders, report.escalations = recorded.reminders, recorded.escalations
                _deliver(app, tenant, report)
            reports.append(report)
        db.session.remove()
        return reports


def _deliver(app: Flask, tenant: Tenant, report: RemindReport) -> None:
    settings = app.extensions["node"]
    if not mail.mail_available(settings):
        report.mail_off = True
        return
    with transaction(db):
        pending = services.pending_reminders(tenant)
    for item in pending:
        if not item.recipients:
            report.no_address += 1
            with transaction(db):
                services.mark_sent(item.reminder.id, [])
            continue
        try:
            for recipient in item.recipients:
                mail.send(settings, _message(settings, tenant, item, recipient))
        except Exception:  # the SMTP server's trouble: left for the next run
            log.exception("dues alert %s not mailed", item.reminder.id)
            report.failed += 1
            continue
        with transaction(db):
            services.mark_sent(item.reminder.id, item.recipients)
        report.sent += 1


def _message(settings: Any, tenant: Tenant, item: services.PendingReminder,
             recipient: services.Recipient) -> Any:
    language = recipient.language if recipient.language in i18n.LANGUAGES else \
        i18n.DEFAULT_LOCALE
    reminder = item.reminder
    escalation = reminder.level == ReminderLevel.escalation
    with force_locale(language):
        if escalation:
            subject = _("Dues: %(name)s has not paid for %(n)s months", name=item.member.name,
                        n=reminder.unpaid_months)
            link = absolute_tenant_url(tenant, "dues_pages.member_page",
                                       member_id=item.member.id)
        else:
            subject = _("Your party dues: %(n)s months unpaid", n=reminder.unpaid_months)
            link = absolute_tenant_url(tenant, "dues_pages.my_dues")
        body = render_template(
            "dues/mail_escalation.txt" if escalation else "dues/mail_reminder.txt",
            tenant=tenant, member=item.member, org_name=item.org_name, recipient=recipient,
            months=reminder.unpaid_months, owed=f"{reminder.amount_owed:.2f}", link=link)
    return mail.compose(settings, to=recipient.email, subject=subject, body=body,
                        language=language)
