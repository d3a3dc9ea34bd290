"""``RETARGET_SPARK_CONF`` files are read like spark-defaults.conf: the key ends at the first blank or '=', the
value is the rest of the line (it may hold '=' itself, as JVM options do)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retarget_pipeline.spark import read_conf_file


def test_values_may_contain_equals_signs(tmp_path: Path) -> None:
    conf = tmp_path / "spark.conf"
    conf.write_text(
        "# comment\n"
        "\n"
        "spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -Duser.timezone=UTC\n"
        "spark.sql.shuffle.partitions=2\n"
        "spark.driver.memory = 512m\n"
        "spark.eventLog.dir\tfile:///tmp/a=b\n"
        "spark.app.name   two  words  \n",
        encoding="utf-8",
    )
    assert read_conf_file(conf) == {
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -Duser.timezone=UTC",
        "spark.sql.shuffle.partitions": "2",
        "spark.driver.memory": "512m",
        "spark.eventLog.dir": "file:///tmp/a=b",
        "spark.app.name": "two  words",
    }


@pytest.mark.parametrize("line", ["spark.driver.memory", "spark.driver.memory =", "spark.driver.memory=  "])
def test_a_key_without_a_value_names_the_line(line: str, tmp_path: Path) -> None:
    conf = tmp_path / "spark.conf"
    conf.write_text(f"spark.sql.shuffle.partitions 2\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"spark\.conf:2: expected 'key value'"):
        read_conf_file(conf)
