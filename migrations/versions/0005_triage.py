"""triage: decisions per project and fingerprint; indexes for filtering a run's findings

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('triage_states',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('fingerprint', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('updated_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('updated_by_email', sa.String(length=320), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('open', 'false_positive', 'accepted_risk')", name=op.f('ck_triage_states_state_known')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_triage_states_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_triage_states_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triage_states')),
    sa.UniqueConstraint('project_id', 'fingerprint', name=op.f('uq_triage_states_project_id_fingerprint'))
    )
    with op.batch_alter_table('triage_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_triage_states_updated_by_id'), ['updated_by_id'], unique=False)

    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.create_index('ix_issues_scan_run_id_severity', ['scan_run_id', 'severity'], unique=False)
        batch_op.create_index('ix_issues_scan_run_id_category', ['scan_run_id', 'category'], unique=False)


def downgrade():
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_index('ix_issues_scan_run_id_category')
        batch_op.drop_index('ix_issues_scan_run_id_severity')

    with op.batch_alter_table('triage_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_triage_states_updated_by_id'))

    op.drop_table('triage_states')
