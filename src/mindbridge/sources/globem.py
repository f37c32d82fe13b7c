"""GLOBEM exports (Xu et al., NeurIPS 2022 Datasets and Benchmarks): daily RAPIDS features and surveys.

GLOBEM holds four yearly studies of the same university (`INS-W_1` … `INS-W_4`, 2018–2021, Seattle).
Every file is a CSV indexed by `pid` (participant, e.g. `INS-W_004`) and `date` (the local study day),
except `platform.csv`, indexed by `pid` alone. Files are recognised by their header, never by name:

- feature files (`FeatureData/*.csv`): `pid,date` then 80 to 1,200 RAPIDS feature columns, one table
  `globem_features_<sensor>` per file (`globem_features_all` when one file mixes sensors);
- `dep_weekly.csv` → `globem_depression_weekly` (weekly PHQ-4 answers, BDI-II and the `dep` label) and
  `dep_endterm.csv` → `globem_depression_endterm`; `ema.csv`, `pre.csv`, `post.csv` → `globem_ema`,
  `globem_survey_pre`, `globem_survey_post`; `platform.csv` → `globem_platform`.

Every table renames `pid` to `subject`, holds `date` as `datetime64[ns]` at local midnight, and gains a
`dataset` column (`INS-W_<n>`, from the `INS-W-sample_<n>` or `INS-W_<n>` folder, else the pid's prefix).
Numbers are float64 and an empty cell stays NaN: nothing is imputed. Discretised (`_dis`) features are
ordered categoricals `l` < `m` < `h`; `dep` is a nullable boolean. A row is refused, with its line and the
reason, when its pid or date is missing or unreadable, when a field does not parse, when a `_dis` level,
a `dep` label or a questionnaire score is invalid, or when its key repeats an earlier row (an exact copy
or a conflicting one: the first row is kept, as `tidy` does for series).

The weekly questionnaire scores also become SURVEY_RESPONSE series, one per subject, with the item code
in the `item` column (see `SCORES`: `phq4/feel_anxious`, `phq4/feel_depressed`, `phq4/total`,
`bdi2/total`; `total` marks a sum score rather than a single item). GLOBEM gives only the day of an
answer, so each answer is placed at local noon of that day in America/Los_Angeles (the study's zone),
or in `ReadContext.tz` when given. Files hold many participants, so `ReadContext.subject` is not used.

RAPIDS feature names read `<prefix>:<sensor>_<provider>_<feature><version>:<segment>`, for example
`f_slp:fitbit_sleep_summary_rapids_sumdurationasleepmain:14dhist`:

- prefix: the GLOBEM data type (`f_loc` location, `f_screen` screen, `f_call` calls, `f_blue` bluetooth,
  `f_steps` steps, `f_slp` sleep, `f_wifi` wifi);
- sensor: the RAPIDS sensor (`phone_locations`, `phone_screen`, `phone_calls`, `phone_bluetooth`,
  `phone_wifi_connected`, `fitbit_steps_summary`, `fitbit_steps_intraday`, `fitbit_sleep_summary`,
  `fitbit_sleep_intraday`);
- provider: who wrote the feature code (`rapids`; `doryab`, location and bluetooth features after
  Doryab et al. 2019; `barnett`, mobility features after Barnett & Onnela 2020; `locmap`, GLOBEM's
  time spent at mapped places such as study or exercise locations);
- feature: the feature itself, e.g. `sumdurationasleepmain`, `countepisodeunlock`, `missed_count`;
- version: nothing for the raw value, `_norm` for the value minus the participant's median divided by
  the participant's 5–95 % quantile range, `_dis` for the participant's tertile (`l`, `m`, `h`);
- segment: the window the value summarises: `morning` (6–12 h), `afternoon` (12–18 h), `evening`
  (18–24 h), `night` (0–6 h), `allday` (the calendar day), `7dhist` and `14dhist` (the past 7 or 14
  days, computed daily), `weekday` and `weekend` (computed once a week, on Friday and on Sunday).

`parse_feature` splits a column name into these parts; `select_features` picks columns by sensor,
segment, version and provider.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series, check_timezone
from .base import NotReadable, ReadContext, ReadResult, head_text, read_utf8
from .csvtable import ColumnType, CsvColumns, header_of, read_columns
from .quarantine import Rejected
from .tidy import Locator, TidyStats, tidy
from .timezones import localize

DEFAULT_TZ = "America/Los_Angeles"
ANSWER_HOUR = np.timedelta64(12, "h")
SOURCE = "GLOBEM weekly survey"

SENSORS: dict[str, str] = {"f_loc": "location", "f_screen": "screen", "f_call": "call", "f_blue": "bluetooth",
                           "f_steps": "steps", "f_slp": "sleep", "f_wifi": "wifi"}
PROVIDERS = frozenset({"rapids", "doryab", "barnett", "locmap"})
SEGMENTS = ("morning", "afternoon", "evening", "night", "allday", "7dhist", "14dhist", "weekday", "weekend")
LEVELS = ("l", "m", "h")
LEVEL_DTYPE = pd.CategoricalDtype(list(LEVELS), ordered=True)
Version = Literal["raw", "norm", "dis"]
Refuse = Callable[[np.ndarray, Callable[[int], str]], None]

_FEATURE = re.compile(r"^(f_[a-z]+):(\w+?)(_norm|_dis)?:(\w+)$")
_BOOLEAN = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}

WEEKLY = "globem_depression_weekly"
ENDTERM = "globem_depression_endterm"
PLATFORM = "globem_platform"


@dataclass(frozen=True)
class Score:
    """A questionnaire score GLOBEM reports: its item code and the whole numbers it can take."""

    code: str
    low: int
    high: int


SCORES: dict[str, Score] = {
    "feel_anxious": Score("phq4/feel_anxious", 0, 3),
    "feel_depressed": Score("phq4/feel_depressed", 0, 3),
    "phq4": Score("phq4/total", 0, 12),
    "BDI2": Score("bdi2/total", 0, 63),
}
WEEKLY_ITEMS = ("feel_anxious", "feel_depressed", "phq4")


@dataclass(frozen=True)
class FeatureName:
    """The parts of one RAPIDS feature column name (see the module docstring)."""

    column: str
    prefix: str
    sensor: str
    provider: str
    feature: str
    version: Version
    segment: str

    @property
    def data_type(self) -> str:
        """The GLOBEM data type of the prefix, e.g. 'sleep' for `f_slp`."""
        return parse_prefix(self.prefix)


def parse_feature(column: str) -> FeatureName:
    """Split a RAPIDS feature column name into prefix, sensor, provider, feature, version and segment."""
    match = _FEATURE.match(column)
    if match is None:
        raise ValueError(f"{column!r} is not a RAPIDS feature name (<prefix>:<sensor>_<provider>_<feature>:<segment>)")
    prefix, name, suffix, segment = match.groups()
    tokens = name.split("_")
    at = next((i for i, t in enumerate(tokens) if i > 0 and t in PROVIDERS and i < len(tokens) - 1), None)
    if at is None:
        raise ValueError(f"{column!r}: no known RAPIDS provider ({', '.join(sorted(PROVIDERS))}) in {name!r}")
    version: Version = "norm" if suffix == "_norm" else "dis" if suffix == "_dis" else "raw"
    return FeatureName(column, prefix, "_".join(tokens[:at]), tokens[at], "_".join(tokens[at + 1:]), version,
                       segment)


def select_features(columns: Iterable[str], *, sensor: str | None = None, segment: str | None = None,
                    version: Version | None = "raw", provider: str | None = None) -> list[str]:
    """The feature columns matching every criterion given, in their original order.

    `sensor` may be a data type (`sleep`), a prefix (`f_slp`) or a RAPIDS sensor (`fitbit_sleep_summary`);
    `version=None` keeps all three versions. Columns without a ':' (subject, date, dataset) are skipped.
    """
    names = [parse_feature(c) for c in columns if ":" in c]
    _check_choice("sensor", sensor, {*SENSORS, *SENSORS.values(), *(n.sensor for n in names)})
    _check_choice("segment", segment, {*SEGMENTS, *(n.segment for n in names)})
    _check_choice("provider", provider, {*PROVIDERS, *(n.provider for n in names)})
    _check_choice("version", version, {"raw", "norm", "dis"})
    return [n.column for n in names
            if (sensor is None or sensor in (n.prefix, n.data_type, n.sensor))
            and (segment is None or n.segment == segment)
            and (version is None or n.version == version)
            and (provider is None or n.provider == provider)]


def _check_choice(what: str, value: str | None, known: set[str]) -> None:
    if value is not None and value not in known:
        raise ValueError(f"unknown {what} {value!r}; known: {', '.join(sorted(known))}")


def classify(header: list[str]) -> str | None:
    """The table a GLOBEM file fills, judged from its header fields (None when it is not GLOBEM)."""
    if header[:2] == ["pid", "platform"]:
        return PLATFORM
    rest = header[2:]
    if header[:2] != ["pid", "date"] or not rest:
        return None
    if all(_FEATURE.match(c) for c in rest):
        prefixes = {c.split(":", 1)[0] for c in rest}
        return f"globem_features_{parse_prefix(prefixes.pop())}" if len(prefixes) == 1 else "globem_features_all"
    if "dep" in rest:
        return WEEKLY if any(c in rest for c in WEEKLY_ITEMS) else ENDTERM
    for suffix, table in (("EMA", "globem_ema"), ("PRE", "globem_survey_pre"), ("POST", "globem_survey_post")):
        if all(re.search(rf"_{suffix}(\.\d+)?$", c) for c in rest):
            return table
    return None


def parse_prefix(prefix: str) -> str:
    """The GLOBEM data type of a feature prefix ('f_slp' → 'sleep'; unknown prefixes lose 'f_')."""
    return SENSORS.get(prefix, prefix.removeprefix("f_"))


def dataset_of(path: Path, subjects: pd.Series) -> pd.Series:
    """The GLOBEM dataset of each row: `INS-W_<n>` from the folder, else the pid without its number."""
    for part in reversed(path.parent.parts):
        found = re.fullmatch(r"INS-W(?:-sample)?_(\d+)", part)
        if found:
            return pd.Series(f"INS-W_{found.group(1)}", index=subjects.index, dtype="str")
    return subjects.str.rsplit("_", n=1).str[0]


class GlobemReader:
    """Any GLOBEM CSV: daily RAPIDS feature files, depression labels, EMA, pre/post surveys, platforms."""

    name = "globem"
    description = "GLOBEM / RAPIDS CSV (pid,date + features, depression labels or surveys; pid,platform)"

    def sniff(self, head: bytes, path: Path) -> bool:
        """The header (possibly cut by the sniff window on wide files) is one of GLOBEM's."""
        text = head_text(head)
        first, newline, _ = text.partition("\n")
        fields = next(csv.reader([first.rstrip("\r")]), [])
        return classify(fields if newline else fields[:-1]) is not None

    def read(self, path: Path, ctx: ReadContext) -> ReadResult:
        """Read the file into its table; the weekly depression file also gives survey-response series."""
        data, note = read_utf8(path)
        result = ReadResult(path, self.name, notes=[note] if note else [])
        header = header_of(data)
        table = classify(header)
        if table is None:
            raise NotReadable(f"not a GLOBEM file: the header starts {header[:4]}")
        repeated = sorted(c for c, n in Counter(header).items() if n > 1)
        if repeated:
            raise NotReadable(f"column name(s) {repeated} appear more than once in the header")
        cols = read_columns(path, data, {c: _column_type(c) for c in header})
        result.rejected.extend(cols.rejected)
        frame, reasons = _typed(cols)
        key = ["subject", "date"] if "date" in frame else ["subject"]
        reasons.update(_repeats(frame, key, set(reasons), cols.where))
        raw = cols.raw
        result.rejected.extend(Rejected(str(path), cols.where(i), reasons[i], raw(i)) for i in sorted(reasons))
        kept = np.setdiff1d(np.arange(len(frame)), np.fromiter(reasons, dtype=np.int64, count=len(reasons)))
        frame = frame.iloc[kept].reset_index(drop=True)
        frame.insert(len(key), "dataset", dataset_of(path, frame["subject"]))
        result.tables[table] = frame
        if table == WEEKLY:
            tz = check_timezone(ctx.tz or DEFAULT_TZ)
            for series, stats in _answers(path, frame, cols.where, raw, kept, tz):
                result.add(series, stats)
        result.rows_in = len(cols) + len(cols.rejected)
        return result


