"""transfers of the organization relationship

Revision ID: 5a0000000008
Revises: 5a0000000007
Create Date: 2026-11-21 13:00:00
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5a0000000008'
down_revision = '5a0000000007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('side', sa.Enum('out', 'in', name='side', native_enum=False, length=20), nullable=False),
    sa.Column('state', sa.Enum('applied', 'approving', 'issued', 'delivered', 'claimed', 'received', 'closed', 'rejected', 'cancelled', 'expired', 'refused', name='state', native_enum=False, length=20), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=40), nullable=True),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('member_name', sa.String(length=60), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('receiving_org_id', sa.Integer(), nullable=True),
    sa.Column('issuer_org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('from_node', sa.String(length=64), nullable=False),
    sa.Column('from_tenant', sa.String(length=40), nullable=False),
    sa.Column('from_org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('from_org_name', sa.String(length=120), nullable=False),
    sa.Column('to_node', sa.String(length=64), nullable=False),
    sa.Column('to_tenant', sa.String(length=40), nullable=False),
    sa.Column('to_org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('to_org_name', sa.String(length=120), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('identity_hash', sa.String(length=64), nullable=False),
    sa.Column('dossier_cipher', sa.Text(), nullable=True),
    sa.Column('dues_paid_up_to', sa.String(length=7), nullable=True),
    sa.Column('issued_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_until', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason_code', sa.String(length=30), nullable=True),
    sa.Column('reason_text', sa.String(length=500), nullable=True),
    sa.Column('destination_member_number', sa.String(length=24), nullable=True),
    sa.Column('destination_org_code', sa.String(length=64), nullable=True),
    sa.Column('auto_approve', sa.Boolean(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_transfers_member_id_members')),
    sa.ForeignKeyConstraint(['receiving_org_id'], ['orgs.id'], name=op.f('fk_transfers_receiving_org_id_orgs')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_transfers_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers')),
    sa.UniqueConstraint('tenant_id', 'uid', 'side', name=op.f('uq_transfers_tenant_id_uid_side'))
    )
    op.create_index(op.f('ix_transfers_member_id'), 'transfers', ['member_id'], unique=False)
    op.create_index('ix_transfers_org_code_id', 'transfers', ['org_code', 'id'], unique=False)
    op.create_index(op.f('ix_transfers_tenant_id'), 'transfers', ['tenant_id'], unique=False)
    op.create_index('ix_transfers_tenant_state', 'transfers', ['tenant_id', 'state'], unique=False)
    op.create_table('transfer_approvals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('chain', sa.Enum('send', 'receive', name='chain', native_enum=False, length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('org_name', sa.String(length=120), nullable=False),
    sa.Column('decided_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=80), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_transfer_approvals_org_id_orgs')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_transfer_approvals_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_transfer_approvals_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_approvals')),
    sa.UniqueConstraint('transfer_id', 'attempt', 'chain', 'position', name=op.f('uq_transfer_approvals_transfer_id_attempt_chain_position'))
    )
    op.create_index(op.f('ix_transfer_approvals_tenant_id'), 'transfer_approvals', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_transfer_approvals_transfer_id'), 'transfer_approvals', ['transfer_id'], unique=False)
    op.create_table('transfer_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=False),
    sa.Column('at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('actor_account_id', sa.Integer(), nullable=True),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('state', sa.Enum('applied', 'approving', 'issued', 'delivered', 'claimed', 'received', 'closed', 'rejected', 'cancelled', 'expired', 'refused', name='state', native_enum=False, length=20), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['actor_account_id'], ['accounts.id'], name=op.f('fk_transfer_events_actor_account_id_accounts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_transfer_events_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_transfer_events_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_events'))
    )
    op.create_index(op.f('ix_transfer_events_tenant_id'), 'transfer_events', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_transfer_events_transfer_id'), 'transfer_events', ['transfer_id'], unique=False)
    op.create_table('transfer_serials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_transfer_serials_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_serials')),
    sa.UniqueConstraint('tenant_id', 'year', name=op.f('uq_transfer_serials_tenant_id_year'))
    )
    op.create_index(op.f('ix_transfer_serials_tenant_id'), 'transfer_serials', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_transfer_serials_tenant_id'), table_name='transfer_serials')
    op.drop_table('transfer_serials')
    op.drop_index(op.f('ix_transfer_events_transfer_id'), table_name='transfer_events')
    op.drop_index(op.f('ix_transfer_events_tenant_id'), table_name='transfer_events')
    op.drop_table('transfer_events')
    op.drop_index(op.f('ix_transfer_approvals_transfer_id'), table_name='transfer_approvals')
    op.drop_index(op.f('ix_transfer_approvals_tenant_id'), table_name='transfer_approvals')
    op.drop_table('transfer_approvals')
    op.drop_index('ix_transfers_tenant_state', table_name='transfers')
    op.drop_index(op.f('ix_transfers_tenant_id'), table_name='transfers')
    op.drop_index('ix_transfers_org_code_id', table_name='transfers')
    op.drop_index(op.f('ix_transfers_member_id'), table_name='transfers')
    op.drop_table('transfers')
