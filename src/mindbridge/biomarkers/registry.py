"""The one list of biomarker families; `table.daily_table` runs each on the series it consumes."""

from __future__ import annotations

from .base import Family
from .phone import PhoneUse
from .typing_cadence import TypingCadence

FAMILIES: list[Family] = [
    PhoneUse(),
    TypingCadence(),
]
