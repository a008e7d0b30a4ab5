"""the volume's metadata kept with a backup, restored with it

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 20:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('backups') as batch_op:
        batch_op.add_column(sa.Column('volume_metadata', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('backups') as batch_op:
        batch_op.drop_column('volume_metadata')
