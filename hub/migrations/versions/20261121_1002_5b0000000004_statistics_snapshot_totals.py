"""Statistics: the sums of each complete snapshot, for rollups above the tenants.

Revision ID: 5b0000000004
Revises: 5b0000000003
Create Date: 2026-11-21 10:02:38.488888
"""

from alembic import op
import sqlalchemy as sa


revision = '5b0000000004'
down_revision = '5b0000000003'
branch_labels = None
depends_on = None

#: The summed columns as of this revision (the backfill must not follow later model changes).
MEMBERS = (
    'stage_applicant',
    'stage_activist',
    'stage_candidate',
    'stage_probationary',
    'stage_full',
    'status_active',
    'status_floating',
    'status_lost_contact',
    'status_suspended',
    'status_transferred_out',
    'status_kept',
    'status_left',
    'gender_male',
    'gender_female',
    'age_le_30',
    'age_31_40',
    'age_41_50',
    'age_51_60',
    'age_61_70',
    'age_gt_70',
    'education_primary',
    'education_junior_secondary',
    'education_senior_secondary',
    'education_vocational',
    'education_associate',
    'education_bachelor',
    'education_master',
    'education_doctorate',
    'education_unknown',
    'party_age_lt_5',
    'party_age_5_9',
    'party_age_10_19',
    'party_age_20_29',
    'party_age_ge_30',
    'party_age_unknown',
)
KINDS = ('committee', 'general_branch', 'branch', 'joint_branch', 'group')


def upgrade() -> None:
    op.create_table('stat_snapshot_totals',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('stage_applicant', sa.Integer(), nullable=False),
    sa.Column('stage_activist', sa.Integer(), nullable=False),
    sa.Column('stage_candidate', sa.Integer(), nullable=False),
    sa.Column('stage_probationary', sa.Integer(), nullable=False),
    sa.Column('stage_full', sa.Integer(), nullable=False),
    sa.Column('status_active', sa.Integer(), nullable=False),
    sa.Column('status_floating', sa.Integer(), nullable=False),
    sa.Column('status_lost_contact', sa.Integer(), nullable=False),
    sa.Column('status_suspended', sa.Integer(), nullable=False),
    sa.Column('status_transferred_out', sa.Integer(), nullable=False),
    sa.Column('status_kept', sa.Integer(), nullable=False),
    sa.Column('status_left', sa.Integer(), nullable=False),
    sa.Column('gender_male', sa.Integer(), nullable=False),
    sa.Column('gender_female', sa.Integer(), nullable=False),
    sa.Column('age_le_30', sa.Integer(), nullable=False),
    sa.Column('age_31_40', sa.Integer(), nullable=False),
    sa.Column('age_41_50', sa.Integer(), nullable=False),
    sa.Column('age_51_60', sa.Integer(), nullable=False),
    sa.Column('age_61_70', sa.Integer(), nullable=False),
    sa.Column('age_gt_70', sa.Integer(), nullable=False),
    sa.Column('education_primary', sa.Integer(), nullable=False),
    sa.Column('education_junior_secondary', sa.Integer(), nullable=False),
    sa.Column('education_senior_secondary', sa.Integer(), nullable=False),
    sa.Column('education_vocational', sa.Integer(), nullable=False),
    sa.Column('education_associate', sa.Integer(), nullable=False),
    sa.Column('education_bachelor', sa.Integer(), nullable=False),
    sa.Column('education_master', sa.Integer(), nullable=False),
    sa.Column('education_doctorate', sa.Integer(), nullable=False),
    sa.Column('education_unknown', sa.Integer(), nullable=False),
    sa.Column('party_age_lt_5', sa.Integer(), nullable=False),
    sa.Column('party_age_5_9', sa.Integer(), nullable=False),
    sa.Column('party_age_10_19', sa.Integer(), nullable=False),
    sa.Column('party_age_20_29', sa.Integer(), nullable=False),
    sa.Column('party_age_ge_30', sa.Integer(), nullable=False),
    sa.Column('party_age_unknown', sa.Integer(), nullable=False),
    sa.Column('kind_committee', sa.Integer(), nullable=False),
    sa.Column('kind_general_branch', sa.Integer(), nullable=False),
    sa.Column('kind_branch', sa.Integer(), nullable=False),
    sa.Column('kind_joint_branch', sa.Integer(), nullable=False),
    sa.Column('kind_group', sa.Integer(), nullable=False),
    sa.Column('orgs', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['stat_snapshots.id'], name=op.f('fk_stat_snapshot_totals_snapshot_id_stat_snapshots')),
    sa.PrimaryKeyConstraint('snapshot_id', name=op.f('pk_stat_snapshot_totals'))
    )

    # Backfill: the totals of every snapshot already complete.
    sums = ", ".join(f"COALESCE(SUM({c}), 0)" for c in MEMBERS)
    kinds = ", ".join(f"COUNT(CASE WHEN kind = '{k}' THEN 1 END)" for k in KINDS)
    op.execute(
        f"INSERT INTO stat_snapshot_totals (snapshot_id, {', '.join(MEMBERS)}, "
        f"{', '.join('kind_' + k for k in KINDS)}, orgs) "
        f"SELECT org_stats.snapshot_id, {sums}, {kinds}, COUNT(*) FROM org_stats "
        "JOIN stat_snapshots ON stat_snapshots.id = org_stats.snapshot_id "
        "WHERE stat_snapshots.completed_at IS NOT NULL GROUP BY org_stats.snapshot_id")


def downgrade() -> None:
    op.drop_table('stat_snapshot_totals')
