"""Patients whose directive cycle failed (the error, how often, when it is retried); the replay's memory of each
patient (the last day evaluated and how many summaries it had then); directives superseded by later data; a
patient's label set at enrolment, and the name, MRN and birth date last read from their linked EHR chart;
clinicians' requests from the inbox (send a PHQ-9, schedule a contact), waiting for or pushed to the EHR;
whether an outbox row pushes its directive, withdraws it from the EHR (superseded after its push) or restores it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'cycle_failures',
        sa.Column('patient', sa.String(length=256), sa.ForeignKey('patients.did'), primary_key=True),
        sa.Column('stage', sa.String(length=32), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('first_failed_at', _WHEN, nullable=False),
        sa.Column('last_failed_at', _WHEN, nullable=False),
        sa.Column('next_retry_at', _WHEN, nullable=False, index=True),
    )
    op.add_column('patients', sa.Column('evaluated_through', sa.Date(), nullable=True))
    op.add_column('patients', sa.Column('evaluated_count', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('directives', sa.Column('superseded_at', _WHEN, nullable=True))
    op.add_column('ehr_outbox', sa.Column('mode', sa.String(length=8), nullable=False, server_default='push'))
    op.add_column('patients', sa.Column('label', sa.String(length=120), nullable=False, server_default=''))
    op.create_table(
        'clinician_requests',
        sa.Column('id', sa.String(length=64), primary_key=True),
        sa.Column('patient', sa.String(length=256), sa.ForeignKey('patients.did'), nullable=False, index=True),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('by', sa.String(length=64), nullable=False),
        sa.Column('at', _WHEN, nullable=False),
        sa.Column('due', _WHEN, nullable=False),
        sa.Column('priority', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('next_attempt_at', _WHEN, nullable=False, index=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('pushed_at', _WHEN, nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
    )
    op.create_table(
        'ehr_charts',
        sa.Column('patient', sa.String(length=256), sa.ForeignKey('patients.did'), primary_key=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('mrn', sa.String(length=64), nullable=False),
        sa.Column('birth_date', sa.String(length=10), nullable=False),
        sa.Column('fetched_at', _WHEN, nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('ehr_charts')
    op.drop_table('clinician_requests')
    op.drop_column('patients', 'label')
    op.drop_column('ehr_outbox', 'mode')
    op.drop_column('directives', 'superseded_at')
    op.drop_column('patients', 'evaluated_count')
    op.drop_column('patients', 'evaluated_through')
    op.drop_table('cycle_failures')
