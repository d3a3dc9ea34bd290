"""The generator's knobs (one frozen dataclass) and their validation.

Every rate is documented in the package docstring (``retarget_pipeline.generate``) with the quantity it
produces in the output; the CLI exposes each field as an option of the same name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from retarget_pipeline.errors import PermanentError

DEFAULT_START_DATE = dt.date(2026, 11, 20)
DEFAULT_SEED = 42


class SettingsError(PermanentError, ValueError):
    """A knob is out of range; the message names the option."""


@dataclass(frozen=True)
class GeneratorSettings:
    """What to generate. Rates are probabilities in [0, 1]; see the package docstring for their meaning."""

    events: int = 100_000
    days: int = 3
    seed: int = DEFAULT_SEED
    start_date: dt.date = DEFAULT_START_DATE
    visitors: int = 0  # 0 = derived: max(50, events // 12)
    products: int = 2_000
    zipf_exponent: float = 1.1
    bot_rate: float = 0.015
    duplicate_rate: float = 0.005
    malformed_rate: float = 0.005
    late_rate: float = 0.03
    consent_denied_rate: float = 0.03
    consent_flip_rate: float = 0.01
    registered_rate: float = 0.35
    second_device_rate: float = 0.45
    app_rate: float = 0.15
    cart_rate: float = 0.10
    purchase_rate: float = 0.30
    ad_session_rate: float = 0.25
    compress_level: int = 6
    # Seed of the people and the catalog when it differs from the traffic's ``seed``: ``retarget simulate``
    # generates day by day (a new traffic seed each day) from one fixed population.
    population_seed: int | None = None

    @property
    def visitor_pool(self) -> int:
        return self.visitors or max(50, self.events // 12)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.start_date.year, self.start_date.month, self.start_date.day, tzinfo=dt.UTC)

    def validate(self) -> GeneratorSettings:
        """Return self, or raise :class:`SettingsError` naming the first bad option."""
        if self.events < 1:
            raise SettingsError(f"--events must be >= 1 (got {self.events})")
        if not 1 <= self.days <= 366:
            raise SettingsError(f"--days must be between 1 and 366 (got {self.days})")
        if self.seed < 0:
            raise SettingsError(f"--seed must be >= 0 (got {self.seed})")
        if self.visitors < 0:
            raise SettingsError(f"--visitors must be >= 0 (got {self.visitors}; 0 means events // 25)")
        if not 10 <= self.products <= 10_000_000:
            raise SettingsError(f"--products must be between 10 and 10000000 (got {self.products})")
        if not 0.0 < self.zipf_exponent <= 4.0:
            raise SettingsError(f"--zipf-exponent must be in (0, 4] (got {self.zipf_exponent})")
        if not 0 <= self.compress_level <= 9:
            raise SettingsError(f"--compress-level must be 0..9 (got {self.compress_level})")
        for f in fields(self):
            if f.name.endswith("_rate"):
                value = getattr(self, f.name)
                if not 0.0 <= value <= 1.0:
                    option = "--" + f.name.replace("_", "-")
                    raise SettingsError(f"{option} must be a probability between 0 and 1 (got {value})")
        if self.bot_rate > 0.5:
            raise SettingsError(f"--bot-rate must be <= 0.5 (got {self.bot_rate})")
        return self
