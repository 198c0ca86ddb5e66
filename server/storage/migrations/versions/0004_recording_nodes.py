"""recording runs belong to a node process, so a crashed node's runs show as interrupted

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 09:30:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('nodes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nodes'))
    )
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nodes_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_nodes_seen_at'), ['seen_at'], unique=False)
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('node_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_recordings_node_id'), ['node_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recordings_node_id'))
        batch_op.drop_column('node_id')
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nodes_seen_at'))
        batch_op.drop_index(batch_op.f('ix_nodes_name'))
    op.drop_table('nodes')
