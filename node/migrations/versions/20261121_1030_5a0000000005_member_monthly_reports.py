"""Member monthly reports: a stored snapshot per member and month.

Revision ID: 5a0000000005
Revises: 5a0000000004
Create Date: 2026-11-21 10:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5a0000000005'
down_revision = '5a0000000004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('member_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('org_name', sa.String(length=120), nullable=False),
    sa.Column('meetings_invited', sa.Integer(), nullable=False),
    sa.Column('meetings_attended', sa.Integer(), nullable=False),
    sa.Column('meetings_excused', sa.Integer(), nullable=False),
    sa.Column('meetings_missed', sa.Integer(), nullable=False),
    sa.Column('absences', sa.JSON(), nullable=False),
    sa.Column('dues_due', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('dues_paid', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('dues_status', sa.String(length=16), nullable=True),
    sa.Column('arrears_months', sa.Integer(), nullable=False),
    sa.Column('arrears_total', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('directives_received', sa.Integer(), nullable=False),
    sa.Column('directives_read', sa.Integer(), nullable=False),
    sa.Column('directives_completed', sa.Integer(), nullable=False),
    sa.Column('generated_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_reports_member_id_members')),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_member_reports_org_id_orgs')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_member_reports_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_reports')),
    sa.UniqueConstraint('member_id', 'month', name=op.f('uq_member_reports_member_id_month'))
    )
    with op.batch_alter_table('member_reports', schema=None) as batch_op:
        batch_op.create_index('ix_member_reports_month_org_code', ['month', 'org_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_reports_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('member_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_reports_tenant_id'))
        batch_op.drop_index('ix_member_reports_month_org_code')

    op.drop_table('member_reports')
