"""the files a server's create or rebuild asked to inject (personality, up to 2.56)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('instances') as batch_op:
        batch_op.add_column(sa.Column('injected_files', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('instances') as batch_op:
        batch_op.drop_column('injected_files')
