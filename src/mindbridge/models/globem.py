"""The GLOBEM sample benchmark: weekly depression detection from RAPIDS daily features, past weeks → future
weeks of the same users (Xu et al., GLOBEM, NeurIPS 2022 Datasets and Benchmarks).

Each weekly label (`dep` in SurveyData/dep_weekly.csv) is paired with the RAPIDS features of its date over
the trailing 14 days (`:14dhist` columns, raw values, not the `_norm`/`_dis` variants). Every user's last
labelled week is held out; the model is fitted on all earlier weeks of all users. The model family is chosen
inside the training weeks by the same protocol one step earlier: each user's last training week is predicted
from the weeks before it, and the candidate with the best balanced accuracy there is refitted on every
training week. Same-user, future-week prediction rewards models that recognise a person's own pattern (tree
ensembles do), which is why the within-dataset figures of the GLOBEM paper sit far above its cross-dataset
ones. The CSVs are read here with pandas because `models/` may not import `sources/` (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .evaluation import binary_metrics, subject_bootstrap

PUBLISHED_BALANCED_ACCURACY = 0.691
PROTOCOL = ("per user: every labelled week but the last → the last week; features = RAPIDS :14dhist values on "
            "the label date; model family (balanced-class logistic, random forest, extra trees; median "
            "imputation; threshold 0.5) chosen by the same protocol inside the training weeks (each user's last "
            "training week from the earlier ones), then refitted on every training week")
WINDOW = ":14dhist"
TREES, SEED = 500, 0


def _with_imputer(model: ClassifierMixin, scale: bool = False) -> Pipeline:
    steps = [SimpleImputer(strategy="median", keep_empty_features=True), *([StandardScaler()] if scale else []), model]
    return make_pipeline(*steps)


CANDIDATES: dict[str, Callable[[], Pipeline]] = {
    "logistic": lambda: _with_imputer(LogisticRegression(C=0.01, class_weight="balanced", max_iter=5000), True),
    "random forest": lambda: _with_imputer(RandomForestClassifier(TREES, min_samples_leaf=2, class_weight="balanced",
                                                                  random_state=SEED)),
    "extra trees": lambda: _with_imputer(ExtraTreesClassifier(TREES, class_weight="balanced", random_state=SEED)),
}


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
    """Held-out metrics of the last-week protocol, the chosen model family and its sizes."""

    metrics: dict[str, float]
    train_weeks: int
    test_weeks: int
    users: int
    features: int
    chosen: str
    inner_balanced_accuracy: dict[str, float]
    intervals: dict[str, tuple[float, float]]  # 95 % percentile bootstrap over the held-out users
    protocol: str = PROTOCOL
    published_balanced_accuracy: float = PUBLISHED_BALANCED_ACCURACY


def last_week_split(weeks: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(earlier weeks, each user's last week) for the users with more than one labelled week."""
    weeks = weeks.sort_values(["pid", "date"]).reset_index(drop=True)
    last = weeks.groupby("pid").cumcount(ascending=False) == 0
    has_history = weeks.groupby("pid")["date"].transform("size") > 1
    return weeks[~last], weeks[last & has_history]


def _fit_predict(name: str, train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> np.ndarray:
    model = CANDIDATES[name]().fit(train[columns].to_numpy(float), train["dep"].to_numpy())
    return np.asarray(model.predict_proba(test[columns].to_numpy(float))[:, 1])


def choose_family(train: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    """Balanced accuracy of each candidate predicting each user's last training week from the earlier ones."""
    inner_train, inner_test = last_week_split(train)
    y = inner_test["dep"].to_numpy()
    return {name: binary_metrics(y, _fit_predict(name, inner_train, inner_test, columns))["balanced_accuracy"]
            for name in CANDIDATES}


def run_globem(weeks: pd.DataFrame) -> GlobemResult:
    """Choose the model family inside the earlier weeks, refit on them, test on each user's last week."""
    train, test = last_week_split(weeks)
    columns = [c for c in weeks.columns if c.endswith(WINDOW) and train[c].notna().any()]
    inner = choose_family(train, columns)
    chosen = max(inner, key=lambda name: inner[name])
    p, y = _fit_predict(chosen, train, test, columns), test["dep"].to_numpy()
    intervals = subject_bootstrap(y, p, test["pid"].to_numpy(), np.full(len(y), 0.5))
    return GlobemResult(binary_metrics(y, p), len(train), len(test), weeks["pid"].nunique(), len(columns), chosen,
                        inner, intervals)
