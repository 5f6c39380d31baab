"""Audit stage, records: one self-checking record per decided case, in an append-only file.

An audit file (JSON Lines) holds runs. A run is a header (what decided: bundle, data, version,
options), one record per case, in input order, and an end line with the record count::

    {"audit":"pctrules-audit/1","created":…,"command":"batch",…,"prev":"","chain":"sha256:…"}
    {"seq":1,"case":"c1","input":"sha256:…","as_of":"2011-09-01","decisions":{…},…,"chain":"…"}
    {"end":1,"chain":"sha256:…"}

Every line ends with `"chain"`: the sha256 of the previous line's chain, a newline, and this
line without its chain. A record edited, deleted, inserted or moved breaks the chain where it
happened, and the `seq` numbers say which record is missing; a run cut short has no end line.
What a chain cannot show is the loss of the file's last lines together with their end line:
keep the final chain each run prints (or the file's size) somewhere else to detect that.

Parquet (`--audit FILE.parquet`, needs pyarrow): one run per file, the header in the file's
metadata, a row per record with the same chain computed over the same record text; the
decision columns hold each value as JSON text.

Writing and reading the format change together, so both are here (over 500 lines for that).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from pctrules.jsonlines import json_text

FORMAT = "pctrules-audit/1"
_CHAIN_KEY = ',"chain":"sha256:'
_SUFFIX = len(_CHAIN_KEY) + 64 + 2  # ,"chain":"sha256:<64 hex>"}


class AuditError(Exception):
    """An audit file that cannot be written to or read as one (a usage problem, exit 2)."""


# -- record text ----------------------------------------------------------------------------


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces, one line: the form a case input is hashed in."""
    return json_text(_sorted(value))


