"""The GLOBEM sample benchmark: weekly depression detection from RAPIDS daily features, past weeks → future
weeks of the same users (Xu et al., GLOBEM, NeurIPS 2022 Datasets and Benchmarks).

Each weekly label (`dep` in SurveyData/dep_weekly.csv) is paired with the RAPIDS features of its date over
the trailing 14 days (`:14dhist` columns, raw values, not the `_norm`/`_dis` variants). Every user's last
labelled week is held out; the model is fitted on all earlier weeks of all users (selection, calibration and
threshold inside, by user-grouped CV). The CSVs are read here with pandas because `models/` may not import
`sources/` (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .evaluation import binary_metrics
from .training import fit_risk_model

PUBLISHED_BALANCED_ACCURACY = 0.691
PROTOCOL = ("per user: every labelled week but the last → the last week; features = RAPIDS :14dhist values on "
            "the label date; L2 logistic regression, C by user-grouped CV inside the training weeks, Platt "
            "calibration, threshold = training prevalence")
WINDOW = ":14dhist"


def wanted(column: str) -> bool:
    """Whether a feature-file column is read: the keys and the raw 14-day-history features."""
    raw = not column.endswith(("_norm" + WINDOW, "_dis" + WINDOW))
    return column in ("pid", "date") or (column.endswith(WINDOW) and raw)


def read_csv(path: Path, needed: tuple[str, ...]) -> pd.DataFrame:
    """A CSV's wanted columns; a missing file or required column is an error naming the file."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing")
    frame = pd.read_csv(path, usecols=lambda c: c in needed or wanted(c))
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: lacks column(s) {', '.join(missing)}")
    return frame


def load_dataset(folder: Path) -> pd.DataFrame:
    """One INS-W folder → one row per labelled week: pid, date, dep (0/1) and every 14-day feature column."""
    labels = read_csv(folder / "SurveyData" / "dep_weekly.csv", ("pid", "date", "dep")).dropna(subset=["dep"])
    labels = labels[["pid", "date", "dep"]].assign(dep=lambda f: f["dep"].astype(bool).astype(int))
    parts = [read_csv(path, ("pid", "date")).set_index(["pid", "date"])
             for path in sorted((folder / "FeatureData").glob("*.csv"))]
    if not parts:
        raise FileNotFoundError(f"{folder / 'FeatureData'}: no feature CSV")
    features = pd.concat(parts, axis=1)
    return labels.join(features, on=["pid", "date"]).copy().assign(dataset=folder.name)


def load_sample(root: Path) -> pd.DataFrame:
    """Every INS-W-* folder under `root`, stacked (columns missing in one dataset stay NaN)."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("INS-W"))
    if not folders:
        raise FileNotFoundError(f"{root}: no INS-W-* dataset folder")
    return pd.concat([load_dataset(f) for f in folders], ignore_index=True)


@dataclass(frozen=True)
class GlobemResult:
    """Held-out metrics of the last-week protocol and its sizes."""

    metrics: dict[str, float]
    train_weeks: int
    test_weeks: int
    users: int
    features: int
    protocol: str = PROTOCOL
    published_balanced_accuracy: float = PUBLISHED_BALANCED_ACCURACY


def run_globem(weeks: pd.DataFrame) -> GlobemResult:
    """Fit on each user's earlier weeks, test on each user's last week."""
    weeks = weeks.sort_values(["pid", "date"]).reset_index(drop=True)
    last = weeks.groupby("pid").cumcount(ascending=False) == 0
    has_history = weeks.groupby("pid")["date"].transform("size") > 1
    test, train = weeks[last & has_history], weeks[~last]
    columns = [c for c in weeks.columns if c.endswith(WINDOW) and train[c].notna().any()]
    x_train, x_test = train[columns].to_numpy(float), test[columns].to_numpy(float)
    model = fit_risk_model(x_train, train["dep"].to_numpy(), train["pid"].to_numpy())
    p = model.predict_proba(x_test)
    metrics = binary_metrics(test["dep"].to_numpy(), p, model.threshold)
    return GlobemResult(metrics, len(train), len(test), weeks["pid"].nunique(), len(columns))
