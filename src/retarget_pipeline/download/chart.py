"""Inline SVG line chart of audience size over time (no JavaScript, no external assets)."""

from __future__ import annotations

from html import escape

from retarget_pipeline.download.catalog import Delivery

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def size_series(deliveries: list[Delivery], segment: str) -> dict[str, list[tuple[str, int]]]:
    """Per destination, (as_of, rows) of the newest delivery of each day for ``segment``, oldest first."""
    series: dict[str, dict[str, int]] = {}
    for d in sorted(deliveries, key=lambda d: d.sort_key):
        if d.segment == segment:
            series.setdefault(d.destination, {})[d.as_of] = d.rows  # later deliveries of a day win
    return {dest: sorted(points.items()) for dest, points in sorted(series.items())}


def size_chart_svg(title: str, series: dict[str, list[tuple[str, int]]], width: int = 560, height: int = 180) -> str:
    """An SVG with one polyline (and dots) per destination; x = as_of dates in order, y = rows from 0."""
    dates = sorted({day for points in series.values() for day, _ in points})
    top = max([rows for points in series.values() for _, rows in points] + [1])
    left, right, upper, lower = 56, 12, 24, 36
    plot_w, plot_h = width - left - right, height - upper - lower

    def x(day: str) -> float:
        return left + (plot_w * dates.index(day) / (len(dates) - 1) if len(dates) > 1 else plot_w / 2)

    def y(rows: int) -> float:
        return upper + plot_h - plot_h * rows / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{upper + plot_h}" x2="{left + plot_w}" y2="{upper + plot_h}" stroke="#888"/>',
        f'<line x1="{left}" y1="{upper}" x2="{left}" y2="{upper + plot_h}" stroke="#888"/>',
        f'<text x="{left - 4}" y="{upper + 4}" text-anchor="end">{top}</text>',
        f'<text x="{left - 4}" y="{upper + plot_h}" text-anchor="end">0</text>',
    ]
    if dates:
        parts.append(f'<text x="{left}" y="{height - 20}">{escape(dates[0])}</text>')
        if len(dates) > 1:
            parts.append(f'<text x="{left + plot_w}" y="{height - 20}" text-anchor="end">{escape(dates[-1])}</text>')
    for i, (destination, points) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        coords = " ".join(f"{x(day):.1f},{y(rows):.1f}" for day, rows in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        for day, rows in points:
            parts.append(
                f'<circle cx="{x(day):.1f}" cy="{y(rows):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(destination)} {escape(day)}: {rows} rows</title></circle>"
            )
        parts.append(
            f'<text x="{left + 8 + 150 * i}" y="{height - 4}" fill="{colour}">&#9632; {escape(destination)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
