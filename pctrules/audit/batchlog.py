"""Audit stage, batch: audit records from a finished batch run's input and output rows.

`pctrules batch --audit FILE` decides as usual, then reads its input the way batch reads it
(batch/io.py: the same rows, in the same order) beside the output it wrote (one row per input
row, in input order: batch's contract), and turns each pair into a record. Nothing in batch
itself changes, and replay rebuilds the records of a re-run the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np

from pctrules.audit.records import (
    canonical_json,
    decisions_text,
    jopt,
    jstr,
)
from pctrules.batch.io import (
    FORMULA_START,
    FieldClash,
    detect_format,
    jsonl_start,
    nested,
    parse_csv,
    parse_jsonl,
    plan_jobs,
    read_header,
    read_job,
)
from pctrules.batch.run import BatchOptions
from pctrules.evaluation.engine import Engine
from pctrules.jsonlines import json_text
from pctrules.language.check.types import is_node
from pctrules.language.schema import Type

Row = tuple[str | None, str, str | None]
"""A row of input: the id it gives (as JSON text), the case as canonical JSON, its date cell."""


def input_rows(path: Path, fmt: str | None = None) -> Iterator[Row]:
    """Each row of a batch input as batch reads it: the id it gives (JSON text), the case as
    canonical JSON (nested by field, empty CSV cells left out; an unreadable JSON line as
    `{"line": text}`), and its date cell."""
    if detect_format(path, fmt) == "jsonl":
        for job in plan_jobs(path, jsonl_start(path), "jsonl"):
            data = read_job(path, job)
            # No field gets a column: each row keeps what it gives, in its own order.
            chunk = parse_jsonl(data, frozenset())
            lines: list[str] | None = None  # the text of each line, for those that fail
            for r in range(chunk.n):
                given = chunk.loose.get(r, [])
                try:
                    raw = (
                        None
                        if r in chunk.errors
                        else nested([p for p, _ in given], [v for _, v in given], False)
                    )
                except FieldClash:
                    raw = None
                if raw is None:
                    lines = _text_lines(data) if lines is None else lines
                    yield None, canonical_json({"line": lines[r] if r < len(lines) else ""}), None
                    continue
                case_id, date = raw.get("id"), raw.get("date")
                yield (
                    jstr(case_id)
                    if isinstance(case_id, str) and case_id
                    else jstr(str(case_id))
                    if isinstance(case_id, int) and not isinstance(case_id, bool)
                    else None,
                    canonical_json(raw),
                    date if isinstance(date, str) else None,
                )
        return
    head = read_header(path)
    for job in plan_jobs(path, head.data_offset, "csv"):
        block = None if job.rows is not None else read_job(path, job)
        chunk = parse_csv(block, job.rows, job.quoted, head.columns, job.unreadable)
        yield from _csv_rows(chunk.paths, chunk.columns, chunk.n)


def _csv_rows(
    paths: Sequence[tuple[str, ...]],
    columns: Sequence[list[object]],
    n: int,
) -> Iterator[Row]:
    """A CSV chunk's rows as canonical JSON, built by columns: each distinct cell escaped once,
    the rows of each pattern of empty cells filled into one template."""
    order = sorted(range(len(paths)), key=lambda i: paths[i])
    escaped = []
    present = np.zeros(n, dtype=np.int64)
    ids: list[str | None] = [None] * n
    for bit, i in enumerate(order):
        column = columns[i]
        escaped.append(_escaped(column))  # type: ignore[arg-type]
        present |= np.array(list(map(bool, column)), dtype=np.int64) << bit
        if paths[i] == ("id",):
            ids = [e if c else None for e, c in zip(escaped[-1], column, strict=True)]
    masks = np.unique(present).tolist()
    if len(masks) == 1:
        texts = _fill(escaped, masks[0], paths, order, None)
    else:
        texts = [""] * n
        for mask in masks:
            rows = np.flatnonzero(present == mask).tolist()
            for r, text in zip(rows, _fill(escaped, mask, paths, order, rows), strict=True):
                texts[r] = text
    dates = _column(paths, columns, ("date",), n)
    return zip(ids, texts, dates, strict=True)


def _escaped(column: list[str]) -> list[str]:
    """Each cell as a JSON string; the usual plain cells by one check over the whole column."""
    joined = "\x1f".join(column)
    if (
        joined.isascii()
        and '"' not in joined
        and "\\" not in joined
        and joined.replace("\x1f", "").isprintable()
    ):
        return list(map('"{}"'.format, column))
    table = {v: jstr(v) for v in set(column)}
    return list(map(table.__getitem__, column))


def _fill(
    escaped: list[list[str]],
    mask: int,
    paths: Sequence[tuple[str, ...]],
    order: list[int],
    rows: list[int] | None,
) -> list[str]:
    """The JSON text of the rows (all when None) whose present cells are those of `mask`."""
    keep = [b for b in range(len(order)) if mask >> b & 1]
    template = _template([paths[order[b]] for b in keep])
    cells = [escaped[b] if rows is None else [escaped[b][r] for r in rows] for b in keep]
    if not cells:
        return ["{}"] * (len(escaped[0]) if rows is None and escaped else len(rows or ()))
    return list(map(template.__mod__, zip(*cells, strict=True)))


def _column(
    paths: Sequence[tuple[str, ...]], columns: Sequence[list[object]], path: tuple[str, ...], n: int
) -> list[str | None]:
    for p, c in zip(paths, columns, strict=True):
        if p == path:
            return [v if isinstance(v, str) and v else None for v in c]
    return [None] * n


def _template(paths: Sequence[tuple[str, ...]]) -> str:
    """A %-template of the nested JSON object holding these fields (sorted), one `%s` each."""
    tree: dict[str, object] = {}
    for p in paths:
        node = tree
        for key in p[:-1]:
            node = node.setdefault(key, {})  # type: ignore[assignment]
        node[p[-1]] = None

    def render(node: dict[str, object]) -> str:
        return (
            "{"
            + ",".join(
                jstr(k).replace("%", "%%") + ":" + ("%s" if v is None else render(v))  # type: ignore[arg-type]
                for k, v in sorted(node.items())
            )
            + "}"
        )

    return render(tree)


def _text_lines(data: bytes) -> list[str]:
    """A JSONL block's lines as batch splits them (LF or CRLF ends a line)."""
    text = data.decode("utf-8", errors="surrogateescape").replace("\r\n", "\n")
    return text.removesuffix("\n").split("\n")


