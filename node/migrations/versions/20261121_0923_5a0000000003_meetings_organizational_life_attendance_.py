"""Meetings: organizational life, attendance and files

Revision ID: 5a0000000003
Revises: 5a0000000002
Create Date: 2026-11-21 09:23:51.652022
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5a0000000003'
down_revision = '5a0000000002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('kind', sa.Enum('member_assembly', 'committee_meeting', 'group_meeting', 'party_lecture', 'theme_day', 'life_meeting', 'talks', name='meetingkind', native_enum=False, length=24), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('online_url', sa.String(length=500), nullable=True),
    sa.Column('status', sa.Enum('scheduled', 'held', 'cancelled', name='meetingstatus', native_enum=False, length=24), nullable=False),
    sa.Column('cancel_reason', sa.String(length=500), nullable=True),
    sa.Column('minutes', sa.Text(), nullable=False),
    sa.Column('recording_url', sa.String(length=500), nullable=True),
    sa.Column('checkin_code', sa.String(length=6), nullable=False),
    sa.Column('review_status', sa.Enum('none', 'submitted', 'approved', 'returned', name='reviewstatus', native_enum=False, length=24), nullable=False),
    sa.Column('review_reason', sa.String(length=500), nullable=True),
    sa.Column('reviewed_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reviewer_account_id', sa.Integer(), nullable=True),
    sa.Column('created_by_account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('held_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_account_id'], ['accounts.id'], name=op.f('fk_meetings_created_by_account_id_accounts')),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_meetings_org_id_orgs')),
    sa.ForeignKeyConstraint(['reviewer_account_id'], ['accounts.id'], name=op.f('fk_meetings_reviewer_account_id_accounts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_meetings_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meetings'))
    )
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.create_index('ix_meetings_org_code_starts_at', ['org_code', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_meetings_org_id'), ['org_id'], unique=False)
        batch_op.create_index('ix_meetings_starts_at_id', ['starts_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meetings_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('meeting_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=127), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_meeting_attachments_meeting_id_meetings')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_meeting_attachments_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_attachments'))
    )
    with op.batch_alter_table('meeting_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_attachments_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_attachments_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('meeting_attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('invited', 'present', 'absent', 'excused', name='attendancestatus', native_enum=False, length=24), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('method', sa.Enum('code', 'secretary', name='checkinmethod', native_enum=False, length=24), nullable=True),
    sa.Column('checked_in_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('marked_by_account_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['marked_by_account_id'], ['accounts.id'], name=op.f('fk_meeting_attendance_marked_by_account_id_accounts')),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_meeting_attendance_meeting_id_meetings')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_meeting_attendance_member_id_members')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_meeting_attendance_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_attendance')),
    sa.UniqueConstraint('meeting_id', 'member_id', name=op.f('uq_meeting_attendance_meeting_id_member_id'))
    )
    with op.batch_alter_table('meeting_attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_attendance_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_attendance_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_attendance_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('meeting_attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_attendance_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_attendance_member_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_attendance_meeting_id'))

    op.drop_table('meeting_attendance')
    with op.batch_alter_table('meeting_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_attachments_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_attachments_meeting_id'))

    op.drop_table('meeting_attachments')
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meetings_tenant_id'))
        batch_op.drop_index('ix_meetings_starts_at_id')
        batch_op.drop_index(batch_op.f('ix_meetings_org_id'))
        batch_op.drop_index('ix_meetings_org_code_starts_at')

    op.drop_table('meetings')
