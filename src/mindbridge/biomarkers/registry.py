"""The one list of biomarker families; `table.daily_table` runs each on the series it consumes."""

from __future__ import annotations

from .activity import ActivityFamily
from .base import Family
from .cardiac import Cardiac
from .circadian import CircadianFamily
from .phone import PhoneUse
from .sleep import SleepFamily
from .typing_cadence import TypingCadence

FAMILIES: list[Family] = [
    ActivityFamily(),
    CircadianFamily(),
    SleepFamily(),
    Cardiac(),
    PhoneUse(),
    TypingCadence(),
]
