"""Units of the erasure stage on hand-made inputs (no Spark): request recording, key rotation, the stitching
guard, legacy request rows and the ingest filter."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from retarget_pipeline.cli import main as retarget_main
from retarget_pipeline.config import PseudonymKeys
from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.ingest.pseudonymise import Pseudonymiser
from retarget_pipeline.lake import layout
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.matchkeys import mailbox, mailbox_match_keys, match_keys
from retarget_pipeline.privacy.erase import KINDS, pseudonyms, read_requests
from retarget_pipeline.privacy.ingest_filter import ErasureFilter
from retarget_pipeline.privacy.linked import linked_identifiers

RAW = "Secret.Person@example.com"


def test_cli_records_only_the_pseudonym(tmp_path: Path, capsys: Any) -> None:
    lake = tmp_path / "lake"
    code = retarget_main(
        ["erase", "--lake", str(lake), "--email", RAW, "--reason", "ticket 7", "--requested-by", "dpo@shop.example"]
    )
    assert code == 0
    out = capsys.readouterr().out
    files = [p for p in lake.rglob("*") if p.is_file()]
    assert len(files) == 2  # the request Parquet + its audit JSON
    blobs = out + "".join(
        repr(pq.read_table(p).to_pylist()) if p.suffix == ".parquet" else p.read_text() for p in files
    )
    assert RAW.lower() not in blobs.lower() and "dpo@shop.example" not in blobs
    (row,) = read_requests(Lake(str(lake))).to_pylist()
    assert row["identifier_type"] == "email_key" and row["status"] == "requested"
    assert row["identifier_value"] == Pseudonymiser().key(RAW, "email")


def test_invalid_value_error_names_option_not_value(tmp_path: Path, capsys: Any) -> None:
    assert retarget_main(["erase", "--lake", str(tmp_path), "--phone", "12-not-a-phone-99"]) == 2
    err = capsys.readouterr().err
    assert "--phone: not a valid phone" in err and "12-not-a-phone-99" not in err
    assert not any(tmp_path.rglob("*.parquet"))


def test_one_row_per_key_version_during_a_rotation() -> None:
    keys = {"v1": b"a" * 32, "v2": b"b" * 32}
    config = PseudonymKeys.from_env(
        {"RETARGET_PSEUDONYM_KEYS": ",".join(f"{v}:{base64.b64encode(k).decode()}" for v, k in keys.items())}
    )
    values = pseudonyms(KINDS["email"], RAW, config)
    assert [v.split(":")[0] for v in values] == ["v1", "v2"]
    assert values[0] == Pseudonymiser(PseudonymKeys("v1", config.keys)).key(RAW.lower(), "email")
    assert pseudonyms(KINDS["advertising_id"], " ABC-DEF ") == ["abc-def"]


def _events(lake: Path, rows: list[dict[str, Any]]) -> None:
    schema = pa.schema([pa.field(n, pa.string()) for n in ("event_type", *_IDS)])
    full = [{"event_type": r.pop("t"), **{c: r.get(c) for c in _IDS}} for r in rows]
    path = lake / "events" / "event_date=2026-11-20" / "event_hour=14" / "part-00000.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(full, schema=schema), path)


_IDS = ("anonymous_id", "user_key", "email_key", "phone_key", "advertising_id")


def test_linked_identifiers_follow_links_but_not_through_a_shared_cookie(tmp_path: Path) -> None:
    # a1 -(identify)- e:A -(purchase)- a2 ; a2 also identify with phone p:A. A kiosk cookie k links e:A and
    # three other people's emails: with max_linked_keys=2 it is a super node and links nothing.
    _events(
        tmp_path,
        [
            {"t": "identify", "anonymous_id": "a1", "email_key": "v1:A"},
            {"t": "purchase", "anonymous_id": "a2", "email_key": "v1:A"},
            {"t": "identify", "anonymous_id": "a2", "phone_key": "v1:PA"},
            {"t": "page_view", "anonymous_id": "a3", "email_key": "v1:A"},  # not a linking event
            *({"t": "identify", "anonymous_id": "k", "email_key": e} for e in ("v1:A", "v1:B", "v1:C")),
            {"t": "identify", "anonymous_id": "b1", "email_key": "v1:B"},
        ],
    )
    found = linked_identifiers(Lake(str(tmp_path)), {("email_key", "v1:A")}, max_linked_keys=2)
    assert found == {
        ("email_key", "v1:A"),
        ("anonymous_id", "a1"),
        ("anonymous_id", "a2"),
        ("phone_key", "v1:PA"),
    }
    # Without the guard the kiosk joins everybody: the guard is what keeps B out.
    loose = linked_identifiers(Lake(str(tmp_path)), {("email_key", "v1:A")}, max_linked_keys=20)
    assert ("email_key", "v1:B") in loose and ("anonymous_id", "b1") in loose
    # A super node that is itself the request stays alone.
    assert linked_identifiers(Lake(str(tmp_path)), {("anonymous_id", "k")}, 2) == {("anonymous_id", "k")}


def test_legacy_rows_without_id_or_status_are_requests(tmp_path: Path) -> None:
    old = pa.schema([f for f in arrow_schema("erasure_request") if f.name not in ("request_id", "status")])
    path = tmp_path / "_erasure" / "requested_date=2026-01-02" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    at = datetime(2026, 1, 2, tzinfo=UTC)
    pq.write_table(
        pa.Table.from_pylist(
            [{"identifier_type": "anonymous_id", "identifier_value": "c9", "requested_at": at}], schema=old
        ),
        path,
    )
    (row,) = read_requests(Lake(str(tmp_path))).to_pylist()
    assert row["status"] == "requested" and row["request_id"].startswith("r-legacy-")
    assert read_requests(Lake(str(tmp_path))).to_pylist()[0]["request_id"] == row["request_id"]  # stable


def test_ingest_filter_drops_rows_and_masks_quarantine_text(tmp_path: Path) -> None:
    pseudo = Pseudonymiser()
    rows = [
        {"identifier_type": "email_key", "identifier_value": pseudo.key(RAW, "email")},
        {"identifier_type": "anonymous_id", "identifier_value": "ck-gone"},
        {"identifier_type": "advertising_id", "identifier_value": "maid-x"},
    ]
    schema = arrow_schema("erasure_request")
    at = datetime(2026, 1, 2, tzinfo=UTC)
    lake = Lake(str(tmp_path))
    lake.write_table(
        "_erasure/x/part-1.parquet", pa.Table.from_pylist([{**r, "requested_at": at} for r in rows], schema=schema)
    )
    filt = ErasureFilter.load(lake)
    assert filt is not None
    cols = {
        "anonymous_id": pa.array(["c1", "ck-gone", "c3", "c4", "c5"]),
        "email": pa.array([None, None, " secret.person@EXAMPLE.com", "other@example.com", None]),
        "advertising_id": pa.array([None, None, None, None, "MAID-X"]),
        "user_id": pa.array([None] * 5, pa.string()),
        "phone": pa.array([None] * 5, pa.string()),
    }
    kept, extra, lines, erased = filt.drop(
        cols, [None, None, None, {"a": "b"}, None], pa.array([1, 2, 3, 4, 5]), pseudo
    )
    assert erased == 3 and kept["anonymous_id"].to_pylist() == ["c1", "c4"]
    assert extra == [None, {"a": "b"}] and lines.to_pylist() == [1, 4]
    assert filt.redact('{"anonymous_id":"ck-gone","x":1}') == '{"anonymous_id":"***","x":1}'
    assert ErasureFilter.load(Lake(str(tmp_path / "empty"))) is None


def test_mailbox_is_one_gmail_inbox() -> None:
    assert mailbox(" J.o.h.n.Doe+Shop@GoogleMail.com ") == "johndoe@gmail.com"
    assert mailbox("john.doe@gmail.com") == mailbox("johndoe+x@gmail.com") == "johndoe@gmail.com"
    assert mailbox("john.doe@example.com") == "john.doe@example.com"  # other domains: dots are significant
    assert mailbox(".+x@gmail.com") is None and mailbox("not-an-email") is None
    assert mailbox_match_keys("john.doe@example.com") == []


def _identity(lake: Path, emails: list[str]) -> dict[str, str]:
    """An identity table holding ``emails`` the way ingest writes it; returns email -> email_key."""
    pseudo = Pseudonymiser()
    rows, keys = [], {}
    for email in emails:
        subject = pseudo.key(email, "email")
        assert subject is not None
        keys[email] = subject
        for mk in match_keys(email, None):
            rows.append(
                {"subject_key": subject, "key_type": mk.key_type, "platform": mk.platform, "match_key": mk.match_key}
            )
    path = lake / "identity" / "match_keys" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return keys


def test_erasing_a_gmail_address_erases_every_spelling_of_its_mailbox(tmp_path: Path, capsys: Any) -> None:
    same = ["john.doe@gmail.com", "j.o.h.n.doe+promo@gmail.com", "JohnDoe@googlemail.com", "john.doe@googlemail.com"]
    others = ["johndoe@example.com", "john.doe2@gmail.com", "jane.doe@gmail.com"]
    keys = _identity(tmp_path, same + others)
    assert retarget_main(["erase", "--lake", str(tmp_path), "--email", "JohnDoe@gmail.com"]) == 0
    assert "johndoe" not in capsys.readouterr().out.lower()
    requested = {r["identifier_value"] for r in read_requests(Lake(str(tmp_path))).to_pylist()}
    # The request's own key (no event with it yet) plus the four spellings already in the lake; nobody else.
    assert requested == {Pseudonymiser().key("johndoe@gmail.com", "email"), *(keys[e] for e in same)}
    # A spelling first seen after the request is dropped by the ingest filter (the mailbox pseudonym).
    filt = ErasureFilter.load(Lake(str(tmp_path)))
    assert filt is not None
    later = ["jo.hn.doe@gmail.com", "johndoe+new@googlemail.com", "john.doe3@gmail.com", "johndoe@example.com"]
    cols = {
        "anonymous_id": pa.array(["c1", "c2", "c3", "c4"]),
        "email": pa.array(later),
        **{c: pa.array([None] * 4, pa.string()) for c in ("advertising_id", "user_id", "phone")},
    }
    kept, _, _, erased = filt.drop(cols, [None] * 4, pa.array([1, 2, 3, 4]), Pseudonymiser())
    assert erased == 2 and kept["email"].to_pylist() == ["john.doe3@gmail.com", "johndoe@example.com"]
    # The mailbox file is not an erasure_request file (the segment build and apply never read it).
    boxes = [p for p in (tmp_path / "_erasure").rglob("*.parquet") if "_mailbox" in p.parts]
    assert len(boxes) == 1 and not layout.is_erasure_request(str(boxes[0].relative_to(tmp_path)))
    assert "johndoe" not in repr(pq.read_table(boxes[0]).to_pylist()).lower()


def test_a_non_gmail_request_records_no_mailbox(tmp_path: Path) -> None:
    _identity(tmp_path, ["john.doe@example.com", "johndoe@example.com"])
    assert retarget_main(["erase", "--lake", str(tmp_path), "--email", "john.doe@example.com"]) == 0
    (row,) = read_requests(Lake(str(tmp_path))).to_pylist()
    assert row["identifier_value"] == Pseudonymiser().key("john.doe@example.com", "email")
    assert not (tmp_path / "_erasure" / "_mailbox").exists()
