"""Read a user's data file into a list of row dicts, or explain in one sentence why it cannot be read.

Supported: ``.csv`` ``.tsv`` ``.jsonl`` ``.json`` (a list of objects, or ``{"data": [...]}``) ``.parquet``
and ``.txt`` (one example per non-empty line; paragraphs separated by blank lines when the file has them).

Row numbers, everywhere in ``jobs.data``, are the numbers a person sees when opening the file:

- CSV / TSV / JSONL / TXT: the line on which the row starts (in a CSV the header is line 1, so the first
  data row is "row 2");
- JSON and Parquet: the 1-based position of the row in the list / table.

    from jobs.data.readers import read_table
    table = read_table("train.csv")       # table.records, table.columns, table.row_numbers
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import DataError

SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")
MAX_ROWS = 2_000_000
"""Default row limit: bigger files are refused with a message asking for a sample."""
MAX_BYTES = 4 * 1024**3
"""Default size limit in bytes (4 GiB)."""

_CSV_FIELD_LIMIT = 2**31 - 1


@dataclass
class Table:
    """The rows of one data file."""

    path: Path
    """The file that was read."""
    records: list[dict[str, Any]]
    """One dict per row, keyed by column name."""
    columns: list[str]
    """Every column name, in the order first seen."""
    row_numbers: list[int] = field(default_factory=list)
    """For each record, its row number as the user sees it in the file (see the module docstring)."""

    @property
    def name(self) -> str:
        """The file name used in messages."""
        return self.path.name


def read_records(path: str | Path, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> list[dict[str, Any]]:
    """The rows of a data file as dicts; raises :class:`DataError` with one clear sentence when it cannot."""
    return read_table(path, max_rows=max_rows, max_bytes=max_bytes).records


def read_table(path: str | Path, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> Table:
    """Read a data file into a :class:`Table` (rows, columns and the row numbers users see)."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise DataError(f"{path} does not exist; check the path or upload the file again.")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file; point to one {', '.join(SUPPORTED_EXTENSIONS)} file inside it.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        kind = f"type ({suffix})" if suffix else "type (the name has no extension)"
        raise DataError(f"{name} has an unsupported file {kind}; use one of {', '.join(SUPPORTED_EXTENSIONS)}.")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{name} is empty (0 bytes); upload a file with at least one row.")
    if size > max_bytes:
        raise DataError(f"{name} is {_human_bytes(size)}, over the {_human_bytes(max_bytes)} limit; use a smaller sample of the data.")

    if suffix == ".parquet":
        records, numbers = _read_parquet(path, max_rows)
    else:
        text = _decode(path)
        if not text.strip():
            raise DataError(f"{name} holds only whitespace; upload a file with at least one row.")
        if suffix in (".csv", ".tsv"):
            records, numbers = _read_delimited(text, name, "\t" if suffix == ".tsv" else None, max_rows)
        elif suffix == ".jsonl":
            records, numbers = _read_jsonl_or_array(text, name, max_rows)
        elif suffix == ".json":
            records, numbers = _read_json(text, name, max_rows)
        else:
            records, numbers = _read_txt(text, name, max_rows)
    if not records:
        raise DataError(f"{name} has no rows; add at least one example.")
    return Table(path=path, records=records, columns=_columns(records), row_numbers=numbers)


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


def _too_many_rows(name: str, max_rows: int) -> DataError:
    return DataError(f"{name} has more than {max_rows:,} rows, the limit; use a smaller sample of the data.")


def _columns(records: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)
    return list(seen)


