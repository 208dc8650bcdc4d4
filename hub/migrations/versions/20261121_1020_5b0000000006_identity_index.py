"""identity index

Revision ID: 5b0000000006
Revises: 5b0000000004
Create Date: 2026-11-21 10:20:35.662303
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5b0000000006'
down_revision = '5b0000000004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('node_tenant_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('as_of', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['node_tenant_id'], ['node_tenants.id'], name=op.f('fk_identity_entries_node_tenant_id_node_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_entries')),
    sa.UniqueConstraint('hash', 'node_tenant_id', name=op.f('uq_identity_entries_hash_node_tenant_id'))
    )
    with op.batch_alter_table('identity_entries', schema=None) as batch_op:
        batch_op.create_index('ix_identity_entries_node_tenant_id', ['node_tenant_id'], unique=False)

    op.create_table('identity_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('node_tenant_id', sa.Integer(), nullable=False),
    sa.Column('elsewhere', sa.JSON(), nullable=False),
    sa.Column('flagged_since', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_as_of', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['node_tenant_id'], ['node_tenants.id'], name=op.f('fk_identity_notices_node_tenant_id_node_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_notices')),
    sa.UniqueConstraint('hash', 'node_tenant_id', name=op.f('uq_identity_notices_hash_node_tenant_id'))
    )
    with op.batch_alter_table('identity_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_notices_node_tenant_id'), ['node_tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('identity_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_notices_node_tenant_id'))

    op.drop_table('identity_notices')
    with op.batch_alter_table('identity_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_identity_entries_node_tenant_id')

    op.drop_table('identity_entries')
