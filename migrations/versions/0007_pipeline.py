"""pipeline: when an outbox job started, webhook attempts recorded before they are made

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OLD_OUTCOMES = "outcome IN ('succeeded', 'retry', 'failed', 'gone')"
NEW_OUTCOMES = "outcome IN ('sending', 'succeeded', 'retry', 'interrupted', 'failed', 'gone')"


def upgrade():
    with op.batch_alter_table('outbox_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_webhook_attempts_outcome_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_webhook_attempts_outcome_known'), NEW_OUTCOMES)


def downgrade():
    op.execute("UPDATE webhook_attempts SET outcome = 'retry' WHERE outcome IN ('sending', 'interrupted')")
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_webhook_attempts_outcome_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_webhook_attempts_outcome_known'), OLD_OUTCOMES)
    with op.batch_alter_table('outbox_jobs', schema=None) as batch_op:
        batch_op.drop_column('started_at')
