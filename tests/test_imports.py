"""Every project import resolves inside this repo (no clash with a same-named package elsewhere)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "retarget_pipeline"


def _project_modules() -> set[str]:
    names = set()
    for folder in ("src", "dags", "jobs", "plugins", "scripts", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module)
                    # `from pkg import sub` may name a submodule: check those too.
                    names.update(f"{node.module}.{alias.name}" for alias in node.names)
                elif isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] == PACKAGE}


def test_the_package_is_this_repo() -> None:
    spec = importlib.util.find_spec(PACKAGE)
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).resolve().is_relative_to(ROOT / "src" / PACKAGE)


def test_every_project_import_resolves_inside_the_repo() -> None:
    modules = _project_modules()
    assert f"{PACKAGE}.contracts" in modules  # the scan does see the project's imports
    for name in sorted(modules):
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # parent is a plain module: `from module import function`
            spec = None
        if spec is None:
            parent, _, attr = name.rpartition(".")
            assert hasattr(importlib.import_module(parent), attr), f"{name} is neither a module nor an attribute"
            continue
        module = importlib.import_module(name)
        origin = Path(getattr(module, "__file__", "") or "").resolve()
        assert origin.is_relative_to(ROOT), f"{name} resolved to {origin}, outside {ROOT}"


def test_generic_top_level_names_are_not_shadowing_the_package() -> None:
    # dags/ and plugins/ go on sys.path under Airflow: they must not define a module named like ours.
    for folder in ("dags", "plugins", "jobs"):
        assert not (ROOT / folder / PACKAGE).exists()
        assert not (ROOT / folder / f"{PACKAGE}.py").exists()
    assert PACKAGE not in sys.builtin_module_names
