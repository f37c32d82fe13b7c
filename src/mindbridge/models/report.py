"""The evaluation report: markdown tables plus PNG plots (ROC, reliability diagram, per-subject probabilities)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

from .calibration import reliability
from .depresjon import DepresjonResult

LABELS = {"balanced_accuracy": "balanced acc.", "accuracy": "accuracy", "mcc": "MCC", "f1_weighted": "F1 (w)",
          "auroc": "AUROC", "auprc": "AUPRC", "brier": "Brier", "ece": "ECE"}


def comparison_rows(result: DepresjonResult) -> list[tuple[str, str, str, dict[str, float]]]:
    """(who, protocol, level, metrics) rows: ours at both levels, then every published figure."""
    ours = [("mindbridge person model (this run)", "nested LOSO", "per_person", result.per_person.metrics),
            ("mindbridge mean of day probabilities", "nested LOSO", "per_person", result.per_person_from_days.metrics),
            ("mindbridge day model, day + trailing days (this run)", "nested LOSO", "per_day", result.per_day.metrics)]
    theirs = [(p.source, p.protocol, p.level, p.metrics) for p in result.published]
    return ours + theirs


def plot_roc(result: DepresjonResult, path: Path) -> Path:
    """ROC curves per day and per person."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, y, p in (("per day", result.days["y"], result.days["p"]),
                       ("per person", result.persons["y"], result.persons["p"])):
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, nested LOSO")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(result: DepresjonResult, path: Path, bins: int = 10) -> Path:
    """Reliability diagram of the per-day probabilities (observed rate against mean prediction per bin)."""
    mean_p, rate, count = reliability(result.days["y"].to_numpy(), result.days["p"].to_numpy(), bins)
    used = count > 0
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.plot(mean_p[used], rate[used], marker="o")
    for x, y, n in zip(mean_p[used], rate[used], count[used], strict=True):
        ax.annotate(f"{int(n)}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlabel="mean predicted probability", ylabel="observed fraction of condition days",
           title="Reliability (per day)", xlim=(0, 1), ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_subjects(result: DepresjonResult, path: Path) -> Path:
    """Each subject's person-model probability (bar) and day probabilities (dots), sorted, coloured by group."""
    persons = result.persons.sort_values("p").reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    colours = np.where(persons["y"] == 1, "tab:red", "tab:blue")
    ax.bar(persons.index, persons["p"], color=colours, alpha=0.35)
    position = dict(zip(persons["subject"], persons.index, strict=True))
    days = result.days
    ax.scatter(days["subject"].map(position), days["p"], s=4,
               c=np.where(days["y"] == 1, "tab:red", "tab:blue"))
    ax.axhline(float(persons["threshold"].median()), color="black", lw=0.8, ls="--")
    ax.set(ylabel="P(condition)", xlabel="subjects (red: condition, blue: control)", ylim=(0, 1),
           title="Per-subject probabilities, nested LOSO (bar: person model; dots: day model)")
    ax.set_xticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(result: DepresjonResult, pictures: list[Path]) -> str:
    """The report body: protocol, our metrics with intervals, the comparison table, conformal coverage."""
    lines = ["# Depresjon benchmark", "", f"Protocol: {result.protocol}.", "",
             "Data: Garcia-Ceja et al., Depresjon, ACM MMSys 2018.", "",
             "| level | metric | value | 95% interval |", "|---|---|---|---|"]
    for name, measured in (("per person", result.per_person), ("per person, mean of days", result.per_person_from_days),
                           ("per day", result.per_day)):
        for key, value in measured.metrics.items():
            low, high = measured.intervals[key]
            lines.append(f"| {name} (n={measured.n}) | {LABELS[key]} | {value:.3f} | {low:.3f}–{high:.3f} |")
    keys = ("balanced_accuracy", "accuracy", "mcc", "auroc")
    lines += ["", "## Beside published results", "", "| who | protocol | level | " +
              " | ".join(LABELS[k] for k in keys) + " |", "|---|---|---|" + "---|" * len(keys)]
    for who, protocol, lvl, metrics in comparison_rows(result):
        cells = " | ".join(f"{metrics[k]:.3f}" if k in metrics else "–" for k in keys)
        lines.append(f"| {who} | {protocol} | {lvl} | {cells} |")
    lines += ["", "## Chosen inside the training folds", "", "| model | choice | folds |", "|---|---|---|"]
    for model, counts in result.choices().items():
        lines += [f"| {model} | {choice} | {n} |" for choice, n in counts.items()]
    lines += ["", f"Split-conformal sets at α = {result.alpha}: empirical per-day coverage "
              f"{result.conformal_coverage:.3f} (target ≥ {1 - result.alpha:.2f}), mean set size "
              f"{result.conformal_set_size:.2f}.", ""]
    lines += [f"![{p.stem}]({p.name})" for p in pictures]
    return "\n".join(lines) + "\n"


def write_report(result: DepresjonResult, folder: Path) -> Path:
    """Write report.md and its three PNG plots into `folder`; returns the markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    pictures = [plot_roc(result, folder / "roc.png"), plot_reliability(result, folder / "reliability.png"),
                plot_subjects(result, folder / "subjects.png")]
    path = folder / "report.md"
    path.write_text(markdown(result, pictures), encoding="utf-8")
    return path
