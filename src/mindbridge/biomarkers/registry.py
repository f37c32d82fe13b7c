"""The one list of biomarker families; `table.daily_table` runs each on the series it consumes."""

from __future__ import annotations

from .activity import ActivityFamily
from .activity_profile import ActivityProfile
from .base import Family
from .cardiac import Cardiac
from .circadian import CircadianFamily
from .language import LanguageFamily
from .metabolic import GlucoseFamily, HormoneFamily
from .mobility import Mobility
from .phone import PhoneUse
from .sleep import SleepFamily
from .surveys import SurveysFamily
from .typing_cadence import TypingCadence
from .voice import VoiceFamily
from .wearable_sleep import WearableSleep

FAMILIES: list[Family] = [
    ActivityFamily(),
    ActivityProfile(),
    CircadianFamily(),
    SleepFamily(),
    WearableSleep(),
    Cardiac(),
    Mobility(),
    PhoneUse(),
    TypingCadence(),
    VoiceFamily(),
    LanguageFamily(),
    SurveysFamily(),
    GlucoseFamily(),
    HormoneFamily("cortisol"),
]
