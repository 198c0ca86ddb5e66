"""minutes, agreements, signatures and judicial confirmation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 23:51:38

Issue 11: the minutes (调解笔录) as revisions, acknowledgements of the rights notice,
agreements (调解协议书) in versions, signatures on exact versions, and judicial-confirmation
deliveries kept in the database so that a restart loses none. Orgs get their seal and court
endpoint; sessions say where people met (none: online).
"""

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signatures',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('document', sa.String(length=16), nullable=False),
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('version_id', sa.String(length=36), nullable=False),
    sa.Column('version_sha256', sa.String(length=64), nullable=False),
    sa.Column('signer', sa.String(length=80), nullable=False),
    sa.Column('signer_role', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('image_png', sa.LargeBinary(), nullable=False),
    sa.Column('image_sha256', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=500), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_signatures_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signatures')),
    sa.UniqueConstraint('version_id', 'signer', name='uq_signatures_version_signer')
    )
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signatures_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_signatures_document_id'), ['document_id'], unique=False)

    op.create_table('agreements',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=True),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_agreements_case_id_cases')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_agreements_session_id_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreements'))
    )
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreements_case_id'), ['case_id'], unique=False)

    op.create_table('minutes_revisions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('base_revision', sa.Integer(), nullable=False),
    sa.Column('save_id', sa.String(length=64), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_minutes_revisions_case_id_cases')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_minutes_revisions_session_id_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_minutes_revisions')),
    sa.UniqueConstraint('session_id', 'revision', name='uq_minutes_revisions_session_revision'),
    sa.UniqueConstraint('session_id', 'save_id', name='uq_minutes_revisions_session_save')
    )
    with op.batch_alter_table('minutes_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_minutes_revisions_case_id'), ['case_id'], unique=False)

    op.create_table('notice_acknowledgements',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('pid', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('notice_sha256', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_notice_acknowledgements_case_id_cases')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_notice_acknowledgements_session_id_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_acknowledgements')),
    sa.UniqueConstraint('session_id', 'pid', name='uq_notice_acknowledgements_session_pid')
    )
    with op.batch_alter_table('notice_acknowledgements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_acknowledgements_case_id'), ['case_id'], unique=False)

    op.create_table('agreement_versions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('agreement_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_agreement_versions_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_agreement_versions_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_versions')),
    sa.UniqueConstraint('agreement_id', 'version', name='uq_agreement_versions_agreement_version')
    )
    with op.batch_alter_table('agreement_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_versions_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreement_versions_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreement_versions_sha256'), ['sha256'], unique=False)

    op.create_table('confirmation_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('agreement_id', sa.String(length=36), nullable=False),
    sa.Column('agreement_version_id', sa.String(length=36), nullable=False),
    sa.Column('endpoint', sa.String(length=500), nullable=False),
    sa.Column('package_path', sa.String(length=400), nullable=False),
    sa.Column('package_sha256', sa.String(length=64), nullable=False),
    sa.Column('package_bytes', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_confirmation_requests_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['agreement_version_id'], ['agreement_versions.id'], name=op.f('fk_confirmation_requests_agreement_version_id_agreement_versions')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_confirmation_requests_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_confirmation_requests'))
    )
    with op.batch_alter_table('confirmation_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_confirmation_requests_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_confirmation_requests_status_next', ['status', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('orgs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal_png', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('court_endpoint', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('court_secret', sa.String(length=200), nullable=True))

    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place', sa.String(length=200), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('place')

    with op.batch_alter_table('orgs', schema=None) as batch_op:
        batch_op.drop_column('court_secret')
        batch_op.drop_column('court_endpoint')
        batch_op.drop_column('seal_png')

    with op.batch_alter_table('confirmation_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_confirmation_requests_status_next')
        batch_op.drop_index(batch_op.f('ix_confirmation_requests_case_id'))

    op.drop_table('confirmation_requests')
    with op.batch_alter_table('agreement_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_versions_sha256'))
        batch_op.drop_index(batch_op.f('ix_agreement_versions_case_id'))
        batch_op.drop_index(batch_op.f('ix_agreement_versions_agreement_id'))

    op.drop_table('agreement_versions')
    with op.batch_alter_table('notice_acknowledgements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_acknowledgements_case_id'))

    op.drop_table('notice_acknowledgements')
    with op.batch_alter_table('minutes_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_minutes_revisions_case_id'))

    op.drop_table('minutes_revisions')
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreements_case_id'))

    op.drop_table('agreements')
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signatures_document_id'))
        batch_op.drop_index(batch_op.f('ix_signatures_case_id'))

    op.drop_table('signatures')
