"""Data contracts: the JSON Schemas in ``schemas/`` and the pyarrow / Spark schemas derived from them.

The JSON Schema files are the single source of truth. Nothing here keeps a second copy of a field list:
``arrow_schema(name)`` and ``spark_schema(name)`` walk the same parsed :class:`Contract`.

Type mapping (JSON Schema -> logical type):

=============================================  ==========================  =======================
JSON Schema                                    pyarrow                     Spark
=============================================  ==========================  =======================
string                                         string                      StringType
string, format date-time                       timestamp[us, tz=UTC]       TimestampType
string, format date                            date32                      DateType
integer (``x-arrow-type`` int8/int32/int64)    int64 (or the override)     LongType / ByteType ...
number                                         float64                     DoubleType
number, ``x-logical-type: decimal(p,s)``       decimal128(p, s)            DecimalType(p, s)
boolean                                        bool                        BooleanType
array of T                                     list<T>                     ArrayType(T)
object with additionalProperties: string       map<string, string>         MapType(String, String)
=============================================  ==========================  =======================

A field is nullable unless it is listed in ``required``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from retarget_pipeline.errors import PermanentError

if TYPE_CHECKING:
    from pyspark.sql import types as T

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
_INT_TYPES = {"int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64()}


class ContractError(PermanentError, ValueError):
    """A schema file is not a valid contract; the message names the file and field."""


def schemas_dir() -> Path:
    """The ``schemas/`` folder: the repo's own in a checkout, the packaged copy in a wheel install."""
    repo = Path(__file__).resolve().parents[2] / "schemas"
    if repo.is_dir():
        return repo
    packaged = Path(__file__).resolve().parent / "_schemas"
    if packaged.is_dir():
        return packaged
    raise ContractError(f"schemas folder not found (looked in {repo} and {packaged})")


@dataclass(frozen=True)
class Field:
    """One field of a contract, with its JSON Schema fragment."""

    name: str
    json_type: str  # the non-null JSON type
    nullable: bool
    spec: dict[str, Any]

    @property
    def description(self) -> str:
        return str(self.spec.get("description", ""))

    @property
    def pii(self) -> str | None:
        value = self.spec.get("x-pii")
        return str(value) if value else None

    @property
    def enum(self) -> list[str] | None:
        values = self.spec.get("enum")
        return [str(v) for v in values if v is not None] if values else None


@dataclass(frozen=True)
class Contract:
    """A parsed contract: name, version, ordered fields and the raw JSON Schema."""

    name: str
    version: str
    path: Path
    fields: tuple[Field, ...]
    schema: dict[str, Any]

    @property
    def required(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if not f.nullable)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.path.name}: no field {name!r}")

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


def _split_type(path: Path, name: str, spec: dict[str, Any]) -> tuple[str, bool]:
    raw = spec.get("type")
    types = [raw] if isinstance(raw, str) else list(raw or [])
    non_null = [t for t in types if t != "null"]
    if len(non_null) != 1:
        raise ContractError(f"{path.name}: field {name!r}: expected one non-null 'type', got {raw!r}")
    return str(non_null[0]), "null" in types


