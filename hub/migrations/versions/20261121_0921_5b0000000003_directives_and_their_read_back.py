"""Directives and study items, the tenants they were sent to and the counts read back.

Revision ID: 5b0000000003
Revises: 5b0000000002
Create Date: 2026-11-21 09:21:57.330421
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5b0000000003'
down_revision = '5b0000000002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('directives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('directive', 'study', name='directivekind', native_enum=False, length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('links', sa.JSON(), nullable=False),
    sa.Column('priority', sa.Enum('normal', 'high', 'urgent', name='priority', native_enum=False, length=16), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('deadline', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('audience', sa.Enum('all', 'secretaries', name='audience', native_enum=False, length=16), nullable=False),
    sa.Column('target_kind', sa.Enum('all', 'region', 'tenants', name='targetkind', native_enum=False, length=16), nullable=False),
    sa.Column('target_region', sa.String(length=6).with_variant(sa.String(length=6, collation='C'), 'postgresql'), nullable=True),
    sa.Column('target_tenants', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', 'withdrawn', name='directivestatus', native_enum=False, length=16), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=120), nullable=True),
    sa.Column('published_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by', sa.String(length=120), nullable=True),
    sa.Column('withdrawn_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directives'))
    )
    with op.batch_alter_table('directives', schema=None) as batch_op:
        batch_op.create_index('ix_directives_status_id', ['status', 'id'], unique=False)

    op.create_table('directive_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('directive_id', sa.Integer(), nullable=False),
    sa.Column('node_tenant_id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.String(length=128), nullable=False),
    sa.Column('tenant', sa.String(length=40), nullable=False),
    sa.Column('region', sa.String(length=6).with_variant(sa.String(length=6, collation='C'), 'postgresql'), nullable=False),
    sa.Column('code_prefix', sa.String(length=12).with_variant(sa.String(length=12, collation='C'), 'postgresql'), nullable=False),
    sa.Column('targeted', sa.Integer(), nullable=True),
    sa.Column('read', sa.Integer(), nullable=True),
    sa.Column('completed', sa.Integer(), nullable=True),
    sa.Column('as_of', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['directive_id'], ['directives.id'], name=op.f('fk_directive_targets_directive_id_directives')),
    sa.ForeignKeyConstraint(['node_tenant_id'], ['node_tenants.id'], name=op.f('fk_directive_targets_node_tenant_id_node_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directive_targets')),
    sa.UniqueConstraint('directive_id', 'node_tenant_id', name=op.f('uq_directive_targets_directive_id_node_tenant_id'))
    )
    with op.batch_alter_table('directive_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directive_targets_directive_id'), ['directive_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_targets_node_tenant_id'), ['node_tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('directive_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directive_targets_node_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_directive_targets_directive_id'))

    op.drop_table('directive_targets')
    with op.batch_alter_table('directives', schema=None) as batch_op:
        batch_op.drop_index('ix_directives_status_id')

    op.drop_table('directives')