def _column_type(column: str) -> ColumnType:
    if column == "date":
        return "date"
    return "str" if column in ("pid", "platform", "dep") or "_dis:" in column else "float"


def _typed(cols: CsvColumns) -> tuple[pd.DataFrame, dict[int, str]]:
    """The parsed columns as a typed frame, and the reasons rows with invalid fields are refused."""
    reasons: dict[int, str] = {}

    def refuse(mask: np.ndarray, why: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask):
            reasons.setdefault(int(i), why(int(i)))

    levels = _levels([c for c in cols.columns if "_dis:" in c], cols.columns, refuse)
    data: dict[str, object] = {}
    for column, values in cols.columns.items():
        if column == "pid":
            refuse(pd.isna(values), lambda i: "missing pid")
            data["subject"] = values
        elif column == "date":
            refuse(np.isnat(values), lambda i: "missing date")
            data["date"] = values.astype("datetime64[ns]")
        elif column == "dep":
            data[column] = _booleans(column, values, refuse)
        elif column in levels:
            data[column] = levels[column]
        elif column in SCORES:
            _check_score(column, values, refuse)
            data[column] = values
        else:
            data[column] = values
    return pd.DataFrame(data), reasons


def _levels(columns: list[str], values: Mapping[str, np.ndarray], refuse: Refuse) -> dict[str, pd.Categorical]:
    """The discretised columns as ordered categoricals, all at once (wide files have hundreds)."""
    if not columns:
        return {}
    grid = np.stack([values[c] for c in columns], axis=1)
    codes = np.full(grid.shape, -1, dtype=np.int8)
    for code, level in enumerate(LEVELS):
        codes[grid == level] = code
    odd = (codes < 0) & ~pd.isna(grid)

    def why(i: int) -> str:
        j = int(np.argmax(odd[i]))
        return f"field {columns[j]!r}: level {grid[i, j]!r} is not one of {', '.join(LEVELS)}"

    refuse(odd.any(axis=1), why)
    return {c: pd.Categorical.from_codes(codes[:, j], dtype=LEVEL_DTYPE) for j, c in enumerate(columns)}


