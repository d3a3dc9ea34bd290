"""``retarget simulate``: a closed loop with a planted lift, the end-to-end proof that holdouts, exports and the
lift report fit together.

Day by day (``days`` days from ``start``):

1. generate the day's traffic: one fixed population (``population_seed``), a new traffic seed each day;
   people who own a cookie that any earlier day's delivery sent to the ad platform buy ``1 + true_lift`` times as
   often per cart (:class:`~retarget_pipeline.generate.stream.Boost`: the ad "works" from the day after the
   person was first delivered);
2. ingest it (its own landing folder, so the days never share a file);
3. build the segments as of that day (Spark) with ``config/simulate/segments.yaml``: one segment, half held
   out, no caps, attribution window 3 days;
4. export them to the DSP cookie list (``config/simulate/destinations.yaml``): held-out persons are never
   delivered, so they are never boosted.

After the last day, ``retarget report lift`` over the whole period (written to the lake's ``lift/`` table) and a
summary: per segment the planted lift, the measured relative lift with its 95% interval, and whether the
interval covers the planted value. What is planted is a per-cart purchase multiplier; the report measures the
share of entrants with an order within the window (intent to treat), which a multiplier on a rare event moves
by nearly the same factor (less when conversion is common, or when treated persons are not delivered: unknown
consent, a visit only on the entry day). The cohorts of the last ``attribution_days`` days are pending.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retarget_pipeline.config import project_root
from retarget_pipeline.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
DESTINATION = "dsp_device_list"


def simulation_config(name: str) -> str:
    return str(project_root() / "config" / "simulate" / name)


@dataclass(frozen=True)
class SimulationSettings:
    days: int
    true_lift: float  # planted relative lift of the purchase probability per cart of a delivered person
    seed: int = 42
    events_per_day: int = 20_000
    visitors: int = 3_000
    start: date = date(2026, 11, 2)
    cart_rate: float = 0.10
    purchase_rate: float = 0.30

    def validate(self) -> SimulationSettings:
        if not 2 <= self.days <= 60:
            raise UsageError(f"--days: expected 2..60, got {self.days}")
        if not 0 <= self.true_lift <= 2:
            raise UsageError(f"--true-lift: expected 0..2 (a relative lift: 0.3 = +30%), got {self.true_lift}")
        if self.purchase_rate * (1 + self.true_lift) > 1:
            raise UsageError(
                f"--true-lift: purchase rate {self.purchase_rate} x {1 + self.true_lift} exceeds 1 (no room for it)"
            )
        if self.events_per_day < 1_000 or self.visitors < 100:
            raise UsageError("--events-per-day >= 1000 and --visitors >= 100 are needed for cohorts of any size")
        return self


def simulate(
    spark: SparkSession,
    out: str,
    settings: SimulationSettings,
    *,
    segments_config: str | None = None,
    destinations_config: str | None = None,
) -> dict[str, Any]:
    """Run the loop under ``out`` (``landing/<day>/``, ``lake/``, ``deliveries/``); returns the summary."""
    from retarget_pipeline.export.build import run_export
    from retarget_pipeline.generate.settings import GeneratorSettings
    from retarget_pipeline.generate.stream import Boost, generate
    from retarget_pipeline.generate.writer import StoreSink
    from retarget_pipeline.ingest.run import run_ingest
    from retarget_pipeline.measure.lift import lift_report, write_report
    from retarget_pipeline.segments.build import build_segments
    from retarget_pipeline.storage import open_store

    s = settings.validate()
    segments_config = segments_config or simulation_config("segments.yaml")
    destinations_config = destinations_config or simulation_config("destinations.yaml")
    root = Path(out)
    lake, deliveries = str(root / "lake"), str(root / "deliveries")
    delivered: set[str] = set()
    days: list[dict[str, Any]] = []
    for n in range(s.days):
        began = time.perf_counter()
        day = s.start + timedelta(days=n)
        landing = root / "landing" / day.isoformat()
        traffic = GeneratorSettings(
            events=s.events_per_day,
            days=1,
            seed=s.seed + 1 + n,
            population_seed=s.seed,
            start_date=day,
            visitors=s.visitors,
            cart_rate=s.cart_rate,
            purchase_rate=s.purchase_rate,
            late_rate=0.0,  # a day's lines stay in its own files (no batch arriving the next morning)
        ).validate()
        boost = Boost(frozenset(delivered), 1 + s.true_lift) if delivered and s.true_lift else None
        generate(traffic, StoreSink(open_store(str(landing))), boost)
        report = run_ingest(source=str(landing), lake=lake)
        build = build_segments(spark, lake=lake, as_of=day, out=lake, config_path=segments_config)
        export = run_export(
            lake=lake, destination=DESTINATION, to=deliveries, config_path=destinations_config, as_of=day
        )
        sent = _delivered_cookies(Path(deliveries), export)
        new = sent - delivered
        delivered |= sent
        days.append(
            {
                "day": day.isoformat(),
                "events": sum(f.valid for f in report.files),
                "boosted_cookies": len(boost.devices) if boost else 0,
                "qualified": {k: v["qualified"] for k, v in build["segments"].items()},
                "delivered_cookies": len(sent),
                "newly_delivered": len(new),
                "seconds": round(time.perf_counter() - began, 1),
            }
        )
        log.info("simulate %s: %s", day, days[-1])
    last = s.start + timedelta(days=s.days - 1)
    rows = lift_report(lake=lake, as_of=last, period_from=s.start, config_path=segments_config)
    written = write_report(lake, rows)
    return {
        "out": str(root),
        "days": days,
        "true_lift": s.true_lift,
        "lift_table": written,
        "segments": [_verdict(r.to_json(), s.true_lift) for r in rows],
    }


def _delivered_cookies(deliveries: Path, export: dict[str, Any]) -> set[str]:
    """Cookie ids in this export's delivery files (the dsp_device_list layout: id, id_type, ...)."""
    cookies: set[str] = set()
    for seg in export.get("segments", []):
        prefix = seg.get("prefix")
        if not prefix:
            continue
        for part in sorted((deliveries / prefix).glob("part-*.csv.gz")):
            reader = csv.DictReader(io.StringIO(gzip.decompress(part.read_bytes()).decode("utf-8")))
            cookies.update(row["id"] for row in reader if row["id_type"] == "cookie")
    return cookies


def _verdict(row: dict[str, Any], planted: float) -> dict[str, Any]:
    low, high = row.get("rel_lift_low"), row.get("rel_lift_high")
    covered = None if low is None or high is None else low <= planted <= high
    return {**row, "planted_rel_lift": planted, "interval_covers_planted": covered}


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The human summary (also what ``make demo`` prints)."""
    lines = []
    for r in result["segments"]:
        head = f"{r['segment']}: planted {r['planted_rel_lift']:+.0%}"
        if r["rel_lift"] is None:
            lines.append(f"{head}; measured: {r['status']} ({r['pending_persons']} persons pending)")
            continue
        verdict = "covers" if r["interval_covers_planted"] else "does NOT cover"
        lines.append(
            f"{head}; measured {r['rel_lift']:+.0%} (95% CI {r['rel_lift_low']:+.0%} .. {r['rel_lift_high']:+.0%}, "
            f"p={r['p_value']:.3f}): the interval {verdict} the planted lift. Treated "
            f"{r['treatment_converters']}/{r['treatment_persons']} converted, held out "
            f"{r['control_converters']}/{r['control_persons']}; {r['pending_persons']} persons pending"
        )
    return lines