def _plain(cell: str) -> str:
    """A CSV output cell as the value it stands for: batch puts `'` before a leading formula
    character (spreadsheet safety), so it is taken off again."""
    if cell.startswith("'") and cell[1:2] and cell[1:2] in FORMULA_START:
        return cell[1:]
    return cell


class _Values:
    """Output cells back to the JSON a record holds, by each decision's output type."""

    def __init__(self, t: Type, mapping: bool) -> None:
        self.t = t
        self.mapping = mapping  # a `for:` decision over a set subject gives a mapping

    def from_cell(self, cell: str) -> str:
        t = self.t
        if self.mapping and cell.startswith("{"):
            return canonical_json(json.loads(cell))
        if cell == "":
            return "[]" if t.is_set else "null"
        if t.is_set:
            return json_text(sorted(cell.split(" ")))
        if is_node(t) or t.base in ("string", "date"):
            return jstr(cell)
        if t.base == "bool":
            return cell
        if t.base == "int":
            return str(int(cell))
        if t.base == "number":
            return json_text(float(cell) if any(c in cell for c in ".eEn") else int(cell))
        return jstr(cell)

    @staticmethod
    def from_json(value: object) -> str:
        if isinstance(value, Mapping):
            return canonical_json(value)
        return json_text(value)


def output_rows(
    path: Path,
    fmt: str | None,
    decisions: Sequence[str],
    engine: Engine,
) -> Iterator[tuple[str, str, str | None, str]]:
    """Each row of a batch output: (its id as written, the record's `decisions` text, its
    error, its warnings as JSON text, or `null` when the output has no warnings column)."""
    checked = {d.spec.name: d for d in engine.checked.decisions}
    values = {n: _Values(checked[n].output, checked[n].subject is not None) for n in decisions}
    memo: dict[object, str] = {}
    if detect_format(path, fmt) == "jsonl":
        with path.open(encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                obj: dict[str, Any] = json.loads(line)
                cells = tuple(
                    (_Values.from_json(obj.get(n)), obj.get(f"{n}.rule"), obj.get(f"{n}.reason"))
                    for n in decisions
                )
                text = memo.get(cells)
                if text is None:
                    text = memo[cells] = decisions_text(decisions, cells)
                warnings = obj.get("warnings")
                yield (
                    str(obj.get("id")),
                    text,
                    obj.get("error"),
                    "null" if "warnings" not in obj else json_text(_warnings(warnings)),
                )
        return
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as f:
        lines = iter(f)
        columns = next(csv.reader(lines), [])
        at = {c: i for i, c in enumerate(columns)}
        picks = [(at[n], at[f"{n}.rule"], at[f"{n}.reason"]) for n in decisions]
        flat = [i for p in picks for i in p]
        error_at, warnings_at = at.get("error"), at.get("warnings")
        # Batch writes the id, the decision cells side by side, then the error (and warnings):
        # a line without quotes is cut with two string splits, and its decision cells looked
        # up whole (a decision has few distinct results).
        plain = flat == list(range(1, len(flat) + 1)) and error_at == len(flat) + 1
        tail = len(columns) - len(flat) - 1

        def render(row: Sequence[str]) -> str:
            return decisions_text(
                decisions,
                [
                    (
                        values[n].from_cell(_plain(row[v])),
                        _plain(row[r]) or None,
                        _plain(row[why]) or None,
                    )
                    for n, (v, r, why) in zip(decisions, picks, strict=True)
                ],
            )

        for line in lines:
            if plain and '"' not in line:
                case_id, rest = line.rstrip("\r\n").split(",", 1)
                segment, *after = rest.rsplit(",", tail)
                text = memo.get(segment)
                if text is None:
                    text = memo[segment] = render(["", *segment.split(",")])
                error = after[0]
                warnings = "null" if warnings_at is None else json_text(_warnings(_plain(after[1])))
                yield case_id, text, _plain(error) if error else None, warnings
                continue
            # A quoted cell (it may hold a line end): the csv module reads the whole record.
            row = next(csv.reader(itertools.chain([line], lines)))
            key = tuple(row[i] for i in flat)  # not a str: never a plain line's segment
            text = memo.get(key)
            if text is None:
                text = memo[key] = render(row)
            error = row[error_at] if error_at is not None else ""
            warnings = (
                "null" if warnings_at is None else json_text(_warnings(_plain(row[warnings_at])))
            )
            yield row[0], text, _plain(error) if error else None, warnings


def _warnings(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(w) for w in value]
    if isinstance(value, str) and value:
        return value.split("; ")
    return []


def batch_bodies(
    engine: Engine,
    input_path: Path,
    in_fmt: str | None,
    output_path: Path,
    out_fmt: str | None,
    decisions: Sequence[str],
    as_of: dt.date | None,
    record_inputs: bool,
) -> Iterator[str]:
    """The record of each row of a batch run, in order (the same text `evaluate --audit`
    gives the same case)."""
    days: dict[str | None, str] = {}
    fixed = None if as_of is None else jstr(as_of.isoformat())
    rows = input_rows(input_path, in_fmt)
    outs = output_rows(output_path, out_fmt, decisions, engine)
    # record_body's text, inline: this runs once per row of files of millions.
    for seq, ((raw_id, given, date), (out_id, text, error, warnings)) in enumerate(
        zip(rows, outs, strict=True), start=1
    ):
        day = fixed or days.get(date)
        if day is None:
            day = days[date] = jopt(_iso(date))
        digest = sha256(given.encode("utf-8", "surrogatepass")).hexdigest()
        case = raw_id or jstr(_plain(out_id))
        body = (
            f'{{"seq":{seq},"case":{case},"input":"sha256:{digest}",'
            f'"as_of":{day},"decisions":{text},"warnings":{warnings},'
            f'"error":{"null" if error is None else jstr(error)}'
        )
        yield f'{body},"case_input":{given}}}' if record_inputs else body + "}"


def _iso(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat() if len(text) == 10 else None
    except ValueError:
        return None


def audit_batch(path: Path, record_inputs: bool, engine: Engine, opts: BatchOptions) -> str:
    """Append the audit run of a finished batch run to `path`; what it says on stderr."""
    from pctrules.audit.records import AuditWriter
    from pctrules.audit.write import input_entry, run_header

    decisions = list(dict.fromkeys(opts.decisions)) or [d.name for d in engine.compiled.decisions]
    in_fmt = detect_format(opts.input, opts.in_format)
    head = run_header(
        engine,
        command="batch",
        bundle_arg=opts.bundle,
        decisions=decisions,
        params=opts.params,
        as_of=opts.as_of,
        inputs=[input_entry(str(opts.input), in_fmt)],
        inputs_recorded=record_inputs,
    )
    # Replay writes its output the same way: CSV cells and JSON values differ (an empty set).
    head["output_format"] = detect_format(opts.output, opts.out_format)
    writer = AuditWriter(path, head)
    try:
        for body in batch_bodies(
            engine,
            opts.input,
            in_fmt,
            opts.output,
            opts.out_format,
            decisions,
            opts.as_of,
            record_inputs,
        ):
            writer.add(body)
    except BaseException:
        writer.abandon()
        raise
    return writer.close().line()
