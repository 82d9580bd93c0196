"""outbox totals: done jobs folded out of outbox_jobs once old, counted for /metrics

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 23:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox_job_totals',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'bucket', name=op.f('pk_outbox_job_totals'))
    )


def downgrade():
    op.drop_table('outbox_job_totals')
