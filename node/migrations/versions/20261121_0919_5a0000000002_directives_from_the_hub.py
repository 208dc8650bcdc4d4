"""Directives from the hub: one copy per targeted tenant, and who read and completed them.

Revision ID: 5a0000000002
Revises: 5a0000000001
Create Date: 2026-11-21 09:19:57.942922
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5a0000000002'
down_revision = '5a0000000001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('directives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hub_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('directive', 'study', name='directivekind', native_enum=False, length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('links', sa.JSON(), nullable=False),
    sa.Column('priority', sa.Enum('normal', 'high', 'urgent', name='priority', native_enum=False, length=16), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('deadline', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('audience', sa.Enum('all', 'secretaries', name='audience', native_enum=False, length=16), nullable=False),
    sa.Column('published_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reported_targeted', sa.Integer(), nullable=True),
    sa.Column('reported_read', sa.Integer(), nullable=True),
    sa.Column('reported_completed', sa.Integer(), nullable=True),
    sa.Column('reported_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_directives_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directives')),
    sa.UniqueConstraint('tenant_id', 'hub_id', name=op.f('uq_directives_tenant_id_hub_id'))
    )
    with op.batch_alter_table('directives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directives_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('directive_reads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('directive_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('read_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_directive_reads_account_id_accounts')),
    sa.ForeignKeyConstraint(['directive_id'], ['directives.id'], name=op.f('fk_directive_reads_directive_id_directives')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_directive_reads_member_id_members')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_directive_reads_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directive_reads')),
    sa.UniqueConstraint('directive_id', 'account_id', name=op.f('uq_directive_reads_directive_id_account_id'))
    )
    with op.batch_alter_table('directive_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directive_reads_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_reads_directive_id'), ['directive_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_reads_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_reads_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('directive_reads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directive_reads_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_directive_reads_member_id'))
        batch_op.drop_index(batch_op.f('ix_directive_reads_directive_id'))
        batch_op.drop_index(batch_op.f('ix_directive_reads_account_id'))

    op.drop_table('directive_reads')
    with op.batch_alter_table('directives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directives_tenant_id'))

    op.drop_table('directives')
