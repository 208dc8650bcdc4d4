"""tenant directory from the hub; routed transfer steps

The whole directory (nodes with their current key, tenants with name, region and code prefix)
as the hub last sent it (partynet.tenants.directory.v1), and its version.

Revision ID: 5a000000000a
Revises: 5a0000000009
Create Date: 2026-11-21 13:00:00
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5a000000000a'
down_revision = '5a0000000009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('directory_nodes',
    sa.Column('node', sa.String(length=128), nullable=False),
    sa.Column('key_id', sa.String(length=80), nullable=False),
    sa.Column('public', sa.LargeBinary(length=32), nullable=False),
    sa.Column('valid_from', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('node', name=op.f('pk_directory_nodes'))
    )
    op.create_table('directory_tenants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('node', sa.String(length=128), nullable=False),
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('region', sa.String(length=6).with_variant(sa.String(length=6, collation='C'), 'postgresql'), nullable=False),
    sa.Column('code_prefix', sa.String(length=12).with_variant(sa.String(length=12, collation='C'), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_tenants')),
    sa.UniqueConstraint('node', 'slug', name=op.f('uq_directory_tenants_node_slug'))
    )
    with op.batch_alter_table('directory_tenants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directory_tenants_code_prefix'), ['code_prefix'], unique=False)
        batch_op.create_index(batch_op.f('ix_directory_tenants_slug'), ['slug'], unique=False)

    op.create_table('directory_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('issued_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_version'))
    )


def downgrade() -> None:
    op.drop_table('directory_version')
    with op.batch_alter_table('directory_tenants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directory_tenants_slug'))
        batch_op.drop_index(batch_op.f('ix_directory_tenants_code_prefix'))

    op.drop_table('directory_tenants')
    op.drop_table('directory_nodes')