def _booleans(column: str, values: np.ndarray, refuse: Refuse) -> pd.api.extensions.ExtensionArray:
    words = pd.Series(values, dtype=object).str.strip().str.lower()
    parsed = words.map(_BOOLEAN)
    refuse((words.notna() & parsed.isna()).to_numpy(),
           lambda i: f"field {column!r}: cannot read {values[i]!r} as a boolean (True or False)")
    return pd.array(parsed.where(parsed.notna(), None).to_numpy(dtype=object), dtype="boolean")


def _check_score(column: str, values: np.ndarray, refuse: Refuse) -> None:
    score = SCORES[column]
    with np.errstate(invalid="ignore"):
        outside = (values < score.low) | (values > score.high)
    refuse(outside, lambda i: f"field {column!r}: {values[i]:g} is outside the score's range "
                              f"{score.low}–{score.high}")
    refuse(~np.isnan(values) & (values != np.round(values)),
           lambda i: f"field {column!r}: {values[i]:g} is not a whole-number score")


def _repeats(frame: pd.DataFrame, key: list[str], skip: set[int], where: Locator) -> dict[int, str]:
    """Rows whose key repeats an earlier valid row: exact copies and conflicting ones."""
    valid = frame[key].drop(index=list(skip))
    again = valid.duplicated(keep="first").to_numpy()
    if not again.any():
        return {}
    group = valid.groupby(key, sort=False).ngroup().to_numpy()  # numbered in order of first appearance
    rows = valid.index.to_numpy()[again]
    firsts = valid.index.to_numpy()[~again][group[again]]
    differ = np.zeros((len(rows), frame.shape[1]), dtype=bool)
    for k, column in enumerate(frame.columns):
        values = _comparable(frame[column])
        differ[:, k] = values[rows] != values[firsts]
    named = " and ".join(("pid" if k == "subject" else k) for k in key)
    reasons = {}
    for i, j, d in zip(rows, firsts, differ, strict=True):
        columns = frame.columns[d]
        if len(columns):
            more = f" and {len(columns) - 3} more" if len(columns) > 3 else ""
            shown = ", ".join(repr(c) for c in columns[:3]) + more
            reasons[int(i)] = f"conflicting duplicate: same {named} as {where(int(j))}, different {shown}"
        else:
            reasons[int(i)] = f"duplicate: same {named} and values as {where(int(j))}"
    return reasons


