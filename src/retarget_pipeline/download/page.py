"""HTML of the downloads page (``GET /audiences/``): one card per segment, no script, no external asset.

Links are relative to the page (``files/...``, ``manifests/...``, ``quality-docs/...``), so the page works at
``/audiences/`` and inside the Airflow UI's frame alike, behind a path prefix too.
"""

from __future__ import annotations

from html import escape
from typing import Any

from retarget_pipeline.download.catalog import Delivery
from retarget_pipeline.download.chart import colour_map, legend_html, size_chart_svg, size_series
from retarget_pipeline.download.cli import human_size
from retarget_pipeline.download.overview import Overview, SegmentView

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{margin-bottom:.2em}.meta{color:#555;margin-top:0}
.segment{border:1px solid #ddd;border-radius:6px;padding:.8em 1.2em;margin:1.2em 0}
.segment h2{margin:.2em 0 .5em;font-size:1.3em}.segment h2 small{font-weight:normal;color:#555;font-size:.75em}
table{border-collapse:collapse;margin:.4em 0 .8em}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.funnel td{border:none;padding:2px 8px}.funnel .bar{width:320px}.funnel .fill{height:14px;background:#0072B2}
.funnel tr.level1 td:first-child{padding-left:2em;color:#444}.funnel tr.level1 .fill{background:#9ecae1}
.funnel .detail{color:#666;font-size:.9em}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.85em;font-weight:bold;color:#fff}
.passed{background:#1a7f37}.failed{background:#cf222e}.overridden{background:#9a6700}.unknown{background:#777}
.skipped{color:#9a6700}.note{color:#9a6700}
.legend{list-style:none;padding:0;margin:0 0 .5em;display:flex;flex-wrap:wrap;gap:.3em 1.2em;font-size:.9em}
.overlap th.col{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:.85em}
.overlap td.self{background:#f5f5f5;text-align:center}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
"""

_GATE_LABEL = {"passed": "quality gate passed", "failed": "quality gate FAILED", "overridden": "gate OVERRIDDEN"}


def gate_state(gate: dict[str, Any] | None) -> str:
    """passed / failed / overridden / unknown, from the gate section of an export run report."""
    if not gate:
        return "unknown"
    if gate.get("overridden"):
        return "overridden"
    status = str(gate.get("status") or ("passed" if gate.get("passed") else "failed"))
    return status if status in _GATE_LABEL else "unknown"


def gate_badge(gate: dict[str, Any] | None) -> str:
    state = gate_state(gate)
    text = _GATE_LABEL.get(state, "quality gate: no record")
    return f'<span class="badge {state}" data-gate="{state}">{escape(text)}</span>'


def _gate_detail(gate: dict[str, Any] | None, as_of: str) -> str:
    if not gate:
        return f"<span class='note'>no gate result recorded for {escape(as_of)}</span>"
    checks = [str(c) for c in gate.get("checks") or []]
    warnings = gate.get("warnings") or []
    parts = [f"{len(checks)} critical finding(s), {len(warnings)} warning(s)"]
    if gate.get("override_reason"):
        parts.append(f"override reason: {escape(str(gate['override_reason']))}")
    docs = ' &middot; <a href="quality-docs/index.html">Data Docs</a>' if gate.get("data_docs_path") else ""
    items = "".join(f"<li>{escape(c)}</li>" for c in checks[:10])
    return f"<span>{'; '.join(parts)}{docs}</span>" + (f"<ul>{items}</ul>" if items else "")


def _funnel(view: SegmentView) -> str:
    steps = view.funnel
    if not steps:
        return "<p class='note'>No delivery of this as-of, so no membership counts (they come with a delivery).</p>"
    top = max(1, *(s.count for s in steps))
    rows = []
    for step in steps:
        width = f"{100 * step.count / top:.1f}%"
        rows.append(
            f'<tr class="level{step.level}" data-step="{escape(step.label)}"><td>{escape(step.label)}</td>'
            f'<td class="bar"><div class="fill" style="width:{width}"></div></td>'
            f'<td class="num">{step.count:,}</td><td class="detail">{escape(step.detail)}</td></tr>'
        )
    note = (
        "<p class='detail'>A person can be both held out and suppressed: exportable = qualified minus both.</p>"
        if view.membership
        else ""
    )
    return f'<table class="funnel">{"".join(rows)}</table>{note}'


def file_path(d: Delivery, name: str) -> str:
    return f"files/{d.destination}/{d.segment}/{d.as_of}/{d.delivery_id}/{name}"


def manifest_path(d: Delivery) -> str:
    return f"manifests/{d.destination}/{d.segment}/{d.as_of}/{d.delivery_id}"


def _deliveries(view: SegmentView) -> str:
    if not view.deliveries:
        return ""
    header = "".join(f"<th>{h}</th>" for h in ("Destination", "Mode", "Rows", "Size", "Delivery", "Files", "Manifest"))
    rows = []
    for d in sorted(view.deliveries, key=lambda d: d.destination):
        links = " ".join(f'<a href="{escape(file_path(d, f.name))}">{escape(f.name)}</a>' for f in d.files)
        rows.append(
            f'<tr data-destination="{escape(d.destination)}"><td>{escape(d.destination)}</td><td>{escape(d.mode)}</td>'
            f'<td class="num">{d.rows:,}</td><td class="num">{human_size(d.size)}</td>'
            f"<td>{escape(d.delivery_id)}</td><td>{links}</td>"
            f'<td><a href="{escape(manifest_path(d))}">manifest</a></td></tr>'
        )
    return f'<table class="deliveries"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _not_delivered(view: SegmentView) -> str:
    if not view.not_delivered:
        return ""
    items = "".join(f"<li><b>{escape(dest)}</b>: {escape(reason)}</li>" for dest, reason in view.not_delivered)
    return f'<div class="skipped"><b>Not delivered on {escape(view.as_of)}:</b><ul>{items}</ul></div>'


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.2f}%"


def _lift(view: SegmentView) -> str:
    lift = view.lift
    if not lift:
        return ""
    status = str(lift.get("status"))
    head = (
        f"<b>Holdout lift</b> (entries {escape(str(lift.get('period_from')))} to {escape(str(lift.get('period_to')))},"
        f" orders within {escape(str(lift.get('attribution_days')))} days): "
    )
    if status != "ok":
        return f'<p class="lift" data-status="{escape(status)}">{head}{escape(status.replace("_", " "))}.</p>'
    treated = f"{lift['treatment_converters']:,}/{lift['treatment_persons']:,}"
    held = f"{lift['control_converters']:,}/{lift['control_persons']:,}"
    p_value = lift.get("p_value")
    return (
        f'<p class="lift" data-status="ok">{head}targeted {treated} converted ({_pct(lift.get("treatment_rate"))}),'
        f" held out {held} ({_pct(lift.get('control_rate'))}); absolute lift {_pct(lift.get('abs_lift'))}"
        f" [95% CI {_pct(lift.get('abs_lift_low'))} to {_pct(lift.get('abs_lift_high'))}]"
        + (f", p = {float(p_value):.3g}" if p_value is not None else "")
        + "</p>"
    )


def lift_table(views: list[SegmentView]) -> str:
    """Every segment's lift in one table; the 95% interval drawn as a bar on one scale with the zero line."""
    rows = [v for v in views if v.lift]
    if not rows:
        return ""
    lifts = {v.segment: dict(v.lift or {}) for v in rows}
    ends = ("abs_lift_low", "abs_lift_high")
    bounds = [abs(float(lift[k])) for lift in lifts.values() for k in ends if lift.get(k) is not None]
    span = max([0.01, *bounds])
    width, mid = 200, 100

    def x(value: float) -> float:
        return mid + (width / 2 - 6) * value / span

    body = []
    for v in rows:
        lift = lifts[v.segment]
        treated = f"{int(lift.get('treatment_converters') or 0):,}/{int(lift.get('treatment_persons') or 0):,}"
        held = f"{int(lift.get('control_converters') or 0):,}/{int(lift.get('control_persons') or 0):,}"
        status = str(lift.get("status"))
        pending = int(lift.get("pending_persons") or 0)
        marker = f" (+{pending:,} pending)" if pending else ""
        bar = ""
        if lift.get("abs_lift") is not None and lift.get("abs_lift_low") is not None:
            low, high, point = (float(lift[k]) for k in ("abs_lift_low", "abs_lift_high", "abs_lift"))
            colour = "#1a7f37" if low > 0 else "#cf222e" if high < 0 else "#555"
            bar = (
                f'<svg width="{width}" height="16" role="img" aria-label="95% interval {_pct(low)} to {_pct(high)}">'
                f'<line x1="{mid}" y1="0" x2="{mid}" y2="16" stroke="#bbb"/>'
                f'<line x1="{x(low):.1f}" y1="8" x2="{x(high):.1f}" y2="8" stroke="{colour}" stroke-width="3"/>'
                f'<circle cx="{x(point):.1f}" cy="8" r="4" fill="{colour}"/></svg>'
            )
        body.append(
            f'<tr data-segment="{escape(v.segment)}" data-status="{escape(status)}"><td>{escape(v.segment)}</td>'
            f"<td>{escape(status.replace('_', ' '))}{marker}</td>"
            f'<td class="num">{treated}'
            f" ({_pct(lift.get('treatment_rate'))})</td>"
            f'<td class="num">{held}'
            f" ({_pct(lift.get('control_rate'))})</td>"
            f'<td class="num">{_pct(lift.get("abs_lift"))}</td><td>{bar}</td></tr>'
        )
    header = "".join(
        f"<th>{h}</th>"
        for h in ("Segment", "Status", "Targeted: converted", "Held out: converted", "Lift", "95% interval")
    )
    return (
        '<h2 id="lift">Holdout lift</h2><p class="detail">Intent to treat, orders within each segment\'s '
        f"attribution window; the bars share one scale (&plusmn;{_pct(span)}), the grey line is no effect.</p>"
        f'<table class="lift"><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def overlap_heatmap(rows: list[dict[str, Any]], as_of: str) -> str:
    """A matrix: cell (row R, column C) = the share of R's exportable persons also in C, shaded by that share."""
    if not rows:
        return ""
    counts = {}
    size: dict[str, int] = {}
    for r in rows:
        a, b, both = str(r["segment_a"]), str(r["segment_b"]), int(r["persons_both"])
        counts[(a, b)] = counts[(b, a)] = both
        size[a], size[b] = int(r["persons_a"]), int(r["persons_b"])
    names = sorted(size)
    head = "".join(f'<th class="col">{escape(n)}</th>' for n in names)
    body = []
    for row in names:
        cells = []
        for col in names:
            if row == col:
                cells.append('<td class="self">&ndash;</td>')
                continue
            both = counts.get((row, col), 0)
            share = both / size[row] if size[row] else 0.0
            tip = f"{both:,} of {size[row]:,} {row} persons are also in {col}"
            cells.append(
                f'<td class="num" data-pair="{escape(row)}|{escape(col)}" title="{escape(tip)}" '
                f'style="background:rgba(0,114,178,{share:.2f});color:{"#fff" if share > 0.5 else "#222"}">'
                f"{100 * share:.0f}%</td>"
            )
        body.append(f"<tr><th>{escape(row)} <small>({size[row]:,})</small></th>{''.join(cells)}</tr>")
    return (
        f'<h2 id="overlap">Segment overlap <small>as of {escape(as_of)}</small></h2>'
        "<p class='detail'>Share of the row segment's exportable persons that are also in the column segment.</p>"
        f'<table class="overlap"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def render(overview: Overview, everything: list[Delivery], deliveries_uri: str, lake_uri: str | None) -> str:
    colours = colour_map(d.destination for d in everything)
    cards = []
    for view in overview.segments:
        series = size_series(everything, view.segment)
        chart = (
            f"<h3>Rows delivered per as-of</h3>{legend_html(series, colours)}"
            f"{size_chart_svg(f'{view.segment}: rows per delivery', series, colours)}"
            if series
            else ""
        )
        cards.append(
            f'<section class="segment" id="segment-{escape(view.segment)}" data-segment="{escape(view.segment)}">'
            f"<h2>{escape(view.segment)} <small>as of {escape(view.as_of)}</small> "
            f"{gate_badge(overview.gates.get(view.as_of))}</h2>"
            f"{_funnel(view)}{_not_delivered(view)}{_deliveries(view)}{_lift(view)}{chart}</section>"
        )
    days = sorted({v.as_of for v in overview.segments}, reverse=True)
    gates = "".join(
        f"<li>{escape(day)}: {gate_badge(overview.gates.get(day))} {_gate_detail(overview.gates.get(day), day)}</li>"
        for day in days
    )
    notes = "".join(f"<p class='note'>{escape(n)}</p>" for n in overview.notes)
    empty = f"<p>No complete deliveries under {escape(deliveries_uri)}.</p>" if not overview.segments else ""
    lake = f" &middot; lake {escape(lake_uri)}" if lake_uri else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Audience downloads</title>'
        f"<style>{STYLE}</style></head><body><h1>Audience downloads</h1>"
        f'<p class="meta">Newest complete delivery of each segment and destination, from {escape(deliveries_uri)}'
        f"{lake}. Files are checked against their manifest's SHA-256 before they are served.</p>{notes}{empty}"
        + (f'<h2>Quality gate</h2><ul class="gates">{gates}</ul>' if days else "")
        + lift_table(overview.segments)
        + "".join(cards)
        + overlap_heatmap(overview.overlap, overview.overlap_as_of)
        + "</body></html>"
    )
