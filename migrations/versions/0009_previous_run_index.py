"""index for a project's previous completed run (every report looks it up)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 23:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scan_runs', schema=None) as batch_op:
        batch_op.create_index(
            'ix_scan_runs_project_id_status_id', ['project_id', 'status', 'id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('scan_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_scan_runs_project_id_status_id')
