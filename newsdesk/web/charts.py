"""Server-side SVG charts: no JavaScript chart library, nothing to download, readable without scripts.

:func:`stacked_bars` draws articles per day per topic as stacked columns with a y-axis, day labels and a
native ``<title>`` tooltip per segment. It is pure (numbers in, markup out) and escapes every text it
writes, so topic names from a user-edited taxonomy cannot inject markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape, quoteattr

PALETTE = ("#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#65a30d")
"""Eight hues far enough apart to tell apart at a glance (Tailwind's 600 shades, checked on white)."""


@dataclass(frozen=True, slots=True)
class ChartBox:
    """Geometry in SVG user units; the SVG scales to its container (``viewBox``)."""

    width: int = 880
    height: int = 300
    left: int = 40  # room for the y-axis labels
    bottom: int = 28  # room for the day labels
    top: int = 12
    gap: float = 0.25  # share of each day's slot left empty between columns


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


TICKS = 4  # grid intervals on the y-axis


def nice_ceiling(value: int) -> int:
    """The y-axis top for a largest column of ``value``: ``TICKS`` × a 1-2-5 × 10^k step, so every
    gridline is a round whole number (0, 10, 20, 30, 40 rather than 0, 12.5, 25…)."""
    needed = max(1, math.ceil(value / TICKS))
    power: int = 10 ** len(str(needed)) // 10  # the largest power of ten not above ``needed``
    step: int = next(s * power for s in (1, 2, 5, 10) if s * power >= needed)
    return step * TICKS


def stacked_bars(
    days: Sequence[date], series: Sequence[tuple[str, Sequence[int]]], box: ChartBox = ChartBox()
) -> str:
    """An ``<svg>`` of one stacked column per day; ``series`` is ``(name, count per day)``, bottom first."""
    totals = [sum(counts[i] for _, counts in series) for i in range(len(days))]
    top = nice_ceiling(max(totals, default=0))
    parts = [_open(box), *_grid(box, top)]
    slot = (box.width - box.left) / max(len(days), 1)
    for i, day in enumerate(days):
        parts.extend(_column(box, i, slot, top, day, series))
        if len(days) <= 16 or i % 2 == 0:
            parts.append(_day_label(box, i, slot, day))
    parts.append("</svg>")
    return "".join(parts)


def _open(box: ChartBox) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {box.width} {box.height}" role="img" '
        f'aria-label="Articles per day per topic" xmlns="http://www.w3.org/2000/svg">'
    )


def _y(box: ChartBox, value: float, top: int) -> float:
    plot = box.height - box.top - box.bottom
    return box.top + plot * (1 - value / top)


def _grid(box: ChartBox, top: int) -> list[str]:
    lines = []
    for k in range(TICKS + 1):
        value = top * k / TICKS
        y = _y(box, value, top)
        label = f"{value:g}"
        lines.append(
            f'<line class="grid" x1="{box.left}" x2="{box.width}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{box.left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>'
        )
    return lines


def _column(
    box: ChartBox, i: int, slot: float, top: int, day: date, series: Sequence[tuple[str, Sequence[int]]]
) -> list[str]:
    x = box.left + slot * i + slot * box.gap / 2
    width = slot * (1 - box.gap)
    base, out = 0, []
    for index, (name, counts) in enumerate(series):
        count = counts[i]
        if count <= 0:
            continue
        y_top, y_bottom = _y(box, base + count, top), _y(box, base, top)
        tip = escape(f"{name}: {count} on {day.isoformat()}")
        out.append(
            f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{width:.1f}" height="{y_bottom - y_top:.1f}" '
            f'fill={quoteattr(color(index))} rx="2"><title>{tip}</title></rect>'
        )
        base += count
    return out


def _day_label(box: ChartBox, i: int, slot: float, day: date) -> str:
    x = box.left + slot * (i + 0.5)
    return (
        f'<text class="axis" x="{x:.1f}" y="{box.height - 8}" text-anchor="middle">'
        f"{escape(day.strftime('%d %b'))}</text>"
    )
