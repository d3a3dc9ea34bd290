"""`retarget generate` options, errors, determinism and the gzip/file layout."""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import pytest

from retarget_pipeline.cli import build_parser, main

SMALL = ["--events", "3000", "--days", "1"]


def _generate_parser() -> argparse.ArgumentParser:
    root = build_parser()
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = sub.choices["generate"]
    return parser


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    options = [a for a in _generate_parser()._actions if a.option_strings and "--help" not in a.option_strings]
    assert len(options) >= 20
    for action in options:
        assert action.help and len(action.help) > 15, action.option_strings
        assert action.option_strings[-1] in text
        assert " ".join(action.help.split())[:30] in text
    for required in ("--out", "--events", "--days", "--seed", "--start-date", "--bot-rate", "s3://bucket/prefix"):
        assert required in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--events", "0"], "--events must be >= 1"),
        (["--days", "0"], "--days must be between 1 and 366"),
        (["--start-date", "2026-13-01"], "--start-date: expected YYYY-MM-DD"),
        (["--bot-rate", "1.5"], "--bot-rate must be"),
        (["--duplicate-rate", "-0.1"], "--duplicate-rate must be"),
        (["--products", "3"], "--products must be"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["generate", "--out", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_out_must_be_a_folder_or_s3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", "ftp://host/x", *SMALL]) == 2
    assert "--out" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["generate", "--out", str(a_file), *SMALL]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        assert main(["generate", "--out", str(tmp_path / name), *SMALL, "--seed", seed]) == 0
    a, b, c = (_tree(tmp_path / n) for n in "abc")
    assert a == b
    assert len(a) >= 24
    assert a.keys() == c.keys()  # same hours ...
    assert all(a[k] != c[k] for k in a if len(a[k]) > 100)  # ... different content


def test_gzip_header_is_reproducible_and_exact_line_count(tmp_path: Path) -> None:
    assert main(["generate", "--out", str(tmp_path), *SMALL, "--start-date", "2027-01-31"]) == 0
    files = sorted(tmp_path.rglob("*.jsonl.gz"))
    assert files[0].relative_to(tmp_path).as_posix() == "2027/01/31/00/pixel-2027013100.jsonl.gz"
    total = 0
    for path in files:
        header = path.read_bytes()[:10]
        assert header[:3] == b"\x1f\x8b\x08"
        assert header[3] & 0x08 == 0  # no FNAME
        assert header[4:8] == b"\0\0\0\0"  # mtime 0
        total += gzip.decompress(path.read_bytes()).count(b"\n")
    assert total == 3000
    assert not list(tmp_path.rglob("*.tmp"))
