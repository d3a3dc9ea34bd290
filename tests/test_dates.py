"""The plausible as-of window (retarget_pipeline.dates) and every entry point that takes an as-of date."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from retarget_pipeline.cli import main as retarget_main
from retarget_pipeline.dates import parse_as_of
from retarget_pipeline.errors import ParamError
from retarget_pipeline.orchestration.build import parse_as_of_param

NOW = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2000-01-01", date(2000, 1, 1)), ("2026-11-30", date(2026, 11, 30)), (" 2026-12-01 ", date(2026, 12, 1))],
)
def test_window_edges_are_accepted(text: str, expected: date) -> None:
    assert parse_as_of(text, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0001-01-01", "--as-of: 0001-01-01 is outside the plausible dates 2000-01-01 .. 2026-12-01"),
        ("1999-12-31", "--as-of: 1999-12-31 is outside the plausible dates 2000-01-01 .. 2026-12-01"),
        ("2026-12-02", "--as-of: 2026-12-02 is outside the plausible dates 2000-01-01 .. 2026-12-01"),
        ("9999-12-31", "--as-of: 9999-12-31 is outside the plausible dates 2000-01-01 .. 2026-12-01"),
        ("2026-02-30", "--as-of: expected a date YYYY-MM-DD, got '2026-02-30'"),
    ],
)
def test_outside_the_window_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_as_of(text, now=NOW)
    assert str(info.value).startswith(message)


def test_window_start_follows_the_ingest_plausibility_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETARGET_EVENT_TIME_MIN", "2020-06-01")
    assert parse_as_of("2020-06-01", now=NOW) == date(2020, 6, 1)
    with pytest.raises(ValueError, match="2020-05-31 is outside the plausible dates 2020-06-01"):
        parse_as_of("2020-05-31", now=NOW)


def test_dag_param_is_a_param_error() -> None:
    with pytest.raises(ParamError, match="param as_of: 9999-12-31 is outside the plausible dates"):
        parse_as_of_param("9999-12-31")


@pytest.mark.parametrize(
    "argv",
    [
        ["segments", "build", "--lake", "L", "--out", "L", "--as-of", "9999-12-31"],
        ["export", "--segments", "L/segments", "--destination", "crm_csv", "--to", "O", "--as-of", "0001-01-01"],
        ["quality", "check", "audiences", "--lake", "L", "--as-of", "9999-12-31"],
    ],
)
def test_every_cli_refuses_an_implausible_as_of_before_work(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        retarget_main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "is outside the plausible dates 2000-01-01 .. " in err
