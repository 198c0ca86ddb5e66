"""chat messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 04:06:47.593347
"""

from alembic import op
import sqlalchemy as sa



revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('chat_messages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('sender_pid', sa.String(length=64), nullable=False),
    sa.Column('sender_name', sa.String(length=100), nullable=False),
    sa.Column('sender_role', sa.String(length=16), nullable=False),
    sa.Column('recipient_pid', sa.String(length=64), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_chat_messages_case_id_cases')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_chat_messages_session_id_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_messages')),
    sa.UniqueConstraint('session_id', 'sender_pid', 'client_id', name='uq_chat_messages_client')
    )
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_messages_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_chat_messages_session_at', ['session_id', 'at'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_chat_messages_session_at')
        batch_op.drop_index(batch_op.f('ix_chat_messages_case_id'))

    op.drop_table('chat_messages')
    
