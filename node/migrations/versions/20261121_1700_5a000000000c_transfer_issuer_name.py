"""the issuing committee's name on both sides of a transfer

The receiving side prints the letter too, and its receipt goes back to the issuing committee:
the letter step now carries that committee's name (`issuer_org_name`), and each side keeps it.
Rows from before keep null (the letter then names the member's former organization).

Revision ID: 5a000000000c
Revises: 5a000000000b
Create Date: 2026-11-21 17:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '5a000000000c'
down_revision = '5a000000000b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issuer_org_name', sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_column('issuer_org_name')