def _comparable(column: pd.Series) -> np.ndarray:
    """A column's cells in a form where `==` holds between equal cells, two missing cells included."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.cat.codes.to_numpy())
    if column.dtype == np.float64:
        return np.where(column.isna(), np.nan, column.to_numpy()).view(np.int64)  # one NaN bit pattern
    if column.dtype.kind == "M":
        return column.to_numpy().view(np.int64)  # NaT is one integer
    return column.to_numpy(dtype=object, na_value=None)


def _answers(path: Path, frame: pd.DataFrame, where: Locator, raw: Locator, kept: np.ndarray,
             tz: str) -> list[tuple[Series, TidyStats]]:
    """One SURVEY_RESPONSE series per subject from the weekly scores, each answer at local noon."""
    wall = frame["date"].to_numpy(dtype="datetime64[ns]") + ANSWER_HOUR
    utc, unplaced = localize(wall, tz)
    subjects = frame["subject"].to_numpy(dtype=object)
    datasets = frame["dataset"].to_numpy(dtype=object)
    scores = {c: frame[c].to_numpy(dtype=np.float64) for c in SCORES if c in frame}
    out = []
    for subject in sorted(set(subjects)):
        mine = subjects == subject
        picked = [(np.flatnonzero(mine & ~np.isnan(column)), c) for c, column in scores.items()]
        rows = np.concatenate([r for r, _ in picked])
        values = np.concatenate([scores[c][r] for r, c in picked])
        items = np.concatenate([np.full(len(r), SCORES[c].code, dtype=object) for r, c in picked])
        refused = {int(k): f"local noon does not exist or is ambiguous in {tz}" for k in np.flatnonzero(unplaced[rows])}
        series, stats = tidy(file=str(path), subject=subject, kind=Kind.SURVEY_RESPONSE, source=SOURCE, tz=tz,
                             time=utc[rows], where=_via(where, kept[rows]), raw=_via(raw, kept[rows]),
                             columns={"value": values, "item": items}, refused=refused)
        out.append((replace(series, meta={"dataset": str(datasets[mine][0])}), stats))
    return out


def _via(locate: Locator, rows: np.ndarray) -> Locator:
    return lambda k: locate(int(rows[k]))


