"""Batch stage, Parquet: a Parquet file's rows as jobs in, a Parquet file out.

Input: the parent streams the file in batches of at most `ROWS_PER_JOB` rows, one job each,
which it hands to the workers (plan_parquet says why not slices of row groups read by the
workers themselves). Their columns are case fields as in the
columnar API (dotted, `__` or struct columns; a null is an absent value; values typed, as in
JSONL), decided by columns/core.py, whose rows the columns cannot vouch for go to the engine.

Output: the rows are rendered as JSONL (the same records as `--format jsonl`) and each chunk is
read back by Arrow's JSON reader against the output schema and written as a row group, so a
Parquet output holds exactly what the JSONL output would: `id`; per decision its value (a node's
code as text, a set's codes as a list of text, a date as ISO text), rule and reason; `error` and
`warnings` (text, or null).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from pctrules.batch.io import Job, input_error, repeated_columns
from pctrules.columns.core import field_paths
from pctrules.columns.decider import value_type
from pctrules.evaluation.engine import Engine

ROWS_PER_JOB = 1 << 16


def column_names(path: Path) -> list[str]:
    """The case field each column of a Parquet file names, dotted (as a CSV header names them),
    read from its footer; a file that is not Parquet is a whole-input problem (exit 5)."""
    try:
        schema = pq.ParquetFile(path).schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise input_error(
            f"'{path}' cannot be read as Parquet: {_reason(exc)}",
            help="give a Parquet file, or name its format with --input-format",
        ) from None
    names = [".".join(p) for p in field_paths(schema)]
    for name, at in repeated_columns(names).items():
        # A Parquet file has one schema for every row: two columns for one field are refused
        # whole (as the columnar API does), where a CSV row may leave one of them empty.
        raise input_error(
            f"{len(at)} columns of '{path}' name the case field '{name}' "
            f"(columns {' and '.join(str(i + 1) for i in at)}); keep one",
            help="write each field once: dotted, with '__', or in a struct",
        )
    return names


def _reason(exc: Exception) -> str:
    """Arrow's message, as one lower-case phrase (its first sentence)."""
    text = " ".join(str(exc).split()).split(". ")[0].rstrip(".")
    return text[:1].lower() + text[1:] if text else "not a Parquet file"


def plan_parquet(path: Path) -> Iterator[Job]:
    """Jobs of at most ROWS_PER_JOB rows each, in order, read here, in the parent, by Arrow's
    streaming reader (each job carries its rows to a worker): a worker that read its own slice
    would decode its whole row group to get it (a row group is often a million rows), so memory
    and work would grow with the row groups. `length`, the job's share of the file's bytes, is
    for the progress bar. (The file's footer was read before the run: column_names.)"""
    f = pq.ParquetFile(path)
    size = max(os.path.getsize(path), 1)
    total = max(f.metadata.num_rows, 1)
    row = 0
    for seq, batch in enumerate(f.iter_batches(batch_size=ROWS_PER_JOB, use_threads=False)):
        yield Job(seq, row, 0, size * batch.num_rows // total, batch.num_rows, batch=batch)
        row += batch.num_rows


def output_schema(engine: Engine, decisions: list[str]) -> pa.Schema:
    """The Parquet output's columns, as the JSONL records hold them."""
    checked = {d.name: d.checked for d in engine.compiled.decisions}
    fields = [pa.field("id", pa.string())]
    for name in decisions:
        t = value_type(checked[name], engine.checked)
        if pa.types.is_date(t):
            t = pa.string()  # ISO text, as in JSONL
        fields += [
            pa.field(name, t),
            pa.field(f"{name}.rule", pa.string()),
            pa.field(f"{name}.reason", pa.string()),
        ]
    return pa.schema([*fields, pa.field("error", pa.string()), pa.field("warnings", pa.string())])


def holds_mappings(engine: Engine, decisions: list[str]) -> str | None:
    """A decision whose values are mappings (a `for:` over a set of subjects), which JSONL
    writes as objects and a Parquet column of text cannot hold; None when there is none."""
    for d in engine.compiled.decisions:
        subject = d.checked.subject
        if d.name in decisions and subject is not None:
            subjects = engine.checked.type_of(subject.collection)
            if subjects is None or subjects.is_set:
                return d.name
    return None


class ParquetSink:
    """Writes JSONL chunks as row groups of a Parquet file through `out.write` (the atomic
    output, which names the file when a write fails)."""

    def __init__(self, out: Any, schema: pa.Schema) -> None:
        self.schema = schema
        self.through = _Through(out)
        self.writer = pq.ParquetWriter(self.through, schema)
        self.parse = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")

    def write(self, data: bytes) -> None:
        if not data:
            return
        table = pa_json.read_json(
            io.BytesIO(data),
            parse_options=self.parse,
            read_options=pa_json.ReadOptions(
                use_threads=False, block_size=max(len(data) + 1, 1 << 20)
            ),
        )
        self.writer.write_table(table.select(self.schema.names).cast(self.schema))

    def close(self) -> None:
        self.writer.close()

    def abandon(self) -> None:
        """Close the writer with its footer going nowhere: the run stopped, the output is not
        written (and a writer left open would try to finish the file when collected)."""
        self.through.out = None
        self.writer.close()


class _Through:
    """A binary file for Arrow's writer whose bytes go to `out.write`."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.position = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        if self.out is not None:
            self.out.write(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True
