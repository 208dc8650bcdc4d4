"""Every node model, imported once so the metadata (Alembic, tests) is complete."""

from node.accounts.models import Account, LoginFailure
from node.audit.models import AuditEntry
from node.auth.models import AuthorizationCode, OAuthClient, Token
from node.content.models import Article, ArticleLike, Attachment
from node.directives.models import Directive, DirectiveRead
from node.dues.models import (
    DuesAssessment,
    DuesConsent,
    DuesLine,
    DuesMonth,
    DuesPayment,
    DuesReduction,
    DuesReminder,
    OrderLine,
    PaymentOrder,
)
from node.grants.models import Grant
from node.identity.models import IdentityFlag
from node.meetings.models import Attendance, Meeting, MeetingAttachment
from node.members.models import ActivityEntry, Member, OrgChange, StageChange, StatusChange
from node.orgs.models import Officer, Org, OrgMove
from node.reports.models import MemberReport
from node.tenants.models import Tenant

__all__ = [
    "Account",
    "ActivityEntry",
    "Article",
    "ArticleLike",
    "Attachment",
    "Attendance",
    "AuditEntry",
    "AuthorizationCode",
    "Directive",
    "DirectiveRead",
    "DuesAssessment",
    "DuesConsent",
    "DuesLine",
    "DuesMonth",
    "DuesPayment",
    "DuesReduction",
    "DuesReminder",
    "Grant",
    "IdentityFlag",
    "LoginFailure",
    "Meeting",
    "MeetingAttachment",
    "Member",
    "MemberReport",
    "OAuthClient",
    "Officer",
    "OrderLine",
    "Org",
    "OrgChange",
    "OrgMove",
    "PaymentOrder",
    "StageChange",
    "StatusChange",
    "Tenant",
    "Token",
]