def _sorted(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def input_hash(case_input: object) -> str:
    """The hash a record gives its case's input: sha256 of the input as canonical JSON (the
    case as its file gave it, nested by field; a CSV row's empty cells left out)."""
    return (
        "sha256:"
        + hashlib.sha256(
            canonical_json(case_input).encode("utf-8", errors="surrogatepass")
        ).hexdigest()
    )


def jstr(text: str) -> str:
    """A JSON string, fast for the usual plain text (codes, ids, rule names)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json_text(text)


def jopt(text: str | None) -> str:
    return "null" if text is None else jstr(text)


def decisions_text(
    names: Sequence[str],
    results: Sequence[tuple[str, str | None, str | None]],
) -> str:
    """The `decisions` object of a record: for each decision, in the run's order, its value
    (given as JSON text), rule and reason: `{"responsible_pct":["5NT","registered-practice",
    "1"],…}`."""
    return (
        "{"
        + ",".join(
            f"{jstr(n)}:[{v},{jopt(r)},{jopt(why)}]"
            for n, (v, r, why) in zip(names, results, strict=True)
        )
        + "}"
    )


def record_body(
    seq: int,
    case_id: str,
    digest: str,
    as_of: str | None,
    decisions: str,
    warnings: str,
    error: str | None,
    case_input: str | None,
) -> str:
    """A record's text without its chain. `decisions`, `warnings` and `case_input` are JSON
    text already (`warnings` is `null` when the run could not know them)."""
    text = (
        f'{{"seq":{seq},"case":{jstr(case_id)},"input":"{digest}","as_of":{jopt(as_of)},'
        f'"decisions":{decisions},"warnings":{warnings},"error":{jopt(error)}'
    )
    if case_input is not None:
        text += f',"case_input":{case_input}'
    return text + "}"


def link(prev: str, body: str) -> str:
    """The chain of a line: sha256 over the previous line's chain, a newline and the body."""
    data = f"{prev}\n{body}".encode("utf-8", errors="surrogatepass")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def seal(prev: str, body: str) -> tuple[str, str]:
    """The line for `body` (a JSON object's text) with its chain added last, and the chain."""
    chain = link(prev, body)
    return f'{body[:-1]},"chain":"{chain}"}}', chain


def unseal(line: str) -> tuple[str, str] | None:
    """A line's body and the chain it claims; None when it does not end with a chain."""
    if len(line) <= _SUFFIX or line[-_SUFFIX:-66] != _CHAIN_KEY or not line.endswith('"}'):
        return None
    return line[:-_SUFFIX] + "}", line[-_SUFFIX + 10 : -2]


# -- writing ----------------------------------------------------------------------------------


def header(
    provenance: Mapping[str, object],
    *,
    command: str,
    decisions: Sequence[str],
    parameters: Mapping[str, object],
    as_of: dt.date | None,
    inputs: Sequence[Mapping[str, object]],
    inputs_recorded: bool,
    outputs: Mapping[str, str],
    created: dt.datetime | None = None,
) -> dict[str, object]:
    """A run's header: format, when, the command and its options, and the provenance."""
    stamp = (created or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    return {
        "audit": FORMAT,
        "created": stamp.isoformat().replace("+00:00", "Z"),
        "command": command,
        **provenance,
        "parameters": {k: _sorted(v) for k, v in parameters.items()},
        "as_of": None if as_of is None else as_of.isoformat(),
        "decisions": {name: outputs.get(name, "") for name in decisions},
        "inputs": [dict(i) for i in inputs],
        "inputs_recorded": inputs_recorded,
    }


@dataclass
class Sealed:
    """What a finished run wrote: its records and the last chain (print it; keep it)."""

    path: Path
    records: int
    chain: str

    def line(self) -> str:
        """What the command says on stderr: how many records, where, and the last chain."""
        counted = f"{self.records:,} record" + ("" if self.records == 1 else "s")
        return f"audit: {counted} appended to '{self.path}' (chain {self.chain})"


class AuditWriter:
    """Appends one run to an audit file: its header now, records as they come, the end line on
    `close`. JSON Lines, or Parquet when the file name ends in `.parquet`."""

    def __init__(self, path: Path, head: Mapping[str, object]) -> None:
        self.path = path
        self.parquet = path.suffix.lower() == ".parquet"
        self.records = 0
        self._rows: list[tuple[int, str]] = []
        if self.parquet:
            _need_pyarrow()
            if path.exists():
                raise AuditError(
                    f"the Parquet audit file '{path}' exists; Parquet files cannot "
                    "be appended to: name a new file, or use a .jsonl audit file"
                )
            self.head = dict(head, prev="")
            self.chain = link("", json_text(self.head))
            self._file: BinaryIO | None = None
            return
        prev = last_chain(path)
        self.head = dict(head, prev=prev)
        try:
            self._file = path.open("ab")
        except OSError as exc:
            raise AuditError(
                f"cannot write the audit file '{path}': {(exc.strerror or 'error').lower()}"
            ) from None
        line, self.chain = seal(prev, json_text(self.head))
        self._buffer: list[str] = [line]

    def add(self, body: str) -> None:
        """Add a record (its text from `record_body`, with the next `seq`)."""
        self.records += 1
        if self.parquet:
            self._rows.append((self.records, body))
            self.chain = link(self.chain, body)
            return
        line, self.chain = seal(self.chain, body)
        self._buffer.append(line)
        if len(self._buffer) >= 4096:
            self._flush()

    def _flush(self) -> None:
        assert self._file is not None
        self._file.write(("\n".join(self._buffer) + "\n").encode("utf-8", "surrogatepass"))
        self._buffer = []

    def close(self) -> Sealed:
        if self.parquet:
            end_chain = link(self.chain, f'{{"end":{self.records}}}')
            _write_parquet(self.path, self.head, self._rows, end_chain)
            return Sealed(self.path, self.records, end_chain)
        line, self.chain = seal(self.chain, f'{{"end":{self.records}}}')
        self._buffer.append(line)
        self._flush()
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return Sealed(self.path, self.records, self.chain)

    def abandon(self) -> None:
        """Stop without an end line (the run did not finish: replay will say so)."""
        if self._file is not None:
            self._flush()
            self._file.close()


def check_appendable(path: Path) -> None:
    """AuditError unless a run can be appended to `path` (new, or an audit file whose last run
    ended; a Parquet file must be new, and needs pyarrow)."""
    if path.suffix.lower() == ".parquet":
        _need_pyarrow()
        if path.exists():
            raise AuditError(
                f"the Parquet audit file '{path}' exists; Parquet files cannot "
                "be appended to: name a new file, or use a .jsonl audit file"
            )
        return
    last_chain(path)


def last_chain(path: Path) -> str:
    """The chain the next run of an existing audit file continues from ('' for a new file);
    AuditError when the file is not an audit file or its last run did not end."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return ""
    if size == 0:
        return ""
    with path.open("rb") as f:
        f.seek(max(0, size - 4096))
        tail = f.read().decode("utf-8", errors="replace")
    last = tail.rstrip("\n").rsplit("\n", 1)[-1]
    sealed = unseal(last)
    if sealed is None or not sealed[0].startswith('{"end":'):
        raise AuditError(
            f"'{path}' does not end with the end line of an audit run; it is not "
            "an audit file, or its last run did not finish: name another file"
        )
    return sealed[1]


# -- reading ----------------------------------------------------------------------------------


@dataclass
class Problem:
    """A line of an audit file that is not as written: edited, out of place, missing."""

    line: int
    message: str
    seq: int | None = None
    case: str | None = None


@dataclass
class Run:
    """One run of an audit file: its header, where its records are, and whether it ended."""

    header: dict[str, Any]
    first_line: int  # line number of the header (1-based)
    offset: int  # byte offset of its first record
    records: int = 0
    ended: bool = False
    end_count: int | None = None


@dataclass
class AuditFile:
    """The runs of an audit file and everything wrong with its lines."""

    path: Path
    runs: list[Run] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class Visitor(Protocol):
    """Told of each run of an audit file as `scan` reads it: replay decides as it reads."""

    def start(self, run: Run) -> None: ...

    def record(self, body: str, seq: int | None) -> None: ...

    def finish(self, run: Run) -> None: ...


def scan(path: Path, visitor: Visitor | None = None) -> AuditFile:
    """Read an audit file once, checking every line's chain and each run's numbering, and
    telling `visitor` of each run and record on the way."""
    if path.suffix.lower() == ".parquet":
        return _scan_parquet(path, visitor)
    out = AuditFile(path)
    prev = ""
    run: Run | None = None
    expected = 1
    offset = 0
    try:
        f = path.open("rb")
    except OSError as exc:
        raise AuditError(
            f"cannot read the audit file '{path}': {(exc.strerror or 'error').lower()}"
        ) from None
    with f:
        for number, raw in enumerate(f, start=1):
            offset += len(raw)
            line = raw.decode("utf-8", errors="surrogatepass").rstrip("\n")
            sealed = unseal(line)
            if sealed is None:
                out.problems.append(
                    Problem(number, "the line has no chain: it was added or edited by hand")
                )
                continue
            body, chain = sealed
            if link(prev, body) != chain:
                out.problems.append(_broken(number, body, prev == ""))
            prev = chain
            if body.startswith('{"audit":'):
                if run is not None and not run.ended:
                    out.problems.append(
                        Problem(
                            run.first_line,
                            "this run has no end line: it "
                            "did not finish, or its last records were cut",
                        )
                    )
                    if visitor is not None:
                        visitor.finish(run)
                try:
                    head = json.loads(body)
                except ValueError:
                    head = {}
                run = Run(head, number, offset)
                out.runs.append(run)
                expected = 1
                if visitor is not None:
                    visitor.start(run)
            elif body.startswith('{"end":'):
                if run is None or run.ended:
                    continue
                run.ended = True
                if visitor is not None:
                    visitor.finish(run)
                run.end_count = _int_after(body, '{"end":')
                if run.end_count != run.records:
                    out.problems.append(
                        Problem(
                            number,
                            f"the run says it wrote "
                            f"{run.end_count} records; {run.records} are "
                            "here",
                        )
                    )
            elif run is None:
                out.problems.append(Problem(number, "a record before any run header"))
            else:
                run.records += 1
                seq = _int_after(body, '{"seq":')
                if seq is not None and seq != expected:
                    what = (
                        f"records {expected}–{seq - 1} are missing"
                        if seq > expected
                        else f"record {seq} is out of place (expected {expected})"
                    )
                    out.problems.append(Problem(number, what, seq))
                expected = (seq or expected) + 1
                if visitor is not None:
                    visitor.record(body, seq)
    if run is not None and not run.ended:
        out.problems.append(
            Problem(
                run.first_line,
                "this run has no end line: it did not finish, or its last records were cut",
            )
        )
        if visitor is not None:
            visitor.finish(run)
    if not out.runs and not out.problems:
        out.problems.append(Problem(0, "the file holds no audit run"))
    return out


def _broken(number: int, body: str, first: bool) -> Problem:
    seq = _int_after(body, '{"seq":')
    case = None
    if seq is not None:
        try:
            case = str(json.loads(body).get("case"))
        except ValueError:
            case = None
    what = "the record" if seq is not None else "the line"
    return Problem(
        number,
        f"{what} does not follow the line before it: it was edited, or a line "
        "before it was deleted, inserted or moved",
        seq,
        case,
    )


def _int_after(body: str, prefix: str) -> int | None:
    if not body.startswith(prefix):
        return None
    digits = body[len(prefix) : len(prefix) + 20].split(",", 1)[0].split("}", 1)[0]
    return int(digits) if digits.isdigit() else None


def records(path: Path, run: Run) -> Iterator[tuple[int, str]]:
    """A run's records as (line number, body), in file order."""
    if path.suffix.lower() == ".parquet":
        yield from _parquet_records(path)
        return
    with path.open("rb") as f:
        f.seek(run.offset)
        for number, raw in enumerate(f, start=run.first_line + 1):
            line = raw.decode("utf-8", errors="surrogatepass").rstrip("\n")
            sealed = unseal(line)
            body = sealed[0] if sealed is not None else line
            if body.startswith('{"end":') or body.startswith('{"audit":'):
                return
            yield number, body


# -- Parquet ----------------------------------------------------------------------------------


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise AuditError(
            "a Parquet audit file needs pyarrow: pip install pyarrow (or name a .jsonl audit file)"
        ) from None


def _write_parquet(
    path: Path, head: Mapping[str, object], rows: list[tuple[int, str]], end_chain: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = list(_as_map(head.get("decisions")))
    columns: dict[str, list[object]] = {k: [] for k in ("seq", "case", "input", "as_of")}
    for name in names:
        columns.update({name: [], f"{name}.rule": [], f"{name}.reason": []})
    columns.update({"warnings": [], "error": [], "case_input": [], "chain": []})
    chain = link("", json_text(head))
    for _, body in rows:
        record = json.loads(body)
        chain = link(chain, body)
        for k in ("seq", "case", "input", "as_of", "error"):
            columns[k].append(record.get(k))
        for name in names:
            value, rule, reason = record["decisions"].get(name, (None, None, None))
            columns[name].append(json_text(value))
            columns[f"{name}.rule"].append(rule)
            columns[f"{name}.reason"].append(reason)
        warnings = record.get("warnings")
        columns["warnings"].append(None if warnings is None else json_text(warnings))
        given = record.get("case_input")
        columns["case_input"].append(None if "case_input" not in record else json_text(given))
        columns["chain"].append(chain)
    table = pa.table(
        {k: pa.array(v, type=pa.int64() if k == "seq" else pa.string()) for k, v in columns.items()}
    )
    meta = {
        b"pctrules-audit": json_text(head).encode(),
        b"pctrules-audit-end": json_text({"end": len(rows), "chain": end_chain}).encode(),
    }
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.partial")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _parquet_table(path: Path) -> Any:
    _need_pyarrow()
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except Exception as exc:  # pyarrow raises several kinds for a damaged or foreign file
        raise AuditError(f"cannot read '{path}' as a Parquet audit file: {exc}") from None


def _parquet_records(path: Path) -> Iterator[tuple[int, str]]:
    table = _parquet_table(path)
    meta = table.schema.metadata or {}
    head = json.loads(meta.get(b"pctrules-audit", b"{}"))
    names = list(_as_map(head.get("decisions")))
    data = table.to_pydict()
    for i in range(table.num_rows):
        decisions = decisions_text(
            names,
            [(data[n][i] or "null", data[f"{n}.rule"][i], data[f"{n}.reason"][i]) for n in names],
        )
        yield (
            i + 2,
            record_body(
                data["seq"][i],
                data["case"][i],
                data["input"][i],
                data["as_of"][i],
                decisions,
                data["warnings"][i] or "null",
                data["error"][i],
                data["case_input"][i],
            ),
        )


def _scan_parquet(path: Path, visitor: Visitor | None) -> AuditFile:
    table = _parquet_table(path)
    meta = table.schema.metadata or {}
    out = AuditFile(path)
    if b"pctrules-audit" not in meta:
        out.problems.append(Problem(0, "the Parquet file holds no audit header"))
        return out
    head = json.loads(meta[b"pctrules-audit"])
    run = Run(head, 1, 0)
    out.runs.append(run)
    if visitor is not None:
        visitor.start(run)
    chain = link("", json_text(head))
    chains = table.column("chain").to_pylist() if "chain" in table.column_names else []
    for (number, body), claimed in zip(_parquet_records(path), chains, strict=False):
        run.records += 1
        if visitor is not None:
            visitor.record(body, _int_after(body, '{"seq":'))
        chain = link(chain, body)
        if chain != claimed:
            out.problems.append(_broken(number, body, False))
            chain = claimed
        seq = _int_after(body, '{"seq":')
        if seq != run.records:
            out.problems.append(
                Problem(
                    number, f"record {seq} is out of place or a record before it is missing", seq
                )
            )
    if visitor is not None:
        visitor.finish(run)
    end = json.loads(meta.get(b"pctrules-audit-end", b"{}"))
    run.ended = "end" in end
    run.end_count = end.get("end")
    if link(chain, f'{{"end":{run.records}}}') != end.get("chain"):
        out.problems.append(
            Problem(
                0,
                f"the run says it wrote {run.end_count} records and "
                "ends otherwise: records were removed or added",
            )
        )
    return out


def _as_map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}
