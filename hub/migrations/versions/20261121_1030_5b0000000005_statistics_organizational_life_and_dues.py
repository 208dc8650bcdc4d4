"""Statistics: organizational life and dues per organization (partynet.stats.snapshot.v2).

Columns added to org_stats and stat_snapshot_totals; rows already stored (v1 snapshots) hold
zeros, which the rates read as "nothing due".

Revision ID: 5b0000000005
Revises: 5b0000000006
Create Date: 2026-11-21 10:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '5b0000000005'
down_revision = '5b0000000006'
branch_labels = None
depends_on = None

#: The columns as of this revision (not read from the models, which may change later).
KINDS = ('member_assembly', 'committee_meeting', 'group_meeting', 'party_lecture', 'theme_day',
         'life_meeting', 'talks')
COUNTS = (
    *(f'{measure}_{kind}' for measure in ('held', 'due', 'met') for kind in KINDS),
    'attendance_invited', 'attendance_present', 'attendance_excused',
    'dues_assessed', 'dues_paid_up', 'dues_in_arrears',
)
AMOUNTS = ('dues_due_fen', 'dues_paid_fen')


def _columns() -> list[sa.Column]:
    return [*(sa.Column(name, sa.Integer(), nullable=False, server_default='0')
              for name in COUNTS),
            *(sa.Column(name, sa.BigInteger(), nullable=False, server_default='0')
              for name in AMOUNTS)]


def upgrade() -> None:
    for table in ('org_stats', 'stat_snapshot_totals'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in _columns():
                batch_op.add_column(column)


def downgrade() -> None:
    for table in ('stat_snapshot_totals', 'org_stats'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in reversed((*COUNTS, *AMOUNTS)):
                batch_op.drop_column(name)
