"""floating certificates across nodes

The other side's node (null: both sides on this node) and a detail for an ending that needs
one (the hub could not route a step); two more end reasons, `transferred` and
`undeliverable`, need no DDL (the enum is a plain string column without a CHECK).

Revision ID: 5a000000000b
Revises: 5a000000000a
Create Date: 2026-11-21 16:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '5a000000000b'
down_revision = '5a000000000a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('floating_certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('peer_node', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('end_detail', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('floating_certificates', schema=None) as batch_op:
        batch_op.drop_column('end_detail')
        batch_op.drop_column('peer_node')
