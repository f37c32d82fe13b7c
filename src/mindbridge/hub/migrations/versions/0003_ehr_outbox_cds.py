"""EHR connection: the FHIR push outbox, patient links to the EHR, CDS Hooks jti replay store and issued cards.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'ehr_outbox',
        sa.Column('directive_id', sa.String(length=64), sa.ForeignKey('directives.id'), primary_key=True),
        sa.Column('patient', sa.String(length=256), nullable=False, index=True),
        sa.Column('tier_rank', sa.Integer(), nullable=False),
        sa.Column('enqueued_at', _WHEN, nullable=False),
        sa.Column('next_attempt_at', _WHEN, nullable=False, index=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('lease_until', _WHEN, nullable=True),
        sa.Column('pushed_at', _WHEN, nullable=True),
        sa.Column('created', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
    )
    op.create_table(
        'ehr_links',
        sa.Column('patient', sa.String(length=256), sa.ForeignKey('patients.did'), primary_key=True),
        sa.Column('fhir_id', sa.String(length=64), nullable=False, unique=True),
        sa.Column('linked_at', _WHEN, nullable=False),
    )
    op.create_table(
        'cds_jti',
        sa.Column('issuer', sa.String(length=256), primary_key=True),
        sa.Column('jti', sa.String(length=256), primary_key=True),
        sa.Column('expires_at', _WHEN, nullable=False, index=True),
    )
    op.create_table(
        'cds_cards',
        sa.Column('uuid', sa.String(length=36), primary_key=True),
        sa.Column('item_id', sa.String(length=64), sa.ForeignKey('queue_items.id'), nullable=False),
        sa.Column('directive_id', sa.String(length=64), nullable=False),
        sa.Column('rule_id', sa.String(length=64), nullable=False),
        sa.Column('issued_at', _WHEN, nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    for table in ('cds_cards', 'cds_jti', 'ehr_links', 'ehr_outbox'):
        op.drop_table(table)
