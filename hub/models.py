"""Every hub model, imported once so the metadata (Alembic, tests) is complete."""

from hub.accounts.models import HubAccount, HubLoginFailure
from hub.auth.models import HubAuthorizationCode, HubOAuthClient, HubToken
from hub.directives.models import Directive, DirectiveTarget
from hub.feed.models import FeedItem
from hub.identity.models import IdentityEntry, IdentityNotice
from hub.keys.models import DirectoryState
from hub.nodes.models import EnrollmentFailure, EnrollmentToken, Node, NodeTenant
from hub.stats.models import OrgStat, SnapshotTotal, StatChunk, StatSnapshot
from hub.transfers.models import HubTransfer, TenantDirectoryState

__all__ = [
           "Directive",
           "DirectiveTarget",
           "DirectoryState",
           "EnrollmentFailure",
           "EnrollmentToken",
           "FeedItem",
           "HubAccount",
           "HubAuthorizationCode",
           "HubLoginFailure",
           "HubOAuthClient",
           "HubToken",
           "HubTransfer",
           "IdentityEntry",
           "IdentityNotice",
           "Node",
           "NodeTenant",
           "OrgStat",
           "SnapshotTotal",
           "StatChunk",
           "StatSnapshot",
           "TenantDirectoryState",
]
