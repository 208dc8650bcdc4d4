"""Every hub model, imported once so the metadata (Alembic, tests) is complete."""

from hub.feed.models import FeedItem
from hub.keys.models import DirectoryState
from hub.nodes.models import EnrollmentFailure, EnrollmentToken, Node, NodeTenant
from hub.stats.models import OrgStat, StatChunk, StatSnapshot

__all__ = ["DirectoryState", "EnrollmentFailure", "EnrollmentToken", "FeedItem", "Node",
           "NodeTenant", "OrgStat", "StatChunk", "StatSnapshot"]
