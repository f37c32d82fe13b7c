"""The one list of biomarker families; `table.daily_table` runs each on the series it consumes."""

from __future__ import annotations

from .base import Family

FAMILIES: list[Family] = []
