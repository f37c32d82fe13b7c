"""Small charts as inline SVG, drawn on the server (no script, no CDN): a time axis of days, a value axis with
its unit, points joined by a line, an optional band (an interval, or a baseline's usual range) and markers.

Every chart has a title and a text description for screen readers (`role="img"`, `<title>`, `<desc>`), and
every value axis is labelled with its unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = ["Chart", "Point", "svg"]
WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 36
MID = (HEIGHT - BOTTOM + TOP) / 2
INK, FAINT, BAND, MARK = "#1f3b57", "#767676", "#cfe0f0", "#a4161a"


@dataclass(frozen=True)
class Point:
    """One day's value, with an optional band around it (lower, upper) and an optional marker label."""

    day: dt.date
    value: float | None
    lower: float | None = None
    upper: float | None = None
    mark: str = ""
    usual: float | None = None  # the patient's own baseline that day, drawn dashed


@dataclass(frozen=True)
class Chart:
    """What to draw: a title, the value axis's label (with unit), its range, how to print a value, the points."""

    title: str
    axis: str
    low: float
    high: float
    points: Sequence[Point]
    fmt: Callable[[float], str] = field(default=lambda v: f"{v:g}")
    ticks: Sequence[float] = ()
    threshold: float | None = None
    threshold_label: str = ""


def _x(day: dt.date, first: dt.date, span: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * ((day - first).days / span if span else 0.5)


def _y(value: float, chart: Chart) -> float:
    share = (min(max(value, chart.low), chart.high) - chart.low) / ((chart.high - chart.low) or 1.0)
    return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * share


def _runs(points: Sequence[Point]) -> list[list[Point]]:
    """The stretches of consecutive points that have a value (two or more points each)."""
    runs: list[list[Point]] = [[]]
    for p in points:
        if p.value is None:
            runs.append([])
        else:
            runs[-1].append(p)
    return [r for r in runs if len(r) > 1]


def _describe(chart: Chart) -> str:
    shown = [p for p in chart.points if p.value is not None]
    if not shown:
        return f"{chart.title}: no values in this period."
    last = shown[-1]
    return (f"{chart.title}: {len(shown)} day(s) from {shown[0].day:%d %b} to {last.day:%d %b}; latest "
            f"{chart.fmt(last.value or 0.0)} on {last.day:%d %b}.")


def svg(chart: Chart) -> str:
    """The chart as an inline SVG element."""
    days = [p.day for p in chart.points]
    first = min(days, default=dt.date.today())
    span = (max(days, default=first) - first).days
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-labelledby="t-{id(chart)} d-{id(chart)}" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="t-{id(chart)}">{escape(chart.title)}</title>',
             f'<desc id="d-{id(chart)}">{escape(_describe(chart))}</desc>',
             f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold" fill="{INK}">{escape(chart.title)}</text>',
             f'<text x="12" y="{MID}" font-size="11" fill="{INK}" transform="rotate(-90 12 {MID})" '
             f'text-anchor="middle">{escape(chart.axis)}</text>']
    for tick in chart.ticks or (chart.low, (chart.low + chart.high) / 2, chart.high):
        y = _y(tick, chart)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="{INK}">'
                     f'{escape(chart.fmt(tick))}</text>')
    for day in sorted(set(days))[:: max(1, len(set(days)) // 6)]:
        parts.append(f'<text x="{_x(day, first, span):.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" '
                     f'text-anchor="middle" fill="{INK}">{day:%d %b}</text>')
    banded = [p for p in chart.points if p.lower is not None and p.upper is not None]
    if banded:
        upper = [f"{_x(p.day, first, span):.1f},{_y(p.upper or 0.0, chart):.1f}" for p in banded]
        lower = [f"{_x(p.day, first, span):.1f},{_y(p.lower or 0.0, chart):.1f}" for p in reversed(banded)]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="{BAND}" stroke="none"/>')
    if chart.threshold is not None:
        y = _y(chart.threshold, chart)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{FAINT}" '
                     f'stroke-dasharray="4 3"/><text x="{WIDTH - RIGHT}" y="{y - 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="{INK}">{escape(chart.threshold_label)}</text>')
    usual = [p for p in chart.points if p.usual is not None]
    if usual:
        line = " ".join(f"{_x(p.day, first, span):.1f},{_y(p.usual or 0.0, chart):.1f}" for p in usual)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{FAINT}" stroke-width="2" '
                     f'stroke-dasharray="6 4"/><text x="{WIDTH - RIGHT}" y="{TOP - 2}" font-size="11" '
                     f'text-anchor="end" fill="{INK}">dashed: this patient\'s usual</text>')
    shown = [p for p in chart.points if p.value is not None]
    for run in _runs(chart.points):  # a day without a value breaks the line: nothing is drawn across it
        line = " ".join(f"{_x(p.day, first, span):.1f},{_y(p.value or 0.0, chart):.1f}" for p in run)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{INK}" stroke-width="2"/>')
    for p in shown:
        colour = MARK if p.mark else INK
        parts.append(f'<circle cx="{_x(p.day, first, span):.1f}" cy="{_y(p.value or 0.0, chart):.1f}" r="3.5" '
                     f'fill="{colour}"><title>{p.day:%d %b %Y}: {escape(chart.fmt(p.value or 0.0))}'
                     f'{escape(" - " + p.mark) if p.mark else ""}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)
