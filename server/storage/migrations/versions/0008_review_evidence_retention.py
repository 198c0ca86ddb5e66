"""review, evidence export and retention: checkpoints, exports, retention and legal hold

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:00:00

Issue 12. Signed checkpoints of every case log's head (append-only, chained, optionally
timestamped by a TSA), evidence exports of a case, an org's recording retention and whether
its parties may watch recordings, a case's legal hold, and the time retention deleted a
segment's file (the row and its log entries stay).
"""

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('evidence_checkpoints',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('heads', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('key_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('tsa_url', sa.String(length=500), nullable=True),
    sa.Column('tsa_token', sa.LargeBinary(), nullable=True),
    sa.Column('tsa_error', sa.String(length=400), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_evidence_checkpoints'))
    )
    op.create_table('case_exports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('path', sa.String(length=400), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('bytes', sa.BigInteger(), nullable=True),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=True),
    sa.Column('checkpoint_seq', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=400), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_exports_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_exports'))
    )
    with op.batch_alter_table('case_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_exports_case_id'), ['case_id'], unique=False)
    with op.batch_alter_table('orgs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording_retention_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('parties_see_recordings', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_hold', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('recording_segments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recording_segments', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('legal_hold')
    with op.batch_alter_table('orgs', schema=None) as batch_op:
        batch_op.drop_column('parties_see_recordings')
        batch_op.drop_column('recording_retention_days')
    with op.batch_alter_table('case_exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_exports_case_id'))
    op.drop_table('case_exports')
    op.drop_table('evidence_checkpoints')
