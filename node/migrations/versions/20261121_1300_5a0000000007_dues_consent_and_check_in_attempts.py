"""dues consent for quarterly and ahead payments; check-in attempts

Revision ID: 5a0000000007
Revises: 5a0000000006
Create Date: 2026-11-21 13:00:00
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5a0000000007'
down_revision = '5a0000000006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dues_ahead_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('through_month', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('granted_by_account_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_by_account_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['granted_by_account_id'], ['accounts.id'], name=op.f('fk_dues_ahead_consents_granted_by_account_id_accounts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_dues_ahead_consents_member_id_members')),
    sa.ForeignKeyConstraint(['revoked_by_account_id'], ['accounts.id'], name=op.f('fk_dues_ahead_consents_revoked_by_account_id_accounts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_ahead_consents_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dues_ahead_consents')),
    sa.UniqueConstraint('member_id', name=op.f('uq_dues_ahead_consents_member_id'))
    )
    with op.batch_alter_table('dues_ahead_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dues_ahead_consents_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('meeting_checkin_failures',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_meeting_checkin_failures'))
    )


def downgrade() -> None:
    op.drop_table('meeting_checkin_failures')
    with op.batch_alter_table('dues_ahead_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_ahead_consents_tenant_id'))

    op.drop_table('dues_ahead_consents')
