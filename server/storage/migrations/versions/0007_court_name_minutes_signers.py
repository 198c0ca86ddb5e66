"""the court's name, and who signs each revision of the minutes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:15:00

The application for judicial confirmation names the court the org sends to (until now it
said 有管辖权的人民法院 for every org). A revision of the minutes keeps who had to sign it when
it was saved, so that an invitation issued or revoked later does not change what locks it;
revisions saved before this migration have none and are worked out as before.
"""

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orgs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('court_name', sa.String(length=100), nullable=True))
    with op.batch_alter_table('minutes_revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signers', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('minutes_revisions', schema=None) as batch_op:
        batch_op.drop_column('signers')
    with op.batch_alter_table('orgs', schema=None) as batch_op:
        batch_op.drop_column('court_name')
