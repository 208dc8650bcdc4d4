"""routed transfers (metadata only) and the tenant directory last sent to the nodes

hub_transfers holds no member data: nodes, tenants, regions, the addressed organization's code,
the attempt, the last step and the letter's validity (hub/transfers/models.py).

Revision ID: 5b0000000007
Revises: 5b0000000005
Create Date: 2026-11-21 13:00:00
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5b0000000007'
down_revision = '5b0000000005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hub_tenant_directory',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version_sent', sa.Integer(), nullable=False),
    sa.Column('sent_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_tenant_directory'))
    )
    op.create_table('hub_transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('origin_node', sa.String(length=128), nullable=False),
    sa.Column('origin_tenant', sa.String(length=40), nullable=False),
    sa.Column('origin_region', sa.String(length=6).with_variant(sa.String(length=6, collation='C'), 'postgresql'), nullable=True),
    sa.Column('destination_node', sa.String(length=128), nullable=False),
    sa.Column('destination_tenant', sa.String(length=40), nullable=False),
    sa.Column('destination_region', sa.String(length=6).with_variant(sa.String(length=6, collation='C'), 'postgresql'), nullable=True),
    sa.Column('to_org_code', sa.String(length=64), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('last_step', sa.String(length=16), nullable=False),
    sa.Column('last_step_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('issued_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_until', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refusal', sa.String(length=32), nullable=True),
    sa.Column('steps', sa.Integer(), nullable=False),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_transfers')),
    sa.UniqueConstraint('uid', name=op.f('uq_hub_transfers_uid'))
    )
    with op.batch_alter_table('hub_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hub_transfers_destination_region'), ['destination_region'], unique=False)
        batch_op.create_index(batch_op.f('ix_hub_transfers_origin_region'), ['origin_region'], unique=False)
        batch_op.create_index('ix_hub_transfers_state_valid_until', ['state', 'valid_until'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hub_transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_transfers_state_valid_until')
        batch_op.drop_index(batch_op.f('ix_hub_transfers_origin_region'))
        batch_op.drop_index(batch_op.f('ix_hub_transfers_destination_region'))

    op.drop_table('hub_transfers')
    op.drop_table('hub_tenant_directory')
