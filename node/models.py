"""Every node model, imported once so the metadata (Alembic, tests) is complete."""

from node.accounts.models import Account, LoginFailure
from node.audit.models import AuditEntry
from node.auth.models import AuthorizationCode, OAuthClient, Token
from node.content.models import Article, ArticleLike, Attachment
from node.directives.models import Directive, DirectiveRead
from node.directory.models import DirectoryNode, DirectoryTenant, DirectoryVersion
from node.dues.models import (
    DuesAheadConsent,
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
from node.floating.models import FloatingCertificate, FloatingParticipation
from node.grants.models import Grant
from node.identity.models import IdentityFlag
from node.meetings.models import Attendance, CheckinFailure, Meeting, MeetingAttachment
from node.members.models import ActivityEntry, Member, OrgChange, StageChange, StatusChange
from node.orgs.models import Officer, Org, OrgMove
from node.reports.models import MemberReport
from node.tenants.models import Tenant
from node.transfers.models import Transfer, TransferApproval, TransferEvent, TransferSerial

__all__ = [
    "Account",
    "ActivityEntry",
    "Article",
    "ArticleLike",
    "Attachment",
    "Attendance",
    "AuditEntry",
    "AuthorizationCode",
    "CheckinFailure",
    "Directive",
    "DirectiveRead",
    "DirectoryNode",
    "DirectoryTenant",
    "DirectoryVersion",
    "DuesAheadConsent",
    "DuesAssessment",
    "DuesConsent",
    "DuesLine",
    "DuesMonth",
    "DuesPayment",
    "DuesReduction",
    "DuesReminder",
    "FloatingCertificate",
    "FloatingParticipation",
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
    "Transfer",
    "TransferApproval",
    "TransferEvent",
    "TransferSerial",
]
