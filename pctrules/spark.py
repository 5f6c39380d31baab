"""Scale-out stage: a bundle's decisions over a Spark DataFrame, by Arrow batches (`mapInArrow`).

    from pctrules import spark as pctrules_spark
    decided = pctrules_spark.decide(cases, data="/dbfs/pct-data", decisions=["responsible_pct"])
    cases.join(decided, "id")

The bundle and its data travel inside the function Spark ships to its workers, as a pack (the
files and their sha256s, checked on arrival: columns/pack.py), so no shared file system,
SparkContext or broadcast variable is needed: it runs the same on a laptop (`local[*]`), a
cluster, Spark Connect and Databricks serverless. Each Python worker opens the pack once and
keeps the engine for every later batch and task. Rows come out in each partition's order, not
the DataFrame's: join the result to the cases on `id`. Column names with dots, which
`mapInArrow` cannot take, are passed as `__` (`person.practice` → `person__practice`), and the
output's dotted names likewise (`responsible_pct__rule`).

pyspark is not a dependency of pctrules (Databricks brings its own); `pip install
'pctrules[spark]'` brings what this module needs besides it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pctrules.columns.decider import Decider

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_DECIDERS: dict[str, Decider] = {}
"""The deciders this Python process has opened, by pack and options: Spark reuses its Python
workers across tasks, so a worker unpacks and compiles the bundle once."""


def decide(
    df: DataFrame,
    *,
    bundle: str | Path | None = None,
    data: str | Path | None = None,
    decisions: Sequence[str] | None = None,
    as_of: dt.date | str | None = None,
    params: Mapping[str, object] | None = None,
) -> DataFrame:
    """Every row of `df` (one case per row: `id`, `date`, `person.practice` or a `person`
    struct, …) decided: a DataFrame of `id`, per decision `<decision>`, `<decision>__rule`,
    `<decision>__reason`, then `error` and `warnings`, one row per input row. Every column of
    `df` is read as a case field (select the case's columns first: a value in a column that is
    not a case field is that row's error, as in `pctrules batch`). The bundle is opened and
    checked here, on the driver; errors in it raise before Spark runs anything."""
    decider = Decider.open(bundle, data, decisions=decisions, as_of=as_of, params=params)
    return decide_with(df, decider)


def decide_with(df: DataFrame, decider: Decider) -> DataFrame:
    """`decide` with a Decider already opened (e.g. `Decider.from_pack`)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    names = list(df.columns)
    safe = [n.replace(".", "__") for n in names]
    if len(set(safe)) != len(safe):
        twice = next(s for s in safe if safe.count(s) > 1)
        raise ValueError(f"two columns name the case field '{twice.replace('__', '.')}'; keep one")
    out_schema = decider.output_schema()
    out_names = [n.replace(".", "__") for n in out_schema.names]
    spark_schema = from_arrow_schema(
        pa.schema([pa.field(name, f.type) for name, f in zip(out_names, out_schema, strict=True)])
    )
    pack = decider.pack()
    key = json.dumps(
        [
            hashlib.sha256(pack).hexdigest(),
            list(decider.decisions),
            None if decider.as_of is None else decider.as_of.isoformat(),
            decider.params,
        ],
        sort_keys=True,
        default=str,
    )
    options: dict[str, Any] = {
        "decisions": list(decider.decisions),
        "as_of": decider.as_of,
        "params": dict(decider.params),
    }

    def decide_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # Runs on the workers: everything it needs is in this closure (the pack included).
        d = worker_decider(key, pack, options)
        for batch in batches:
            yield d.decide_arrow(batch).rename_columns(out_names)

    selected = df.select([F.col(f"`{n}`").alias(s) for n, s in zip(names, safe, strict=True)])
    return selected.mapInArrow(decide_batches, spark_schema)


def worker_decider(key: str, pack: bytes, options: Mapping[str, Any]) -> Decider:
    """This process's Decider for a pack and options, opened on first use."""
    decider = _DECIDERS.get(key)
    if decider is None:
        decider = _DECIDERS[key] = Decider.from_pack(pack, **options)
    return decider
