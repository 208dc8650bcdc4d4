"""floating members (floating certificates)

Revision ID: 5a0000000009
Revises: 5a0000000008
Create Date: 2026-11-21 13:00:00
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5a0000000009'
down_revision = '5a0000000008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('floating_certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('side', sa.Enum('home', 'host', name='floatingside', native_enum=False, length=16), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('status', sa.Enum('pending', 'active', 'declined', 'ended', name='floatingstatus', native_enum=False, length=16), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('member_name', sa.String(length=60), nullable=False),
    sa.Column('member_number', sa.String(length=24), nullable=False),
    sa.Column('member_stage', sa.Enum('applicant', 'activist', 'candidate', 'probationary', 'full', name='stage', native_enum=False, length=16), nullable=False),
    sa.Column('member_phone', sa.String(length=30), nullable=True),
    sa.Column('member_email', sa.String(length=120), nullable=True),
    sa.Column('home_tenant_slug', sa.String(length=40), nullable=False),
    sa.Column('home_org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('home_org_name', sa.String(length=120), nullable=False),
    sa.Column('host_tenant_slug', sa.String(length=40), nullable=False),
    sa.Column('host_tenant_name', sa.String(length=120), nullable=False),
    sa.Column('host_org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('host_org_name', sa.String(length=120), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('until', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('decline_reason', sa.String(length=300), nullable=True),
    sa.Column('end_reason', sa.Enum('returned', 'cancelled', 'expired', name='endreason', native_enum=False, length=16), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_floating_certificates_account_id_accounts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_floating_certificates_member_id_members')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_floating_certificates_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_floating_certificates')),
    sa.UniqueConstraint('tenant_id', 'side', 'number', name=op.f('uq_floating_certificates_tenant_id_side_number')),
    sa.UniqueConstraint('tenant_id', 'uid', 'side', name=op.f('uq_floating_certificates_tenant_id_uid_side'))
    )
    with op.batch_alter_table('floating_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_floating_certificates_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_floating_certificates_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_floating_certificates_tenant_org_code', ['tenant_id', 'org_code'], unique=False)

    op.create_table('floating_participations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('meeting_ref', sa.String(length=60), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('present', 'excused', 'absent', name='participationstatus', native_enum=False, length=16), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('recorded_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['floating_certificates.id'], name=op.f('fk_floating_participations_certificate_id_floating_certificates')),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_floating_participations_meeting_id_meetings')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_floating_participations_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_floating_participations')),
    sa.UniqueConstraint('certificate_id', 'meeting_ref', name=op.f('uq_floating_participations_certificate_id_meeting_ref'))
    )
    with op.batch_alter_table('floating_participations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_floating_participations_certificate_id'), ['certificate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_floating_participations_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('floating_participations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_floating_participations_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_floating_participations_certificate_id'))

    op.drop_table('floating_participations')
    with op.batch_alter_table('floating_certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_floating_certificates_tenant_org_code')
        batch_op.drop_index(batch_op.f('ix_floating_certificates_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_floating_certificates_member_id'))

    op.drop_table('floating_certificates')
