"""Patients whose directive cycle failed: the error, how often, and when the cycle is retried (back-off).

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


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('cycle_failures')
