"""Bot flagging from ``config/bots.yaml``: user-agent regexes and client IP ranges (CIDR).

``BotRules.flag(user_agent, ip)`` -> (is_bot, bot_reason) arrays for a chunk. One combined RE2 regex finds
the bot rows vectorised; only those rows are matched rule by rule in Python to name the reason. IPv4 ranges
are compared as integers with pyarrow compute; IPv6 addresses (rare) go through ``ipaddress``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from retarget_pipeline.config import project_root

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def default_bots_file() -> Path:
    return project_root() / "config" / "bots.yaml"


@dataclass(frozen=True)
class BotRules:
    user_agents: dict[str, str] = field(default_factory=dict)  # name -> regex
    networks: list[tuple[str, Network]] = field(default_factory=list)  # (cidr text, network)

    @classmethod
    def load(cls, path: Path | None = None) -> BotRules:
        path = path or default_bots_file()
        try:
            raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read bot list: {exc}") from exc
        agents = {str(k): str(v) for k, v in (raw.get("user_agents") or {}).items()}
        for name, pattern in agents.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{path}: user_agents.{name}: bad regex: {exc}") from exc
        networks: list[tuple[str, Network]] = []
        for name, cidrs in (raw.get("ip_ranges") or {}).items():
            for cidr in cidrs or []:
                try:
                    networks.append((str(cidr), ipaddress.ip_network(str(cidr), strict=False)))
                except ValueError as exc:
                    raise ValueError(f"{path}: ip_ranges.{name}: {exc}") from exc
        return cls(agents, networks)

    def flag(self, user_agent: pa.Array, ip: pa.Array) -> tuple[pa.Array, pa.Array]:
        n = len(user_agent)
        reasons: list[str | None] = [None] * n
        if self.user_agents and user_agent.null_count < n:
            combined = "(?i)(?:" + "|".join(f"(?:{p})" for p in self.user_agents.values()) + ")"
            hit = pc.fill_null(pc.match_substring_regex(user_agent, combined), False)
            rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
            if len(rows):
                compiled = [(name, re.compile(p, re.I)) for name, p in self.user_agents.items()]
                uas = user_agent.take(pa.array(rows)).to_pylist()
                for row, ua in zip(rows, uas, strict=True):
                    reasons[row] = next((f"ua:{name}" for name, rx in compiled if rx.search(ua)), "ua:?")
        if self.networks and ip.null_count < n:
            self._flag_ips(ip, reasons)
        is_bot = pa.array([r is not None for r in reasons], type=pa.bool_())
        return is_bot, pa.array(reasons, type=pa.string())

    def _flag_ips(self, ip: pa.Array, reasons: list[str | None]) -> None:
        v4 = [(c, n) for c, n in self.networks if n.version == 4]
        parts = pc.extract_regex(ip, r"^(?P<a>\d{1,3})\.(?P<b>\d{1,3})\.(?P<c>\d{1,3})\.(?P<d>\d{1,3})$")
        as_int = pc.cast(pc.struct_field(parts, 0), pa.int64())
        for i in range(1, 4):
            as_int = pc.add(pc.multiply(as_int, 256), pc.cast(pc.struct_field(parts, i), pa.int64()))
        for cidr, net in v4:
            lo, hi = int(net.network_address), int(net.broadcast_address)
            inside = pc.fill_null(pc.and_(pc.greater_equal(as_int, lo), pc.less_equal(as_int, hi)), False)
            for row in np.flatnonzero(inside.to_numpy(zero_copy_only=False)):
                if reasons[row] is None:
                    reasons[row] = f"ip:{cidr}"
        v6 = [(c, n) for c, n in self.networks if n.version == 6]
        if not v6:
            return
        maybe_v6 = pc.fill_null(pc.match_substring(ip, ":"), False)
        raw = ip.to_pylist()
        for row in np.flatnonzero(maybe_v6.to_numpy(zero_copy_only=False)):
            try:
                addr = ipaddress.ip_address(str(raw[row]).strip("[]"))
            except ValueError:
                continue
            hit = next((c for c, n in v6 if addr in n), None)
            if hit and reasons[row] is None:
                reasons[row] = f"ip:{hit}"
