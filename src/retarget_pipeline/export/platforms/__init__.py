"""The destination registry: one module per destination in this package, found by name.

A destination module defines ``DESTINATION``, a :class:`Destination`: its name (the key in
``config/destinations.yaml``), the identity-table platform whose match keys it sends, the label manifests carry,
its file limits and minimum audience size (sources in ``schemas/export_formats.md``), the row layout it writes
and which persons it can reach. Adding a destination is one new module here plus its config lines
(``docs/ARCHITECTURE.md``, "Add a destination"); an unknown name is an error everywhere, never a fallback.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retarget_pipeline.export.destinations import DestinationConfig
    from retarget_pipeline.export.formats import Layout, MatchKeyMap

LayoutFn = Callable[["DestinationConfig", list[dict[str, Any]], "MatchKeyMap", date], "Layout"]
ReachFn = Callable[["DestinationConfig", dict[str, Any], "MatchKeyMap"], bool]
IdTypesFn = Callable[[str, Any], tuple[str, ...]]  # (where, raw option value) -> id types, raising on bad input


@dataclass(frozen=True)
class Destination:
    name: str
    platform: str  # the identity table's platform whose match keys this destination uses ("" = none)
    label: str  # who receives the files (the manifest's "platform")
    max_rows_per_file: int
    max_bytes_per_file: int  # uncompressed CSV bytes, header included
    layout: LayoutFn
    reachable: ReachFn
    # Persons with a key the platform accepts below which it will not serve the audience: such a delivery is held
    # (``allow_below_minimum`` ships it anyway). Sources in schemas/export_formats.md ("Minimum audience sizes").
    min_audience_size: int = 0
    id_types: IdTypesFn | None = None  # parses the ``id_types`` option; None: the option is refused


_EXTRA: dict[str, Destination] = {}


@cache
def _modules() -> dict[str, Destination]:
    found: dict[str, Destination] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        dest = getattr(module, "DESTINATION", None)
        if not isinstance(dest, Destination):
            raise TypeError(f"{module.__name__}: a destination module must define DESTINATION = Destination(...)")
        if dest.name != info.name:
            raise TypeError(f"{module.__name__}: DESTINATION.name is {dest.name!r}; it must be the module's name")
        found[dest.name] = dest
    return found


def registry() -> Mapping[str, Destination]:
    """Every destination, by name (this package's modules, then any registered at run time)."""
    return {**_modules(), **_EXTRA}


def register(dest: Destination) -> Callable[[], None]:
    """Add a destination defined outside this package (a plugin, a test); returns its removal."""
    if dest.name in registry():
        raise ValueError(f"destination {dest.name!r} is already registered")
    _EXTRA[dest.name] = dest

    def remove() -> None:
        _EXTRA.pop(dest.name, None)

    return remove


def get(name: str) -> Destination:
    """The destination called ``name``; ``ValueError`` naming the known ones otherwise."""
    found = _EXTRA.get(name) or _modules().get(name)  # per person in reach counts: no dict built per call
    if found is None:
        raise ValueError(f"unknown destination {name!r} (expected one of {', '.join(names())})")
    return found


def names() -> tuple[str, ...]:
    return tuple(registry())