def _decode(path: Path) -> str:
    """The file as text: UTF-8 (a BOM is accepted); binary and other encodings are refused with a clear sentence."""
    data = path.read_bytes()
    name = path.name
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{name} is saved as UTF-16; save it as UTF-8 (in Excel: Save As > CSV UTF-8) and upload it again.")
    if b"\x00" in data[:65536]:
        raise DataError(f"{name} is not text (it looks binary); upload a {path.suffix.lower()} text file, not a spreadsheet or archive.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        start = error.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        byte = data[start : start + 1].hex()
        raise DataError(
            f"{name} is not UTF-8 text: byte 0x{byte} on line {line}, column {column} (byte offset {start}) cannot be decoded; "
            "save the file as UTF-8 and upload it again."
        ) from None


def _read_delimited(text: str, name: str, delimiter: str | None, max_rows: int) -> tuple[list[dict[str, Any]], list[int]]:
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    if delimiter is None:
        first = text.split("\n", 1)[0]
        delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    header: list[str] | None = None
    start_line = 1
    try:
        for fields in reader:
            line = start_line
            start_line = reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if header is None:
                header = [column.strip() for column in fields]
                _check_header(header, name, line)
                continue
            if len(fields) != len(header):
                if len(fields) > len(header) and not any(value.strip() for value in fields[len(header) :]):
                    fields = fields[: len(header)]
                else:
                    raise DataError(
                        f"{name} line {line} has {_count(len(fields), 'field')} but the header has {_count(len(header), 'column')}; "
                        "check for a missing or extra separator, or quote values that contain one."
                    )
            if len(records) >= max_rows:
                raise _too_many_rows(name, max_rows)
            records.append(dict(zip(header, fields, strict=True)))
            numbers.append(line)
    except csv.Error as error:
        raise DataError(
            f"{name} line {reader.line_num} cannot be read as {'TSV' if delimiter == chr(9) else 'CSV'}: {error}; "
            "check the quotes on that line."
        ) from None
    if header is not None and not records:
        raise DataError(f"{name} has a header but no rows; add at least one example below the header.")
    return records, numbers


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _check_header(header: list[str], name: str, line: int) -> None:
    for position, column in enumerate(header, start=1):
        if not column:
            raise DataError(f"{name} line {line} (the header) has no name for column {position}; give every column a name.")
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise DataError(f"{name} line {line} (the header) repeats the column name {duplicates[0]!r}; give every column a distinct name.")


def _type_name(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _read_jsonl(text: str, name: str, max_rows: int) -> tuple[list[dict[str, Any]], list[int]]:
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"{name} line {line_number} is not valid JSON: {error.msg} at column {error.colno}; fix or remove that line."
            ) from None
        if not isinstance(value, dict):
            raise DataError(
                f"{name} line {line_number} is {_type_name(value)}, not a JSON object; "
                'write each line as one object such as {"text": "..."}.'
            )
        if len(records) >= max_rows:
            raise _too_many_rows(name, max_rows)
        records.append(value)
        numbers.append(line_number)
    return records, numbers


def _read_jsonl_or_array(text: str, name: str, max_rows: int) -> tuple[list[dict[str, Any]], list[int]]:
    """JSONL, accepting a file that is really one JSON array (a common mix-up)."""
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            pass
        else:
            return _items(value, name, max_rows)
    return _read_jsonl(text, name, max_rows)


def _read_json(text: str, name: str, max_rows: int) -> tuple[list[dict[str, Any]], list[int]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and text.lstrip().startswith("{"):
            return _read_jsonl(text, name, max_rows)  # JSON Lines saved as .json
        raise DataError(
            f"{name} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}; fix the file there."
        ) from None
    return _items(value, name, max_rows)


def _items(value: Any, name: str, max_rows: int) -> tuple[list[dict[str, Any]], list[int]]:
    if isinstance(value, dict):
        lists = {key: item for key, item in value.items() if isinstance(item, list)}
        if "data" in lists:
            value = lists["data"]
        elif len(lists) == 1 and len(value) == 1:
            value = next(iter(lists.values()))
        else:
            raise DataError(f'{name} is one JSON object; it should be a list of rows [{{...}}, ...] or {{"data": [{{...}}, ...]}}.')
    if not isinstance(value, list):
        raise DataError(f"{name} holds {_type_name(value)}; it should be a list of rows [{{...}}, ...].")
    if len(value) > max_rows:
        raise _too_many_rows(name, max_rows)
    for position, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise DataError(
                f'{name} item {position} is {_type_name(item)}, not an object; write every row as an object such as {{"text": "..."}}.'
            )
    return value, list(range(1, len(value) + 1))


def _read_txt(text: str, name: str, max_rows: int) -> tuple[list[dict[str, Any]], list[int]]:
    """One example per line, or per paragraph when blank lines separate multi-line paragraphs."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for line_number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not current:
                start = line_number
            current.append(line.rstrip())
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    paragraphs = len(blocks) > 1 and any(len(lines) > 1 for _, lines in blocks)
    if paragraphs:
        rows = [(first, "\n".join(lines)) for first, lines in blocks]
    else:
        rows = [(first + offset, line) for first, lines in blocks for offset, line in enumerate(lines)]
    if len(rows) > max_rows:
        raise _too_many_rows(name, max_rows)
    return [{"text": row} for _, row in rows], [first for first, _ in rows]


def _read_parquet(path: Path, max_rows: int) -> tuple[list[dict[str, Any]], list[int]]:
    import pyarrow.parquet as pq

    name = path.name
    try:
        parquet = pq.ParquetFile(path)
        if parquet.metadata.num_rows > max_rows:
            raise _too_many_rows(name, max_rows)
        records = parquet.read().to_pylist()
    except DataError:
        raise
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError and others for damaged files
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{name} cannot be read as Parquet ({reason}); the file may be damaged: export it again.") from None
    return records, list(range(1, len(records) + 1))
