"""The `mindbridge train` and `mindbridge evaluate` commands (typer + rich).

`cli.py` registers them with a loader that turns a Depresjon folder into (the daily features as the device
computes them, subjects table), so this package never imports `sources/`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import __version__
from .card import MetricValue, ModelCard
from .depresjon import PROTOCOL, Deployable, DepresjonResult, fit_depresjon, run_depresjon
from .export import ONNX_FILE, PERSON_FILE, export_onnx
from .features import person_feature_names
from .globem import PUBLISHED_BALANCED_ACCURACY, load_sample, run_globem
from .linear import PARAMS_FILE, LinearRisk, sha256
from .report import LABELS, comparison_rows, write_report

Loader = Callable[[Path], tuple[pd.DataFrame, pd.DataFrame]]
# (keystore, passphrase file) -> a function that signs a model folder and returns the signer's DID; the
# keystore is unlocked before training, so a wrong passphrase costs nothing
Signer = Callable[[Path, Path | None], Callable[[Path], str]]
console = Console(emoji=False)  # DIDs contain ":key:", which rich would turn into an emoji
err = Console(stderr=True, emoji=False)
MODEL_ID = "depresjon-actigraphy-logistic"
GARCIA_CEJA = ("Garcia-Ceja E. et al., Depresjon: a motor activity database of depression episodes in unipolar and "
               "bipolar patients, ACM MMSys 2018.")


def evaluate_with_progress(table: pd.DataFrame, subjects: pd.DataFrame, quiet: bool) -> DepresjonResult:
    """Run the nested LOSO benchmark, its folds on every core, with a progress bar (none when `quiet`)."""
    n = int(subjects["subject"].nunique())
    with Progress(TextColumn("[bold]nested LOSO"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=err, transient=True, disable=quiet) as bar:
        task = bar.add_task("", total=2 * n)  # the day model's folds, then the person model's
        return run_depresjon(table, subjects, on_fold=lambda s: bar.update(task, advance=1, description=s),
                             jobs=os.cpu_count() or 1)


def train_artifact(table: pd.DataFrame, subjects: pd.DataFrame, out: Path,
                   quiet: bool = False) -> tuple[DepresjonResult, list[Path]]:
    """Evaluate by nested LOSO, fit on all subjects, and write the artifact, card and report to `out`."""
    result = evaluate_with_progress(table, subjects, quiet=quiet)
    fitted = fit_depresjon(table, subjects)
    out.mkdir(parents=True, exist_ok=True)
    files = [export_onnx(fitted.day.pipeline, len(fitted.features), out / ONNX_FILE),
             LinearRisk.from_pipeline(fitted.day.pipeline, fitted.features).save(out / PARAMS_FILE),
             LinearRisk.from_pipeline(fitted.person.pipeline, person_feature_names()).save(out / PERSON_FILE)]
    card = model_card(result, fitted, {f.name: sha256(f) for f in files})
    json_card, md_card = card.write(out)
    return result, [*files, json_card, md_card, write_report(result, out / "report")]


def comparison_table(result: DepresjonResult) -> Table:
    """Our figures beside the published ones, each row naming its protocol."""
    keys = ("balanced_accuracy", "accuracy", "mcc", "auroc")
    table = Table(title="Depresjon: depression vs control (Garcia-Ceja et al. 2018 data)")
    for col in ("who", "protocol", "level", *(LABELS[k] for k in keys)):
        table.add_column(col, justify="right" if col in LABELS.values() else "left")
    for who, protocol, lvl, metrics in comparison_rows(result):
        table.add_row(who, protocol, lvl, *(f"{metrics[k]:.3f}" if k in metrics else "–" for k in keys))
    return table


def model_card(result: DepresjonResult, fitted: Deployable, artifacts: dict[str, str]) -> ModelCard:
    """The card of the day model fitted on all Depresjon study-window days, with the nested LOSO metrics."""
    metrics = {name: {k: MetricValue(value=v, lower=lvl.intervals[k][0], upper=lvl.intervals[k][1])
                      for k, v in lvl.metrics.items()}
               for name, lvl in (("per_person", result.per_person), ("per_day", result.per_day))}
    return ModelCard(
        model_id=MODEL_ID, version=__version__, created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        description=f"Logistic regression ({fitted.day.chosen}, chosen by subject-grouped CV) on a day's "
                    "wrist-actigraphy biomarkers (activity level and distribution, clock-time profile, "
                    "fragmentation, circadian rhythm, actigraphic sleep), computed as the device computes them "
                    "over the day and the 6 days before it, and, when the view says so, their mean "
                    "and sd over the day and the complete days just before it (`<feature>:mean<n>d`, `:sd<n>d`; "
                    "never a later day), calibrated by Platt scaling; outputs the probability that the day "
                    f"belongs to a person in a depressive episode. {PERSON_FILE} holds "
                    "the person model (same format) over the median and sd of a person's day inputs; the "
                    "per_person metrics are that model's.",
        intended_use="Research and decision support only: flags days whose rhythm resembles depressed "
                     "patients' for a clinician to review alongside validated questionnaires. Not a diagnosis.",
        limits=["Trained on 55 adults in Norway (23 inpatients/outpatients with unipolar or bipolar depression, "
                "32 controls), one Actiwatch AW4 device; other devices need count rescaling and revalidation.",
                "Patients and controls differ in daily setting (some patients were inpatients): the model may "
                "learn routine as much as mood.",
                "Per-day conformal coverage assumes exchangeable days; days of one person are correlated.",
                "With trailing context a day's risk reads up to the previous days of its window as well: its "
                "per-day figures are not single-day classifications, and a device's first days have shorter "
                "windows (as the first study days had in training).",
                f"Reached per-person nested LOSO AUROC {result.per_person.metrics['auroc']:.3f}, below the "
                "0.95 target of issue 5."],
        data=f"Depresjon: {GARCIA_CEJA}", days_used=f"{fitted.days} days: each subject's first `days` complete days "
                                                    "(scores.csv study window); later days are mostly non-wear.",
        protocol=PROTOCOL, features=list(fitted.features), metrics=metrics,
        calibration="Platt scaling fitted on user-grouped out-of-fold scores inside the training data, folded "
                    "into the logistic weights.",
        conformal={"alpha": result.alpha, "threshold": fitted.day.conformal.threshold,
                   "coverage": result.conformal_coverage, "mean_set_size": result.conformal_set_size},
        decision_threshold=fitted.day.threshold, artifacts=artifacts, citation=GARCIA_CEJA)


def register(app: typer.Typer, load_depresjon: Loader, model_signer: Signer) -> None:
    """Add `train` and `evaluate {depresjon,globem}` to the app; `load_depresjon` reads a Depresjon folder,
    `model_signer` unlocks the model team's keystore for signing (models/ does not import privacy/)."""
    evaluate_app = typer.Typer(help="Benchmarks of the risk models against published results.",
                               no_args_is_help=True)
    app.add_typer(evaluate_app, name="evaluate")

    @evaluate_app.command("depresjon")
    def evaluate_depresjon(
        data: Annotated[Path, typer.Argument(help="Depresjon folder (condition/, control/, scores.csv).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the headline figures as one JSON object.")] = False,
        report: Annotated[Path | None, typer.Option(help="Folder for report.md and PNG plots.")] = None,
    ) -> None:
        """Nested leave-one-subject-out evaluation, printed beside the published results."""
        table, subjects = load_depresjon(data)
        result = evaluate_with_progress(table, subjects, quiet=as_json)
        if as_json:
            print(json.dumps(result.as_json(), indent=1))
            return
        console.print(comparison_table(result))
        console.print(f"Protocol: {result.protocol}.", soft_wrap=True)
        console.print(f"Conformal sets (α={result.alpha}): coverage {result.conformal_coverage:.3f}, "
                      f"mean size {result.conformal_set_size:.2f}.")
        if report is not None:
            console.print(f"Report: {write_report(result, report)}")

    @evaluate_app.command("globem")
    def evaluate_globem(
        data: Annotated[Path, typer.Argument(help="GLOBEM sample folder holding INS-W-* datasets.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
    ) -> None:
        """Weekly depression detection, past weeks → each user's last week, beside the GLOBEM paper."""
        try:
            result = run_globem(load_sample(data))
        except (FileNotFoundError, ValueError) as exc:
            err.print(f"[red]Cannot evaluate GLOBEM:[/] {exc}", soft_wrap=True)
            raise typer.Exit(1) from exc
        if as_json:
            print(json.dumps({"metrics": result.metrics, "intervals": result.intervals, "protocol": result.protocol,
                              "chosen": result.chosen, "inner_balanced_accuracy": result.inner_balanced_accuracy,
                              "published_balanced_accuracy": result.published_balanced_accuracy,
                              "train_weeks": result.train_weeks, "test_weeks": result.test_weeks}, indent=1))
            return
        table = Table(title=f"GLOBEM sample: {result.users} users, {result.train_weeks} training weeks, "
                            f"{result.test_weeks} held-out weeks, {result.features} features")
        for col in ("who", "balanced acc.", "AUROC", "MCC"):
            table.add_column(col)
        m, ci = result.metrics, result.intervals
        table.add_row(f"mindbridge (this run, {result.chosen})",
                      *(f"{m[k]:.3f} ({ci[k][0]:.2f}–{ci[k][1]:.2f})" for k in ("balanced_accuracy", "auroc", "mcc")))
        table.add_row("GLOBEM best prior algorithm (Xu et al. 2022)", f"{PUBLISHED_BALANCED_ACCURACY:.3f}", "–", "–")
        console.print(table)
        inner = ", ".join(f"{name} {ba:.3f}" for name, ba in result.inner_balanced_accuracy.items())
        console.print(f"Protocol: {result.protocol}. Inner balanced accuracy: {inner}. Intervals: 95 % bootstrap "
                      "over held-out users.", soft_wrap=True)

    @app.command("train")
    def train(
        data: Annotated[Path, typer.Argument(help="Depresjon folder (condition/, control/, scores.csv).")],
        out: Annotated[Path, typer.Option(help="Folder for the model artifact, card and report.")] = Path("model"),
        sign_key: Annotated[Path | None, typer.Option(help="The model team's keystore (`mindbridge keys init "
                                                      "--role model-team`): sign the artifact for devices.")] = None,
        passphrase_file: Annotated[Path | None, typer.Option(help="File whose first line is the keystore's "
                                                             "passphrase (else $MINDBRIDGE_PASSPHRASE).")] = None,
    ) -> None:
        """Evaluate by nested LOSO, fit on all subjects, export ONNX + numpy JSON, write the card and report;
        with --sign-key, sign the artifact so devices load it under `--model-signer`."""
        sign = model_signer(sign_key, passphrase_file) if sign_key is not None else None
        table, subjects = load_depresjon(data)
        result, written = train_artifact(table, subjects, out)
        console.print(comparison_table(result))
        for f in written:
            console.print(f"wrote {f} ({f.stat().st_size:,} bytes)")
        if sign is None:
            console.print("unsigned: devices load it only by the SHA-256 pinned in its card (use --sign-key)")
            return
        signer = sign(out)
        console.print(f"signed by {signer}; devices trust it with --model-signer {signer}", soft_wrap=True)
