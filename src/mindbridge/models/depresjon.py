"""The Depresjon benchmark: nested leave-one-subject-out depression detection from daily actigraphy
features, per day and per person, beside the published subject-disjoint and mixed-fold results.

Days used: each subject's first `days` complete days (the study window of scores.csv), 693 days of 55
subjects (291 condition, 402 control), as in Garcia-Ceja et al. 2018. Two models are evaluated, each in its
own nested leave-one-subject-out loop: the day model (one probability per day) and the person model (one
probability per subject from the median and sd of its days' inputs). The per-person figures are the person
model's; the mean of a person's day probabilities is reported beside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .conformal import coverage, mean_set_size
from .context import CONTEXT_DAYS, context_names, parse_name, with_context
from .evaluation import Predictions, binary_metrics, leave_one_subject_out, per_person, subject_bootstrap
from .features import MODEL_FEATURES, model_inputs, person_inputs, study_days
from .training import CANDIDATES, Candidate, RiskModel, fit_risk_model

PROTOCOL = ("nested leave-one-subject-out (55 folds); penalty (L2, L1, elastic net) and strength of a logistic "
            "regression chosen by 5-fold subject-grouped stratified CV AUROC inside each training fold, Platt "
            "calibration and split-conformal threshold fitted on the same inner out-of-fold scores; decision "
            "threshold = training prevalence; days = first `days` complete days per subject (693), each day's "
            "features computed as the device does, over the day and the 6 before it (no later minute); per day: day "
            "model on the day's 43 inputs, alone or with their mean and sd over the 3, 5 or 7 days ending that "
            "day (never a later day), the view chosen with the penalty inside each training fold; per person: "
            "person model on the median and sd of each subject's daily inputs, its own nested LOSO; 95% "
            "intervals by bootstrap over subjects")


@dataclass(frozen=True)
class Published:
    """One published figure on Depresjon, with the protocol that produced it."""

    source: str
    protocol: str
    level: str
    metrics: dict[str, float]


PUBLISHED = (
    Published("Garcia-Ceja et al. 2018 (linear SVM)", "10-fold CV mixing a subject's days (not subject-disjoint)",
              "per_day", {"accuracy": 0.727, "mcc": 0.433}),
    Published("Garcia-Ceja et al. 2018 (ZeroR)", "10-fold CV mixing a subject's days", "per_day",
              {"accuracy": 0.580}),
    Published("Garcia-Ceja 2018 features, re-run", "leave-one-subject-out", "per_day", {"mcc": 0.38}),
    Published("Jakobsen et al. 2020 (deep net + SMOTE)", "leave-one-user-out", "per_person",
              {"accuracy": 0.84, "mcc": 0.65}),
    Published("nested LOSO, 2025 preprint", "nested leave-one-subject-out", "per_person",
              {"accuracy": 0.855, "balanced_accuracy": 0.844, "auroc": 0.87}),
)


@dataclass(frozen=True)
class Level:
    """Metrics and their bootstrap intervals at one level (per day or per person)."""

    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    n: int


@dataclass(frozen=True)
class DepresjonResult:
    """Everything the benchmark measured, ready for the table, the JSON and the report."""

    per_day: Level
    per_person: Level
    per_person_from_days: Level
    days: pd.DataFrame
    persons: pd.DataFrame
    conformal_coverage: float
    conformal_set_size: float
    alpha: float
    chosen: dict[str, dict[str, str]]
    protocol: str = PROTOCOL
    published: tuple[Published, ...] = field(default=PUBLISHED)

    def choices(self) -> dict[str, dict[str, int]]:
        """Per model (day, person): how many outer folds chose each candidate and view, most frequent first."""
        return {model: dict(Counter(per_fold.values()).most_common()) for model, per_fold in self.chosen.items()}

    def as_json(self) -> dict[str, object]:
        """The headline figures: per-person and per-day balanced accuracy, AUROC, MCC, accuracy, protocol."""
        keys = ("balanced_accuracy", "auroc", "mcc", "accuracy")
        return {"per_person": {k: self.per_person.metrics[k] for k in keys},
                "per_day": {k: self.per_day.metrics[k] for k in keys},
                "protocol": self.protocol,
                "per_person_mean_of_day_probabilities": {k: self.per_person_from_days.metrics[k] for k in keys},
                "days": {"n": self.per_day.n, "condition": int(self.days["y"].sum()),
                         "rule": "first `days` complete days per subject (scores.csv study window)"},
                "conformal": {"alpha": self.alpha, "coverage": self.conformal_coverage,
                              "mean_set_size": self.conformal_set_size},
                "chosen_in_folds": self.choices()}


def labelled_days(table: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """The study-window days with label y (1 = condition group, 0 = control) from the subjects table."""
    for col in ("subject", "days", "group"):
        if col not in subjects.columns:
            raise ValueError(f"subjects table lacks column {col!r}")
    groups = subjects.set_index("subject")["group"]
    unknown = sorted(set(groups) - {"condition", "control"})
    if unknown:
        raise ValueError(f"subjects table: unknown group value(s) {unknown}")
    window = {str(s): int(d) for s, d in subjects.set_index("subject")["days"].dropna().items()}
    days = study_days(table, window)
    days["y"] = (days["subject"].map(groups) == "condition").astype(int)
    return days


def level(y: np.ndarray, p: np.ndarray, groups: np.ndarray, threshold: np.ndarray, n_boot: int) -> Level:
    """Metrics and subject-bootstrap intervals of one level."""
    return Level(binary_metrics(y, p, threshold), subject_bootstrap(y, p, groups, threshold, n_boot=n_boot), len(y))


def day_inputs(days: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray]]:
    """The day model's inputs over the labelled days: each day's own inputs, then every context window's means
    and sds (`context`); the names of the columns; and the views training chooses among (the day alone, or
    the day with one window's context)."""
    base = model_inputs(days)
    dates = [d.date() for d in pd.to_datetime(days["date"])]
    x = np.hstack([base, *with_context(base, days["subject"].to_numpy(), dates)])
    names = MODEL_FEATURES + tuple(name for d in CONTEXT_DAYS for name in context_names(MODEL_FEATURES, d))
    window = [(parse_name(name) or ("", "", 0))[2] for name in names]  # 0 for a day's own input
    views = {"the day alone": np.flatnonzero(np.equal(window, 0))}
    views.update({f"the day with {d}-day context": np.flatnonzero(np.isin(window, (0, d))) for d in CONTEXT_DAYS})
    return x, names, views


def person_labels(days: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The person model's (subjects sorted, inputs) and each subject's label, from the labelled days."""
    subjects, x = person_inputs(model_inputs(days), days["subject"].to_numpy())
    return x, days.groupby("subject")["y"].first().loc[subjects].to_numpy()


def run_depresjon(table: pd.DataFrame, subjects: pd.DataFrame, *, candidates: tuple[Candidate, ...] = CANDIDATES,
                  n_boot: int = 500, alpha: float = 0.1, on_fold: Callable[[str], None] | None = None,
                  jobs: int = 1) -> DepresjonResult:
    """Nested LOSO evaluation of the calibrated day and person risk models on the Depresjon feature table, the
    folds in `jobs` processes."""
    days = labelled_days(table, subjects)
    (x, _, views), y, groups = day_inputs(days), days["y"].to_numpy(), days["subject"].to_numpy()

    def fit_day(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> RiskModel:
        return fit_risk_model(a, b, g, candidates=candidates, alpha=alpha, views=views)

    def fit_person(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> RiskModel:
        return fit_risk_model(a, b, g, candidates=candidates, alpha=alpha)

    pred: Predictions = leave_one_subject_out(x, y, groups, fit_day, on_fold, jobs)
    xp, yp = person_labels(days)
    names = np.unique(groups)
    person_pred = leave_one_subject_out(xp, yp, names, fit_person, on_fold, jobs)
    days = days[["subject", "date", "y"]].assign(p=pred.p, threshold=pred.threshold)
    from_days = per_person(pred, y, groups)
    persons = from_days.rename(columns={"p": "p_days", "threshold": "threshold_days"}).assign(
        p=person_pred.p, threshold=person_pred.threshold)
    return DepresjonResult(
        per_day=level(y, pred.p, groups, pred.threshold, n_boot),
        per_person=level(yp, person_pred.p, names, person_pred.threshold, n_boot),
        per_person_from_days=level(yp, from_days["p"].to_numpy(), names, from_days["threshold"].to_numpy(), n_boot),
        days=days, persons=persons, conformal_coverage=coverage(pred.sets, y),
        conformal_set_size=mean_set_size(pred.sets), alpha=alpha,
        chosen={"day": pred.chosen, "person": person_pred.chosen})


@dataclass(frozen=True)
class Deployable:
    """The day model fitted on every study-window day, the names of the inputs it reads, the person model, days."""

    day: RiskModel
    features: tuple[str, ...]
    person: RiskModel
    days: int


def fit_depresjon(table: pd.DataFrame, subjects: pd.DataFrame, alpha: float = 0.1) -> Deployable:
    """The deployable day and person models, fitted on every study-window day of every subject."""
    days = labelled_days(table, subjects)
    x, names, views = day_inputs(days)
    day_model = fit_risk_model(x, days["y"].to_numpy(), days["subject"].to_numpy(), alpha=alpha, views=views)
    xp, yp = person_labels(days)
    person_model = fit_risk_model(xp, yp, np.unique(days["subject"]), alpha=alpha)
    used = range(len(names)) if day_model.columns is None else day_model.columns
    return Deployable(day_model, tuple(names[i] for i in used), person_model, len(days))
