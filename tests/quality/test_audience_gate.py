"""The audiences gate: one crafted bad lake (one defect per expectation) and one good lake.

Previous builds (segment_stats, exportable persons): cart [2, 3, 2], browsers [3, 3, 4]; with the suite's
factors 0.5 / 2.0 the expected ranges are cart [1.0, 6.0] and browsers [1.5, 8.0].
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from quality_lakes import (
    AS_OF,
    at,
    match_key_rows,
    member,
    person_key,
    pseudonym,
    write_members,
    write_stats_history,
    write_table,
)

from retarget_pipeline.quality.gates import GateResult, run_audience_gate
from retarget_pipeline.quality.results import Finding

HISTORY = {"cart": [2, 3, 2], "browsers": [3, 3, 4]}
DAY_1, DAY_3 = AS_OF - timedelta(days=1), AS_OF - timedelta(days=3)


def by_id(result: GateResult, expectation_id: str) -> list[Finding]:
    return [f for f in result.critical_failures + result.warnings if f.expectation_id == expectation_id]


def write_match_keys(lake: Path, rows: list[dict[str, Any]]) -> None:
    write_table(lake / "identity" / "match_keys", "identity_match_keys", rows)


@pytest.fixture(scope="module")
def good(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> GateResult:
    lake = tmp_path_factory.mktemp("good_audience_lake")
    write_members(
        lake,
        "cart",
        [
            member("cart", "a"),
            member("cart", "b", user_keys=[pseudonym("user-b")], phone_keys=[pseudonym("phone-b")]),
            member("cart", "c", is_holdout=True, exportable=False),
            member("cart", "d", suppression_reason="consent_denied", exportable=False),
        ],
    )
    # The consent state the build evaluated (each cookie's latest signal): b said no, then yes (granted); d no
    # (suppressed, not exportable); f no, then yes; a yes.
    consent = [
        ("anon-b", at(DAY_1, 10), False),
        ("anon-d", at(DAY_1, 10, 1), True),
        ("anon-f", at(DAY_1, 10, 3), False),
        ("anon-a", at(DAY_1, 10, 3), False),
    ]
    write_members(lake, "browsers", [member("browsers", s) for s in ("a", "e", "f")], consent=consent)
    write_match_keys(lake, [r for s in ("a", "b", "e", "f") for r in match_key_rows(s)])
    write_stats_history(lake, HISTORY)
    return run_audience_gate(lake=str(lake), as_of=AS_OF, spark=spark)


@pytest.fixture(scope="module")
def bad(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> GateResult:
    lake = tmp_path_factory.mktemp("bad_audience_lake")
    write_members(
        lake,
        "cart",
        [
            member("cart", "a", email_keys=["vtest:not-a-digest"]),  # malformed pseudonym
            member("cart", "a", exportable=False, suppression_reason="frequency_capped"),  # same person twice
            member("cart", "c", suppression_reason="consent_denied"),  # consent denied yet exportable
            member("cart", "d", is_holdout=True),  # holdout yet exportable
        ],
    )
    # e said yes, then no (latest: denied); the build did not suppress e (suppression_reason null, exportable).
    consent = [("anon-e", at(DAY_1, 10), True)]
    write_members(lake, "browsers", [member("browsers", "e")], consent=consent)  # 1 exportable, expected >= 1.5
    keys = match_key_rows("c")
    keys[0]["match_key"] = keys[0]["match_key"].upper()  # google_ads key not lowercase hex
    keys[2]["match_key"] = keys[2]["match_key"].rstrip("=")  # UID2 key 43 chars
    write_match_keys(lake, keys + match_key_rows("d"))
    write_stats_history(lake, HISTORY)
    return run_audience_gate(lake=str(lake), as_of=AS_OF, spark=spark)


def test_good_audiences_pass(good: GateResult) -> None:
    assert good.passed, good.message()
    assert good.critical_failures == [] and good.warnings == []


def test_malformed_pseudonym(bad: GateResult) -> None:
    (f,) = by_id(bad, "pseudonym_well_formed")
    assert f.observed == {"unexpected_count": 1}  # no examples: a malformed key may be a raw identifier


def test_malformed_sha256_match_key(bad: GateResult) -> None:
    (f,) = by_id(bad, "sha256_hex_match_key_well_formed")
    assert f.observed == {"unexpected_count": 1}


def test_malformed_uid2_match_key(bad: GateResult) -> None:
    (f,) = by_id(bad, "uid2_match_key_well_formed")
    assert f.observed == {"unexpected_count": 1}


def test_duplicate_person(bad: GateResult) -> None:
    (f,) = by_id(bad, "no_duplicate_person_per_segment")
    assert f.column == "segment,person_key"
    assert f.observed["unexpected_count"] == 2
    assert {tuple(sorted(e.items())) for e in f.observed["examples"]} == {
        (("person_key", person_key("a")), ("segment", "cart"))
    }


def test_consent_denied_exportable(bad: GateResult) -> None:
    (f,) = by_id(bad, "no_consent_denied_exportable")
    assert f.observed == {"unexpected_count": 1, "examples": ["consent_denied"]}


def test_exportable_person_whose_latest_consent_is_denied(bad: GateResult) -> None:
    (f,) = by_id(bad, "no_latest_consent_denied_exportable")
    assert f.observed == {"unexpected_count": 1, "examples": ["denied"]}


def test_holdout_exportable(bad: GateResult) -> None:
    (f,) = by_id(bad, "no_holdout_exportable")
    assert f.observed == {"unexpected_count": 1, "examples": [True]}


def test_segment_size_drop(bad: GateResult) -> None:
    (f,) = by_id(bad, "segment_size_not_dropped")
    assert (f.column, f.observed, f.threshold["min_value"]) == ("browsers", 1, 1.5)


def test_bad_gate_fails_exactly_on_the_crafted_defects(bad: GateResult) -> None:
    assert not bad.passed
    assert sorted(f.expectation_id for f in bad.critical_failures) == [
        "no_consent_denied_exportable",
        "no_duplicate_person_per_segment",
        "no_holdout_exportable",
        "no_latest_consent_denied_exportable",
        "pseudonym_well_formed",
        "segment_size_not_dropped",
        "sha256_hex_match_key_well_formed",
        "uid2_match_key_well_formed",
    ]
    record = json.loads(Path(bad.results_path).read_text())
    assert Path(bad.results_path).parent.parent.name == "audiences"
    assert "not-a-digest" not in json.dumps(record)  # hidden examples stay hidden
    docs = Path(bad.data_docs_path)
    assert docs.is_file()
    pages = [p.read_text() for p in docs.parent.joinpath("validations").rglob("*.html")]
    assert any("pseudonym_well_formed" in p or "audiences.pseudonyms" in p for p in pages)
    assert not any("not-a-digest" in p for p in pages)


def test_vanished_segment_is_a_drop_to_zero(spark: Any, tmp_path: Path) -> None:
    write_members(tmp_path, "cart", [member("cart", s) for s in ("a", "b")])
    write_stats_history(tmp_path, HISTORY)  # 'browsers' was in the previous build, has no rows now
    result = run_audience_gate(lake=str(tmp_path), as_of=AS_OF, spark=spark)
    (f,) = by_id(result, "segment_size_not_dropped")
    assert (f.column, f.observed) == ("browsers", 0)
