"""Pipeline steps with a console face, shared by the CLI commands and the demo: progress bars and digests."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .pipeline import feature_table, trailing_feature_table, write_features
from .plots import biomarker_overview
from .sources.base import ReadContext
from .sources.ingest import IngestReport, discover, ingest
from .sources.quarantine import reason_counts
from .sources.store import Store

console = Console(emoji=False)  # DIDs contain ":key:", which rich would turn into an emoji
err = Console(stderr=True, emoji=False)


def run_ingest(paths: list[Path], store: Store, ctx: ReadContext) -> IngestReport:
    """Ingest with a progress bar and print the per-subject summary and quarantine counts."""
    files = discover(paths)
    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("", total=len(files))
        report = ingest(files, ctx, store, on_file=lambda p: bar.update(task, advance=1, description=p.name))
    print_summary(report, store)
    return report


def print_summary(report: IngestReport, store: Store) -> None:
    """Print what was read per subject and kind, and what was refused and why."""
    summary = report.summary()
    table = Table(title=f"Read {len(report.results)} file(s): {len(summary)} subject × kind series")
    for col in ("subject", "kind", "rows", "from (UTC)", "to (UTC)", "coverage", "sources"):
        table.add_column(col, justify="right" if col in ("rows", "coverage") else "left", no_wrap=True)
    for row in summary.itertuples(index=False):
        table.add_row(row.subject, row.kind, f"{row.rows:,}", str(row.first)[:10], str(row.last)[:10],
                      f"{row.coverage:.0%}", row.sources)
    console.print(table)
    tables = {name for r in report.results for name in r.tables}
    if tables:
        console.print(f"Tables: {', '.join(sorted(tables))} → {store.root / 'tables'}")
    for r in report.results:
        for note in r.notes:
            console.print(f"[yellow]note[/] {r.path}: {note}")
    rejected = report.rejected
    if rejected:
        console.print(f"[yellow]{len(rejected):,} record(s) quarantined[/] → {store.quarantine_path}")
        for reason, count in reason_counts(rejected).most_common(8):
            console.print(f"  {count:>7,} × {reason}")
    else:
        console.print("No record was quarantined.")
    unordered = sum(r.out_of_order for r in report.results)
    if unordered:
        console.print(f"{unordered:,} row(s) arrived out of order and were sorted.")
    console.print(f"Series written to {store.root / 'series'}")


def run_features(store: Store, out: Path) -> pd.DataFrame:
    """Compute every subject's daily feature table with a progress bar, write it, and print a digest."""
    n = len({s.subject for s in store.series()})
    with Progress(TextColumn("[bold]features"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("", total=n)
        table = feature_table(store, on_subject=lambda s: bar.update(task, advance=1, description=s))
    files = write_features(table, out)
    console.print(f"{files.days:,} subject-days for {files.subjects} subjects, {table.shape[1] - 2} columns "
                  f"→ {files.parquet} and {files.csv.name}")
    return table


def why_no_features(store: Store) -> str:
    """Why a store gave no daily feature row, and what to run instead: the series kinds found against those the
    biomarker families read, and the tables the files held."""
    from .biomarkers.registry import FAMILIES

    found = Counter(s.kind.value for s in store.series())
    readable = {k.value for family in FAMILIES for k in family.kinds}
    kinds = ", ".join(f"{n} × {k}" for k, n in found.items())
    if not found:
        seen = "the store holds no series"
    elif not set(found) & readable:
        seen = (f"its series are of kinds no biomarker family reads ({kinds}; the families read "
                f"{', '.join(sorted(readable))})")
    else:
        seen = (f"its series ({kinds}) gave the families no day they could score (e.g. survey items no scored "
                "questionnaire names)")
    folder = store.root / "tables"
    tables = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    hint = (f" The files held {len(tables)} table(s) instead ({', '.join(tables[:4])}{', …' if len(tables) > 4 else ''}"
            f") in {folder}: daily feature tables such as GLOBEM/RAPIDS are already features: evaluate them with "
            "`mindbridge evaluate globem DIR`.") if tables else ""
    return f"No daily features: {seen}.{hint}"


def demo_plot(store: Store, table: pd.DataFrame, path: Path) -> Path:
    """Actograms and daily biomarkers of two patients and two controls (the demo's picture)."""
    chosen = ["condition_1", "condition_2", "control_1", "control_2"]
    shown = {}
    for subject in chosen:
        series = next(store.series(subject=subject), None)
        if series is not None:
            days = table[table["subject"] == subject].set_index("date")
            shown[f"{subject} ({'patient' if subject.startswith('condition') else 'control'})"] = (series, days)
    return biomarker_overview(shown, path, "Depresjon: minute activity by local hour (top) and daily biomarkers")


def depresjon_tables(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ingest a Depresjon folder into a temporary store; the features the risk model trains on (as a device
    computes them, `pipeline.trailing_feature_table`) and the subjects table."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        ingest(discover([folder]), ReadContext(), store)
        return trailing_feature_table(store), store.table("subjects")
