"""image locations: an image's data in several stores (multi-store)

The single `images.location` becomes rows of `image_locations` (store, url);
existing data is the filesystem store's, id "file".

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 12:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('image_locations',
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('store', sa.String(length=255), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', Timestamp, nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_image_locations_image_id_images'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id', 'store', name=op.f('pk_image_locations'))
    )
    op.execute("INSERT INTO image_locations (image_id, store, url, position, created_at) "
               "SELECT id, 'file', location, 0, updated_at FROM images WHERE location IS NOT NULL")
    if op.get_bind().dialect.name == 'sqlite':
        # Not batch mode: it recreates `images`, and with foreign keys on, dropping the old
        # table would cascade to properties, tags and members.  SQLite >= 3.35 drops in place.
        op.execute("ALTER TABLE images DROP COLUMN location")
    else:
        op.drop_column('images', 'location')


def downgrade() -> None:
    op.add_column('images', sa.Column('location', sa.Text(), nullable=True))
    op.execute("UPDATE images SET location = (SELECT url FROM image_locations l WHERE l.image_id = images.id "
               "ORDER BY position LIMIT 1)")
    op.drop_table('image_locations')
