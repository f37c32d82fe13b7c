"""Registry version and per-patient changes (cache invalidation, batch ordering), interruptions per
clinician per day, and each patient's first-ever survey per instrument (backfilled from the summaries).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _first_surveys(bind: sa.Connection) -> list[dict[str, object]]:
    """The earliest administration of each instrument per patient, read from every stored summary."""
    first: dict[tuple[str, str], dict[str, object]] = {}
    rows = bind.execute(sa.text("SELECT id, patient, summary FROM envelopes ORDER BY received_at"))
    for envelope_id, patient, summary in rows:
        for survey in json.loads(summary).get("surveys") or []:
            key = (patient, survey["instrument"])
            day = dt.date.fromisoformat(survey["date"])
            if key not in first or day < first[key]["survey_date"]:  # type: ignore[operator]
                first[key] = {"patient": patient, "instrument": survey["instrument"], "survey_date": day,
                              "envelope_id": envelope_id}
    return list(first.values())


def upgrade() -> None:
    """Apply this revision."""
    state = op.create_table('hub_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('registry_version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(state, [{'id': 1, 'registry_version': 0}])
    op.create_table('registry_changes',
    sa.Column('version', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('patient', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_table('interruptions',
    sa.Column('clinician', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('clinician', 'day', 'item_id')
    )
    baselines = op.create_table('survey_baselines',
    sa.Column('patient', sa.String(length=256), nullable=False),
    sa.Column('instrument', sa.String(length=64), nullable=False),
    sa.Column('survey_date', sa.Date(), nullable=False),
    sa.Column('envelope_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('patient', 'instrument')
    )
    found = _first_surveys(op.get_bind())
    if found:
        op.bulk_insert(baselines, found)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('survey_baselines')
    op.drop_table('interruptions')
    op.drop_table('registry_changes')
    op.drop_table('hub_state')
