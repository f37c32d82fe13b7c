"""The contract every biomarker family keeps: named, documented daily features from canonical series.

pandas is imported only where a table is built, so that numpy-only families load without it on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..datapoints import Kind, Series

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Feature:
    """One daily feature: its column name, UCUM unit, one-sentence definition and reference."""

    name: str
    unit: str
    definition: str
    reference: str = ""


class Family(Protocol):
    """A biomarker family: a pure function from one subject's series to a daily feature table.

    `daily` returns a DataFrame indexed by local calendar day (`datetime64[ns]` at midnight, index name
    `date`), with one column per feature in `features` (missing stays NaN, never imputed) and one column
    `coverage_<name>` in [0, 1] saying how much of that day had the data the family needs.
    """

    @property
    def name(self) -> str:
        """The family's name, used in its coverage column."""
        ...

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """The series kinds the family consumes."""
        ...

    @property
    def features(self) -> tuple[Feature, ...]:
        """The documented features, in column order."""
        ...

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily features from the subject's series of this family's kinds (never an empty list)."""
        ...


def coverage_column(family: str) -> str:
    """Name of a family's coverage column."""
    return f"coverage_{family}"


def empty_daily(family: Family) -> pd.DataFrame:
    """A correctly shaped daily table with no rows."""
    import pandas as pd

    cols = [f.name for f in family.features] + [coverage_column(family.name)]
    return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="date"), dtype=float)
