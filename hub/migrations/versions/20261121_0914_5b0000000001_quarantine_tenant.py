"""Quarantine: the tenant a held message claims, so its administrators can see it.

Revision ID: 5b0000000001
Revises: 2626e29afae3
Create Date: 2026-11-21 09:14:05.299570
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5b0000000001'
down_revision = '2626e29afae3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fed_quarantine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tenant', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_fed_quarantine_tenant'), ['tenant'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('fed_quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fed_quarantine_tenant'))
        batch_op.drop_column('tenant')

