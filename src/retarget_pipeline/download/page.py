"""HTML of the downloads page (``GET /audiences/``): one card per segment, no script, no external asset.

Links are relative to the page (``files/...``, ``manifests/...``, ``quality-docs/...``), so the page works at
``/audiences/`` and inside the Airflow UI's frame alike, behind a path prefix too.
"""

from __future__ import annotations

from html import escape
from typing import Any

from retarget_pipeline.download.catalog import Delivery
from retarget_pipeline.download.chart import colour_map, legend_html, size_chart_svg, size_series
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
    from retarget_pipeline.download.cli import human_size

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
        + "".join(cards)
        + "</body></html>"
    )
