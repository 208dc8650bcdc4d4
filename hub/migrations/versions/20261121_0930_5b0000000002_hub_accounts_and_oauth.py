"""Hub accounts, their sign-in throttle, the hub's OAuth clients, codes and tokens; revocable
enrollment tokens.

Revision ID: 5b0000000002
Revises: 5b0000000001
Create Date: 2026-11-21 09:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5b0000000002'
down_revision = '5b0000000001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hub_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=60), nullable=False),
    sa.Column('display_name', sa.String(length=60), nullable=False),
    sa.Column('email', sa.String(length=120), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('role', sa.Enum('administrator', 'auditor', 'region_viewer', name='hubrole', native_enum=False, length=16), nullable=False),
    sa.Column('region_prefix', sa.String(length=12).with_variant(sa.String(length=12, collation='C'), 'postgresql'), nullable=True),
    sa.Column('locale', sa.String(length=10), nullable=True),
    sa.Column('is_service', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('last_login_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deactivated_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_accounts')),
    sa.UniqueConstraint('username', name=op.f('uq_hub_accounts_username'))
    )
    op.create_table('hub_login_failures',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_hub_login_failures'))
    )
    op.create_table('hub_oauth_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('client_secret_hash', sa.String(length=200), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('redirect_uris', sa.Text(), nullable=False),
    sa.Column('grant_types', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('service_account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['service_account_id'], ['hub_accounts.id'], name=op.f('fk_hub_oauth_clients_service_account_id_hub_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_oauth_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_hub_oauth_clients_client_id'))
    )
    op.create_table('hub_oauth_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('redirect_uri', sa.Text(), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=True),
    sa.Column('code_challenge_method', sa.String(length=10), nullable=True),
    sa.Column('expires_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['hub_accounts.id'], name=op.f('fk_hub_oauth_codes_account_id_hub_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_oauth_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_hub_oauth_codes_code_hash'))
    )
    op.create_table('hub_oauth_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('access_token_hash', sa.String(length=64), nullable=False),
    sa.Column('refresh_token_hash', sa.String(length=64), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('issued_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', shared.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('refresh_expires_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', shared.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['hub_accounts.id'], name=op.f('fk_hub_oauth_tokens_account_id_hub_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_oauth_tokens')),
    sa.UniqueConstraint('access_token_hash', name=op.f('uq_hub_oauth_tokens_access_token_hash')),
    sa.UniqueConstraint('refresh_token_hash', name=op.f('uq_hub_oauth_tokens_refresh_token_hash'))
    )
    with op.batch_alter_table('hub_oauth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hub_oauth_tokens_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hub_oauth_tokens_client_id'), ['client_id'], unique=False)

    with op.batch_alter_table('enrollment_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', shared.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoked_by', sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('enrollment_tokens', schema=None) as batch_op:
        batch_op.drop_column('revoked_by')
        batch_op.drop_column('revoked_at')

    with op.batch_alter_table('hub_oauth_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hub_oauth_tokens_client_id'))
        batch_op.drop_index(batch_op.f('ix_hub_oauth_tokens_account_id'))

    op.drop_table('hub_oauth_tokens')
    op.drop_table('hub_oauth_codes')
    op.drop_table('hub_oauth_clients')
    op.drop_table('hub_login_failures')
    op.drop_table('hub_accounts')
