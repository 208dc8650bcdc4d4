"""Every hub model, imported once so the metadata (Alembic, tests) is complete."""

from hub.keys.models import DirectoryState
from hub.nodes.models import EnrollmentFailure, EnrollmentToken, Node, NodeTenant
from hub.stats.models import OrgStat, StatChunk, StatSnapshot

__all__ = ["DirectoryState", "EnrollmentFailure", "EnrollmentToken", "Node", "NodeTenant",
           "OrgStat", "StatChunk", "StatSnapshot"]
