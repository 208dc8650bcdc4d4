"""identity flags from the hub

Revision ID: 5a0000000006
Revises: 5a0000000005
Create Date: 2026-11-21 10:20:27.518314
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5a0000000006'
down_revision = '5a0000000005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('elsewhere', sa.JSON(), nullable=False),
    sa.Column('as_of', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('flagged_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_identity_flags_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_flags')),
    sa.UniqueConstraint('tenant_id', 'hash', name=op.f('uq_identity_flags_tenant_id_hash'))
    )
    with op.batch_alter_table('identity_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_flags_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('identity_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_flags_tenant_id'))

    op.drop_table('identity_flags')
