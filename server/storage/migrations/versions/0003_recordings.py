"""recordings: runs, consents, segments with SHA-256, composite downloads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:18:21.318001
"""

from alembic import op
import sqlalchemy as sa



revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recording_composites',
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('bytes', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=400), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_recording_composites_case_id_cases')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_recording_composites_session_id_sessions')),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_recording_composites'))
    )
    with op.batch_alter_table('recording_composites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_composites_case_id'), ['case_id'], unique=False)

    op.create_table('recordings',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_by', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stop_reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_recordings_case_id_cases')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_recordings_session_id_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings'))
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recordings_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_recordings_session_status', ['session_id', 'status'], unique=False)

    op.create_table('recording_consents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('recording_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('pid', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('invitation_id', sa.String(length=36), nullable=True),
    sa.Column('account_id', sa.String(length=36), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_recording_consents_case_id_cases')),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_recording_consents_recording_id_recordings')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_recording_consents_session_id_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_consents'))
    )
    with op.batch_alter_table('recording_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_consents_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_consents_recording_id'), ['recording_id'], unique=False)

    op.create_table('recording_segments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('recording_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('pid', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('codec', sa.String(length=16), nullable=False),
    sa.Column('track', sa.String(length=100), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('bytes', sa.Integer(), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('first_wallclock', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_rtp_ts', sa.BigInteger(), nullable=False),
    sa.Column('sender_reports', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_recording_segments_case_id_cases')),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_recording_segments_recording_id_recordings')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_recording_segments_session_id_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_segments')),
    sa.UniqueConstraint('path', name='uq_recording_segments_path')
    )
    with op.batch_alter_table('recording_segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_segments_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_segments_recording_id'), ['recording_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('recording_segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_segments_recording_id'))
        batch_op.drop_index(batch_op.f('ix_recording_segments_case_id'))

    op.drop_table('recording_segments')
    with op.batch_alter_table('recording_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_consents_recording_id'))
        batch_op.drop_index(batch_op.f('ix_recording_consents_case_id'))

    op.drop_table('recording_consents')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_session_status')
        batch_op.drop_index(batch_op.f('ix_recordings_case_id'))

    op.drop_table('recordings')
    with op.batch_alter_table('recording_composites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_composites_case_id'))

    op.drop_table('recording_composites')
