"""The event contract: one JSON Schema, from which the arrow and Spark schemas are derived."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from pyspark.sql import types as T

from retarget_pipeline import contracts

REQUIRED_FIELDS = {
    "event_id", "event_type", "event_time", "received_time", "anonymous_id", "user_id", "advertising_id",
    "email", "phone", "page_url", "referrer", "utm_source", "utm_medium", "utm_campaign", "product_id",
    "category", "price", "quantity", "currency", "order_id", "revenue", "campaign_id", "ad_id", "consent",
    "user_agent", "ip", "schema_version",
}  # fmt: skip


def test_pixel_contract_covers_every_field_the_product_needs() -> None:
    contract = contracts.load_contract("pixel_event")
    assert REQUIRED_FIELDS <= set(contract.names)
    assert contract.version == "1.1"  # 1.1: custom events (event_name, properties); anonymous_id or user_id
    assert contract.field("event_type").enum == [
        "page_view", "product_view", "add_to_cart", "remove_from_cart", "begin_checkout",
        "purchase", "ad_impression", "ad_click", "identify", "custom",
    ]  # fmt: skip
    assert contract.field("consent").enum == ["granted", "denied", "unknown"]
    assert {f.name for f in contract.fields if f.pii} == {"user_id", "email", "phone", "ip"}
    assert all(f.description for f in contract.fields), "every field is documented"


def test_arrow_schema_is_derived_with_the_expected_types() -> None:
    schema = contracts.arrow_schema("pixel_event")
    assert schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("event_time").nullable is False
    assert schema.field("price").type == pa.decimal128(18, 4)
    assert schema.field("quantity").type == pa.int64()
    assert schema.field("email").nullable is True
    assert schema.metadata[b"contract_version"] == b"1.1"


@pytest.mark.parametrize("name", ["pixel_event", "lake_event"])
def test_spark_and_arrow_schemas_agree_field_by_field(name: str) -> None:
    arrow = contracts.arrow_schema(name)
    spark = contracts.spark_schema(name)
    assert [f.name for f in arrow] == spark.fieldNames()
    expected_spark = {
        "string": T.StringType(), "timestamp[us, tz=UTC]": T.TimestampType(), "date32[day]": T.DateType(),
        "int64": T.LongType(), "int32": T.IntegerType(), "int8": T.ByteType(), "bool": T.BooleanType(),
        "decimal128(18, 4)": T.DecimalType(18, 4), "map<string, string>": T.MapType(T.StringType(), T.StringType()),
    }  # fmt: skip
    for af, sf in zip(arrow, spark.fields, strict=True):
        assert af.nullable == sf.nullable, af.name
        assert expected_spark[str(af.type)] == sf.dataType, af.name


def test_arrow_schema_matches_spark_roundtrip(spark) -> None:  # type: ignore[no-untyped-def]
    """Spark's own arrow conversion of the derived StructType gives back the derived arrow types."""
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = contracts.spark_schema("lake_event")
    roundtrip = to_arrow_schema(schema, timezone="UTC", prefers_large_types=False)
    derived = contracts.arrow_schema("lake_event")
    assert [(f.name, f.type) for f in roundtrip] == [(f.name, f.type) for f in derived]


def test_bad_contract_errors_name_the_file_and_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.v1.schema.json"
    bad.write_text(json.dumps({"x-version": "1", "properties": {"x": {"type": ["string", "integer"]}}}))
    with pytest.raises(contracts.ContractError, match=r"broken\.v1\.schema\.json: field 'x'"):
        contracts.parse_contract(bad)
    with pytest.raises(contracts.ContractError, match="unknown contract 'nope'"):
        contracts.load_contract("nope")


def test_schema_docs_are_generated_from_the_contracts() -> None:
    readme = (contracts.schemas_dir() / "README.md").read_text(encoding="utf-8")
    assert contracts.render_docs().strip() in readme, "run: python -m retarget_pipeline.contracts"
    assert "| `email` | string | no |" in readme
