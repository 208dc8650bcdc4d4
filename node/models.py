"""Every node model, imported once so the metadata (Alembic, tests) is complete."""

from node.accounts.models import Account, LoginFailure
from node.audit.models import AuditEntry
from node.auth.models import AuthorizationCode, OAuthClient, Token
from node.content.models import Article, ArticleLike, Attachment
from node.grants.models import Grant
from node.members.models import ActivityEntry, Member, OrgChange, StageChange, StatusChange
from node.orgs.models import Officer, Org, OrgMove
from node.tenants.models import Tenant

__all__ = [
    "Account", "ActivityEntry", "Article", "ArticleLike", "Attachment", "AuditEntry",
    "AuthorizationCode", "Grant", "LoginFailure",
    "Member", "OAuthClient", "Officer", "Org", "OrgChange", "OrgMove", "StageChange",
    "StatusChange", "Tenant", "Token",
]