def parse_contract(path: Path) -> Contract:
    """Parse one JSON Schema file into a :class:`Contract` (field order = file order)."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ContractError(f"{path}: cannot read contract: {exc}") from exc
    required = set(schema.get("required", []))
    props: dict[str, Any] = schema.get("properties") or {}
    unknown_required = required - set(props)
    if unknown_required:
        raise ContractError(f"{path.name}: 'required' names unknown fields {sorted(unknown_required)}")
    fields = []
    for name, spec in props.items():
        json_type, nullable_by_type = _split_type(path, name, spec)
        fields.append(Field(name, json_type, nullable=name not in required or nullable_by_type, spec=spec))
    version = str(schema.get("x-version") or "")
    if not version:
        raise ContractError(f"{path.name}: missing 'x-version'")
    stem = path.name.split(".")[0]
    return Contract(name=stem, version=version, path=path, fields=tuple(fields), schema=schema)


@cache
def load_contract(name: str, major: int = 1) -> Contract:
    """Load ``schemas/<name>.v<major>.schema.json``."""
    path = schemas_dir() / f"{name}.v{major}.schema.json"
    if not path.is_file():
        raise ContractError(f"unknown contract {name!r} v{major}: {path} does not exist")
    return parse_contract(path)


def _arrow_type(field_name: str, spec: dict[str, Any], json_type: str, where: str) -> pa.DataType:
    if json_type == "string":
        fmt = spec.get("format")
        if fmt == "date-time":
            return pa.timestamp("us", tz="UTC")
        if fmt == "date":
            return pa.date32()
        return pa.string()
    if json_type == "integer":
        override = spec.get("x-arrow-type", "int64")
        if override not in _INT_TYPES:
            raise ContractError(f"{where}: field {field_name!r}: unknown x-arrow-type {override!r}")
        return _INT_TYPES[override]
    if json_type == "number":
        logical = spec.get("x-logical-type")
        if logical:
            match = _DECIMAL.match(str(logical))
            if not match:
                raise ContractError(f"{where}: field {field_name!r}: bad x-logical-type {logical!r}")
            return pa.decimal128(int(match.group(1)), int(match.group(2)))
        return pa.float64()
    if json_type == "boolean":
        return pa.bool_()
    if json_type == "array":
        items = spec.get("items") or {}
        item_type, _ = _split_type(Path(where), f"{field_name}[]", items)
        return pa.list_(_arrow_type(f"{field_name}[]", items, item_type, where))
    if json_type == "object" and isinstance(spec.get("properties"), dict):  # a fixed record: struct
        members = []
        for name, member in spec["properties"].items():
            member_type, nullable = _split_type(Path(where), f"{field_name}.{name}", member)
            members.append(pa.field(name, _arrow_type(f"{field_name}.{name}", member, member_type, where), nullable))
        return pa.struct(members)
    if json_type == "object":
        values = spec.get("additionalProperties")
        if isinstance(values, dict) and values.get("type") == "string":
            return pa.map_(pa.string(), pa.string())
        raise ContractError(f"{where}: field {field_name!r}: only string->string maps are supported")
    raise ContractError(f"{where}: field {field_name!r}: unsupported type {json_type!r}")


def arrow_schema(name: str, major: int = 1) -> pa.Schema:
    """pyarrow schema derived from the contract, with field descriptions as metadata."""
    contract = load_contract(name, major)
    return pa.schema(
        [
            pa.field(
                f.name,
                _arrow_type(f.name, f.spec, f.json_type, contract.path.name),
                nullable=f.nullable,
                metadata={"description": f.description} if f.description else None,
            )
            for f in contract.fields
        ],
        metadata={"contract": contract.name, "contract_version": contract.version},
    )


def arrow_to_spark_type(dtype: pa.DataType) -> T.DataType:
    """Map an arrow type from :func:`arrow_schema` to its Spark type."""
    from pyspark.sql import types as T

    simple: dict[pa.DataType, T.DataType] = {
        pa.string(): T.StringType(),
        pa.bool_(): T.BooleanType(),
        pa.int8(): T.ByteType(),
        pa.int16(): T.ShortType(),
        pa.int32(): T.IntegerType(),
        pa.int64(): T.LongType(),
        pa.float64(): T.DoubleType(),
        pa.date32(): T.DateType(),
    }
    if dtype in simple:
        return simple[dtype]
    if pa.types.is_timestamp(dtype):
        return T.TimestampType()
    if pa.types.is_decimal(dtype):
        return T.DecimalType(dtype.precision, dtype.scale)
    if pa.types.is_list(dtype):
        return T.ArrayType(arrow_to_spark_type(dtype.value_type), containsNull=True)
    if pa.types.is_map(dtype):
        return T.MapType(arrow_to_spark_type(dtype.key_type), arrow_to_spark_type(dtype.item_type), True)
    if pa.types.is_struct(dtype):
        return T.StructType([T.StructField(f.name, arrow_to_spark_type(f.type), f.nullable) for f in dtype])
    raise ContractError(f"no Spark type for arrow type {dtype}")


def spark_schema(name: str, major: int = 1) -> T.StructType:
    """Spark StructType derived from the same contract (via the arrow schema, so both agree)."""
    from pyspark.sql import types as T

    return T.StructType(
        [
            T.StructField(
                f.name,
                arrow_to_spark_type(f.type),
                nullable=f.nullable,
                metadata={"comment": f.metadata[b"description"].decode()} if f.metadata else {},
            )
            for f in arrow_schema(name, major)
        ]
    )


def markdown_table(name: str, major: int = 1) -> str:
    """Field-by-field documentation table for a contract (used by the docs in ``schemas/README.md``)."""
    contract = load_contract(name, major)
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    for f in contract.fields:
        arrow_t = _arrow_type(f.name, f.spec, f.json_type, contract.path.name)
        extra = f" (allowed: {', '.join(f.enum)})" if f.enum else ""
        pii = f" **PII ({f.pii})**: raw only inbound." if f.pii else ""
        rows.append(f"| `{f.name}` | {arrow_t} | {'yes' if not f.nullable else 'no'} | {f.description}{extra}{pii} |")
    return "\n".join(rows)


DOCUMENTED_CONTRACTS: tuple[str, ...] = (
    "pixel_event",
    "lake_event",
    "identity_match_keys",
    "segment_membership",
    "segment_stats",
    "device_days",
    "identity_edges",
    "device_consent",
    "segment_lift",
    "segment_overlap",
)
_DOCS_BEGIN = "<!-- BEGIN GENERATED: python -m retarget_pipeline.contracts -->"
_DOCS_END = "<!-- END GENERATED -->"


def render_docs() -> str:
    """The generated part of ``schemas/README.md``: one field table per contract."""
    parts = [_DOCS_BEGIN]
    for name in DOCUMENTED_CONTRACTS:
        contract = load_contract(name)
        title = contract.schema.get("title", name)
        parts += [
            f"\n### {title} — `{contract.path.name}` (v{contract.version})\n",
            str(contract.schema.get("description", "")),
            "",
            markdown_table(name),
        ]
    parts.append(_DOCS_END)
    return "\n".join(parts) + "\n"


def update_docs(readme: Path) -> bool:
    """Rewrite the generated section of ``readme``; True if it changed."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(_DOCS_BEGIN), text.find(_DOCS_END)
    if start < 0 or end < 0:
        raise ContractError(f"{readme}: generated-section markers not found")
    new = text[:start] + render_docs().rstrip("\n") + text[end + len(_DOCS_END) :]
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    changed = update_docs(schemas_dir() / "README.md")
    print("schemas/README.md updated" if changed else "schemas/README.md already up to date")
