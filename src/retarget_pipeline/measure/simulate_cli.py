"""``retarget simulate``: the closed loop with a planted lift (see :mod:`retarget_pipeline.measure.simulate`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="closed loop with a planted lift: generate, ingest, build, export day by day, then measure the lift",
        description="Day by day: generate a day of traffic in which persons an ad platform was sent buy "
        "(1 + TRUE_LIFT) times as often per cart, ingest it, build the segments (Spark, local), export them; then "
        "the holdout lift report over the period, and whether its 95%% interval covers TRUE_LIFT. Segments and "
        "destinations: config/simulate/. Writes OUT/landing, OUT/lake, OUT/deliveries (OUT must be new or empty).",
    )
    parser.add_argument("--out", required=True, help="work folder (created; must be empty)")
    parser.add_argument("--days", type=int, default=6, help="simulated days (default 6; the last 3 are pending)")
    parser.add_argument("--true-lift", type=float, default=0.3, help="planted relative lift, e.g. 0.3 = +30%%")
    parser.add_argument("--seed", type=int, default=42, help="population seed (each day's traffic: seed + day)")
    parser.add_argument("--events-per-day", type=int, default=20_000)
    parser.add_argument("--visitors", type=int, default=3_000, help="population size")
    parser.add_argument("--json", action="store_true", help="print the whole summary as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.measure.simulate import SimulationSettings, simulate, summary_lines
    from retarget_pipeline.spark import get_spark

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out: {out} exists and is not an empty folder (the simulation starts from nothing)")
    settings = SimulationSettings(
        days=args.days,
        true_lift=args.true_lift,
        seed=args.seed,
        events_per_day=args.events_per_day,
        visitors=args.visitors,
    ).validate()
    spark = get_spark("retarget-simulate")
    try:
        result = simulate(spark, str(out), settings)
    finally:
        spark.stop()
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        for day in result["days"]:
            print(
                f"{day['day']}: {day['events']:,} events, qualified {day['qualified']}, "
                f"{day['delivered_cookies']:,} cookies delivered ({day['newly_delivered']:,} new), {day['seconds']} s"
            )
        print("\n".join(summary_lines(result)))
    return 0
