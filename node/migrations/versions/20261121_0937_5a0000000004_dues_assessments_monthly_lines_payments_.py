"""Dues: assessments, monthly lines, payments, orders, reductions, consents, closed months, reminders

Revision ID: 5a0000000004
Revises: 5a0000000003
Create Date: 2026-11-21 09:37:08.966327
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5a0000000004'
down_revision = '5a0000000003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dues_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('category', sa.Enum('salaried', 'annual_salary', 'self_employed', 'retiree', 'farmer', 'student', 'unemployed', 'exempt', name='duescategory', native_enum=False, length=24), nullable=False),
    sa.Column('base', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('monthly_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('rule_version', sa.String(length=20), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('assessed_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_dues_assessments_member_id_members')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_assessments_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dues_assessments')),
    sa.UniqueConstraint('member_id', 'year', name=op.f('uq_dues_assessments_member_id_year'))
    )
    with op.batch_alter_table('dues_assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dues_assessments_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dues_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('level', sa.Enum('reminder', 'escalation', name='reminderlevel', native_enum=False, length=24), nullable=False),
    sa.Column('unpaid_months', sa.Integer(), nullable=False),
    sa.Column('amount_owed', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('recipients', sa.String(length=500), nullable=False),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_dues_reminders_member_id_members')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_reminders_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dues_reminders')),
    sa.UniqueConstraint('member_id', 'month', 'level', name=op.f('uq_dues_reminders_member_id_month_level'))
    )
    with op.batch_alter_table('dues_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dues_reminders_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dues_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('payer_member_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('granted_by_account_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['granted_by_account_id'], ['accounts.id'], name=op.f('fk_dues_consents_granted_by_account_id_accounts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_dues_consents_member_id_members')),
    sa.ForeignKeyConstraint(['payer_member_id'], ['members.id'], name=op.f('fk_dues_consents_payer_member_id_members')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_consents_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dues_consents')),
    sa.UniqueConstraint('member_id', 'payer_member_id', name=op.f('uq_dues_consents_member_id_payer_member_id'))
    )
    with op.batch_alter_table('dues_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dues_consents_payer_member_id'), ['payer_member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dues_consents_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dues_months',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('paid_lines', sa.Integer(), nullable=False),
    sa.Column('exempt_lines', sa.Integer(), nullable=False),
    sa.Column('due_total', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('paid_total', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('unpaid_total', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('collected_total', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('large_total', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('closed_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_by_account_id', sa.Integer(), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['closed_by_account_id'], ['accounts.id'], name=op.f('fk_dues_months_closed_by_account_id_accounts')),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_dues_months_org_id_orgs')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_months_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dues_months')),
    sa.UniqueConstraint('org_id', 'month', name=op.f('uq_dues_months_org_id_month'))
    )
    with op.batch_alter_table('dues_months', schema=None) as batch_op:
        batch_op.create_index('ix_dues_months_month_org_code', ['month', 'org_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_dues_months_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dues_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('monthly', 'large', name='paymentkind', native_enum=False, length=24), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('payer_member_id', sa.Integer(), nullable=True),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('method', sa.Enum('online', 'cash', 'bank_transfer', name='paymentmethod', native_enum=False, length=24), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('forwarded_to_org_id', sa.Integer(), nullable=True),
    sa.Column('provider', sa.String(length=40), nullable=True),
    sa.Column('provider_txn_id', sa.String(length=80), nullable=True),
    sa.Column('reference', sa.String(length=120), nullable=True),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('recorded_by_account_id', sa.Integer(), nullable=True),
    sa.Column('paid_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['forwarded_to_org_id'], ['orgs.id'], name=op.f('fk_dues_payments_forwarded_to_org_id_orgs')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_dues_payments_member_id_members')),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_dues_payments_org_id_orgs')),
    sa.ForeignKeyConstraint(['payer_member_id'], ['members.id'], name=op.f('fk_dues_payments_payer_member_id_members')),
    sa.ForeignKeyConstraint(['recorded_by_account_id'], ['accounts.id'], name=op.f('fk_dues_payments_recorded_by_account_id_accounts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_payments_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dues_payments')),
    sa.UniqueConstraint('provider', 'provider_txn_id', name=op.f('uq_dues_payments_provider_provider_txn_id'))
    )
    with op.batch_alter_table('dues_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dues_payments_member_id'), ['member_id'], unique=False)
        batch_op.create_index('ix_dues_payments_org_code_paid_at', ['org_code', 'paid_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dues_payments_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dues_reductions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('kind', sa.Enum('reduced', 'exempt', name='reductionkind', native_enum=False, length=24), nullable=False),
    sa.Column('monthly_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('from_month', sa.Date(), nullable=False),
    sa.Column('to_month', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'rejected', name='reductionstatus', native_enum=False, length=24), nullable=False),
    sa.Column('requested_by_account_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.String(length=500), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_account_id'], ['accounts.id'], name=op.f('fk_dues_reductions_decided_by_account_id_accounts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_dues_reductions_member_id_members')),
    sa.ForeignKeyConstraint(['requested_by_account_id'], ['accounts.id'], name=op.f('fk_dues_reductions_requested_by_account_id_accounts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_reductions_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dues_reductions'))
    )
    with op.batch_alter_table('dues_reductions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dues_reductions_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dues_reductions_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dues_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('category', sa.Enum('salaried', 'annual_salary', 'self_employed', 'retiree', 'farmer', 'student', 'unemployed', 'exempt', name='duescategory', native_enum=False, length=24), nullable=False),
    sa.Column('base', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('amount_due', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('rule_version', sa.String(length=20), nullable=False),
    sa.Column('status', sa.Enum('unpaid', 'paid', 'exempt', name='linestatus', native_enum=False, length=24), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('reduction_id', sa.Integer(), nullable=True),
    sa.Column('paid_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_dues_lines_member_id_members')),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_dues_lines_org_id_orgs')),
    sa.ForeignKeyConstraint(['payment_id'], ['dues_payments.id'], name=op.f('fk_dues_lines_payment_id_dues_payments')),
    sa.ForeignKeyConstraint(['reduction_id'], ['dues_reductions.id'], name=op.f('fk_dues_lines_reduction_id_dues_reductions')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_lines_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dues_lines')),
    sa.UniqueConstraint('member_id', 'month', name=op.f('uq_dues_lines_member_id_month'))
    )
    with op.batch_alter_table('dues_lines', schema=None) as batch_op:
        batch_op.create_index('ix_dues_lines_org_code_month', ['org_code', 'month'], unique=False)
        batch_op.create_index('ix_dues_lines_org_id_month', ['org_id', 'month'], unique=False)
        batch_op.create_index(batch_op.f('ix_dues_lines_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dues_lines_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dues_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('payer_member_id', sa.Integer(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('status', sa.Enum('pending', 'paid', 'failed', name='orderstatus', native_enum=False, length=24), nullable=False),
    sa.Column('provider_txn_id', sa.String(length=80), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_dues_orders_account_id_accounts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_dues_orders_member_id_members')),
    sa.ForeignKeyConstraint(['payer_member_id'], ['members.id'], name=op.f('fk_dues_orders_payer_member_id_members')),
    sa.ForeignKeyConstraint(['payment_id'], ['dues_payments.id'], name=op.f('fk_dues_orders_payment_id_dues_payments')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_orders_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dues_orders')),
    sa.UniqueConstraint('token', name=op.f('uq_dues_orders_token'))
    )
    with op.batch_alter_table('dues_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dues_orders_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dues_orders_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dues_order_lines',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['dues_lines.id'], name=op.f('fk_dues_order_lines_line_id_dues_lines')),
    sa.ForeignKeyConstraint(['order_id'], ['dues_orders.id'], name=op.f('fk_dues_order_lines_order_id_dues_orders')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dues_order_lines_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('order_id', 'line_id', name=op.f('pk_dues_order_lines'))
    )
    with op.batch_alter_table('dues_order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dues_order_lines_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dues_order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_order_lines_tenant_id'))

    op.drop_table('dues_order_lines')
    with op.batch_alter_table('dues_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_orders_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_dues_orders_member_id'))

    op.drop_table('dues_orders')
    with op.batch_alter_table('dues_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_lines_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_dues_lines_payment_id'))
        batch_op.drop_index('ix_dues_lines_org_id_month')
        batch_op.drop_index('ix_dues_lines_org_code_month')

    op.drop_table('dues_lines')
    with op.batch_alter_table('dues_reductions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_reductions_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_dues_reductions_member_id'))

    op.drop_table('dues_reductions')
    with op.batch_alter_table('dues_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_payments_tenant_id'))
        batch_op.drop_index('ix_dues_payments_org_code_paid_at')
        batch_op.drop_index(batch_op.f('ix_dues_payments_member_id'))

    op.drop_table('dues_payments')
    with op.batch_alter_table('dues_months', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_months_tenant_id'))
        batch_op.drop_index('ix_dues_months_month_org_code')

    op.drop_table('dues_months')
    with op.batch_alter_table('dues_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_consents_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_dues_consents_payer_member_id'))

    op.drop_table('dues_consents')
    with op.batch_alter_table('dues_reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_reminders_tenant_id'))

    op.drop_table('dues_reminders')
    with op.batch_alter_table('dues_assessments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_assessments_tenant_id'))

    op.drop_table('dues_assessments')
