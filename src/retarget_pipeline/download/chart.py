"""Inline SVG line chart of audience size over time (no JavaScript, no external assets).

Hand-built on purpose: the page is served by the Airflow API server, inside its UI frame and often offline, so
it must not load scripts or fonts from a CDN, and a plotting library (matplotlib is a test-only dependency here)
would add tens of MB to every Airflow component for a few polylines. The legend is HTML next to the chart (never
clipped), and each destination keeps one colour on every chart of the page (:func:`colour_map`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

from retarget_pipeline.download.catalog import Delivery

# Okabe-Ito: distinguishable with the common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def colour_map(destinations: Iterable[str]) -> dict[str, str]:
    """One colour per destination, stable for a set of destinations (sorted by name)."""
    return {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(sorted(set(destinations)))}


def size_series(deliveries: list[Delivery], segment: str) -> dict[str, list[tuple[str, int]]]:
    """Per destination, (as_of, rows) of the newest delivery of each day for ``segment``, oldest first."""
    series: dict[str, dict[str, int]] = {}
    for d in sorted(deliveries, key=lambda d: d.sort_key):
        if d.segment == segment:
            series.setdefault(d.destination, {})[d.as_of] = d.rows  # later deliveries of a day win
    return {dest: sorted(points.items()) for dest, points in sorted(series.items())}


def _ticks(top: int) -> list[int]:
    """Round y-axis values 0, s, 2s, ... (s in 1, 2, 5 x 10^k), at most 4 steps, the last >= ``top``."""
    if top <= 0:
        return [0, 1]
    scale = 1
    while True:
        for multiple in (1, 2, 5):
            step = scale * multiple
            count = -(-top // step)
            if count <= 4:
                return [step * i for i in range(count + 1)]
        scale *= 10


def size_chart_svg(
    title: str,
    series: dict[str, list[tuple[str, int]]],
    colours: Mapping[str, str],
    width: int = 560,
    height: int = 170,
) -> str:
    """An SVG with one polyline (and dots with tooltips) per destination; x = as_of dates in order, y = rows."""
    dates = sorted({day for points in series.values() for day, _ in points})
    ticks = _ticks(max([rows for points in series.values() for _, rows in points] + [0]))
    top = ticks[-1] or 1
    left, right, upper, lower = 64, 16, 10, 24
    plot_w, plot_h = width - left - right, height - upper - lower

    def x(day: str) -> float:
        return left + (plot_w * dates.index(day) / (len(dates) - 1) if len(dates) > 1 else plot_w / 2)

    def y(rows: int) -> float:
        return upper + plot_h - plot_h * rows / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f'<line x1="{left}" y1="{upper + plot_h}" x2="{left + plot_w}" y2="{upper + plot_h}" stroke="#888"/>',
    ]
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:,}</text>'
        )
    labelled = dates if len(dates) <= 6 else [dates[0], dates[len(dates) // 2], dates[-1]]
    for i, day in enumerate(labelled):
        anchor = "start" if len(labelled) > 1 and i == 0 else "end" if i == len(labelled) - 1 > 0 else "middle"
        parts.append(f'<text x="{x(day):.1f}" y="{height - 6}" text-anchor="{anchor}">{escape(day)}</text>')
    for destination, points in series.items():
        colour = colours.get(destination, "#666")
        coords = " ".join(f"{x(day):.1f},{y(rows):.1f}" for day, rows in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        for day, rows in points:
            parts.append(
                f'<circle cx="{x(day):.1f}" cy="{y(rows):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(destination)} {escape(day)}: {rows} rows</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def legend_html(destinations: Iterable[str], colours: Mapping[str, str]) -> str:
    """The chart's legend as HTML (full names, wraps instead of clipping)."""
    items = "".join(
        f'<li><span class="swatch" style="background:{colours.get(d, "#666")}"></span>{escape(d)}</li>'
        for d in destinations
    )
    return f'<ul class="legend">{items}</ul>'
