"""dispatch: attempts and leases of scan runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scan_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('lease_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_scan_runs_status_id', ['status', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('scan_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_scan_runs_status_id')
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_seconds')
        batch_op.drop_column('attempt')
