"""The streaming loop: minute by minute, sessions -> delivered lines -> a heap keyed by received time -> files.

Memory stays bounded whatever ``--events`` is: people are rebuilt from their index (nothing per visitor is
kept; a bounded cache saves rebuilding frequent visitors), and the heap only holds lines received after the
minute being generated: sessions still running and late batches (delays are capped at 10 h). It grows with
the traffic rate (lines per minute), not with the total.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field

from retarget_pipeline.generate import people
from retarget_pipeline.generate.behaviour import Event, Funnel, SessionBuilder
from retarget_pipeline.generate.catalog import Catalog
from retarget_pipeline.generate.delivery import Delivery
from retarget_pipeline.generate.settings import GeneratorSettings
from retarget_pipeline.generate.writer import HOUR_MS, HourlyWriter, Sink

# Relative traffic per UTC hour of day for a European shop: quiet nights, lunch bump, evening peak.
DIURNAL = (
    0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.25, 0.45, 0.6, 0.7, 0.75, 0.8,
    0.9, 0.85, 0.8, 0.8, 0.85, 0.95, 1.0, 1.0, 0.95, 0.8, 0.6, 0.4,
)  # fmt: skip
# Prior for the adaptive bot share (see _Mix): typical lines per human and per bot session.
_HUMAN_LINES, _BOT_LINES = 7.0, 22.5
# Sessions are started one-minute slice by slice, and lines received before the next slice are written out,
# so the heap holds ~ one minute of traffic plus sessions still running and late batches.
_SLICE_MS = 60_000
_SLICES_PER_HOUR = HOUR_MS // _SLICE_MS


@dataclass
class Summary:
    lines: int = 0
    sessions: int = 0
    bot_sessions: int = 0
    bot_lines: int = 0
    max_pending: int = 0  # most lines held in the heap at an hour boundary (the memory bound)
    files: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


class _Mix:
    """Chooses bot sessions so bot *lines* track ``bot_rate`` of all lines.

    The base session probability follows from the mean session sizes seen so far; it is then scaled by the
    current shortfall (in bot sessions' worth of lines), so the share stays close to the target even in small
    runs while bot sessions still arrive at random moments. Deterministic: it depends only on what was drawn.
    """

    def __init__(self, bot_rate: float) -> None:
        self.rate = bot_rate
        self.human = [_HUMAN_LINES, 1.0]  # line total, session count (with the prior as one pseudo-session)
        self.bot = [_BOT_LINES, 1.0]

    def bot_probability(self) -> float:
        if not self.rate:
            return 0.0
        h, b = self.human[0] / self.human[1], self.bot[0] / self.bot[1]
        r = self.rate
        base = r * h / (r * h + (1 - r) * b)
        lines = self.human[0] + self.bot[0] - _HUMAN_LINES - _BOT_LINES
        shortfall = r * lines - (self.bot[0] - _BOT_LINES)
        return base * max(0.0, min(4.0, 1.0 + shortfall / b))

    def seen(self, *, bot: bool, lines: int) -> None:
        stats = self.bot if bot else self.human
        stats[0] += lines
        stats[1] += 1


@dataclass(frozen=True)
class Boost:
    """A planted treatment effect (``retarget simulate``): people owning one of ``devices`` (cookie ids an ad
    platform was sent) buy ``factor`` times as often per cart (purchase rate x factor, capped at 1)."""

    devices: frozenset[str]
    factor: float


def generate(settings: GeneratorSettings, sink: Sink, boost: Boost | None = None) -> Summary:
    """Write ``settings.events`` lines over ``settings.days`` days of received hours into ``sink``."""
    s = settings
    rng = random.Random(s.seed)
    population = s.seed if s.population_seed is None else s.population_seed
    funnel = Funnel(s.cart_rate, s.purchase_rate)
    builder = SessionBuilder(rng, Catalog(s.products, s.zipf_exponent, population), funnel)
    boosted = None
    if boost is not None:
        boosted = (boost.devices, Funnel(s.cart_rate, min(1.0, s.purchase_rate * boost.factor)))
    delivery = Delivery(rng, late_rate=s.late_rate, duplicate_rate=s.duplicate_rate, malformed_rate=s.malformed_rate)
    start_ms = int(s.start.timestamp() * 1000)
    hours = s.days * 24
    knobs = people.Knobs(
        population, s.registered_rate, s.second_device_rate, s.app_rate, s.consent_denied_rate, s.consent_flip_rate,
        start_ms, hours * HOUR_MS,
    )  # fmt: skip
    weights = [DIURNAL[h % 24] * (1.15 if (s.start_date.weekday() * 24 + h) // 24 % 7 >= 5 else 1.0)
               for h in range(hours)]  # fmt: skip
    total_weight = sum(weights)
    writer = HourlyWriter(sink, start_ms // HOUR_MS, s.compress_level)
    mix = _Mix(s.bot_rate)
    summary = Summary()
    heap: list[tuple[int, int, bytes]] = []
    seq = itertools.count()
    done_weight = 0.0
    for slice_no in range(hours * _SLICES_PER_HOUR):
        # Each one-minute slice gets its share of the line budget (the hour's weight spread evenly).
        slice_start = start_ms + slice_no * _SLICE_MS
        done_weight += weights[slice_no // _SLICES_PER_HOUR] / _SLICES_PER_HOUR
        target = min(s.events, round(s.events * done_weight / total_weight))
        while summary.lines < target:
            session_start = slice_start + int(rng.random() * _SLICE_MS)
            is_bot = rng.random() < mix.bot_probability()
            events = _session(builder, rng, knobs, s, session_start, is_bot=is_bot, boosted=boosted)
            lines = delivery.deliver(events, may_be_late=not is_bot)[: s.events - summary.lines]
            mix.seen(bot=is_bot, lines=len(lines))
            for received, line in lines:
                heapq.heappush(heap, (received, next(seq), line))
            summary.lines += len(lines)
            summary.sessions += 1
            summary.bot_sessions += is_bot
            summary.bot_lines += len(lines) if is_bot else 0
        summary.max_pending = max(summary.max_pending, len(heap))
        # Every later session starts at or after the next slice, so everything received before it is final.
        _drain(heap, writer, slice_start + _SLICE_MS)
    _drain(heap, writer, None)
    writer.close(start_ms // HOUR_MS + hours - 1)
    summary.files = writer.files
    summary.counts = delivery.counts
    return summary


def _drain(heap: list[tuple[int, int, bytes]], writer: HourlyWriter, before_ms: int | None) -> None:
    while heap and (before_ms is None or heap[0][0] < before_ms):
        received, _, line = heapq.heappop(heap)
        writer.write(received, line)


def _session(
    builder: SessionBuilder,
    rng: random.Random,
    knobs: people.Knobs,
    s: GeneratorSettings,
    start_ms: int,
    *,
    is_bot: bool,
    boosted: tuple[frozenset[str], Funnel] | None = None,
) -> list[Event]:
    if is_bot:
        return builder.bot_session(people.bot(rng), start_ms)
    # Returning visitors: a skewed pick from the pool, so a few people come back often and most rarely.
    index = int(s.visitor_pool * rng.random() ** 1.8)
    person = people.person(index, knobs)
    device = person.devices[rng.randrange(len(person.devices))]
    usual = builder.funnel
    if boosted is not None and any(d.anonymous_id in boosted[0] for d in person.devices):
        builder.funnel = boosted[1]  # same draws, higher purchase probability
    try:
        if rng.random() < s.ad_session_rate:
            return builder.ad_exposure(person, device, start_ms)
        return builder.shopping(person, device, start_ms)
    finally:
        builder.funnel = usual
