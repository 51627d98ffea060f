"""jobs.data.readers: every supported file type reads, and every broken file gets one sentence naming the file and line."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.data.readers import read_records, read_table
from jobs.errors import DataError


def _error(path, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        read_records(path, **kwargs)
    return str(caught.value)


def test_reads_every_supported_type(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"hello, world",pos\nbye,neg\n', encoding="utf-8")
    (tmp_path / "a.tsv").write_text("text\tlabel\nhello\tpos\n", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text('{"text": "a"}\n\n{"text": "b"}\n', encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps({"data": [{"text": "a"}, {"text": "b"}]}), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps([{"text": "a"}]), encoding="utf-8")
    pq.write_table(pa.table({"text": ["a", "b"], "label": [0, 1]}), tmp_path / "a.parquet")
    (tmp_path / "a.txt").write_text("first line\n\nsecond line\n", encoding="utf-8")

    assert read_records(tmp_path / "a.csv") == [{"text": "hello, world", "label": "pos"}, {"text": "bye", "label": "neg"}]
    assert read_records(tmp_path / "a.tsv") == [{"text": "hello", "label": "pos"}]
    jsonl = read_table(tmp_path / "a.jsonl")
    assert jsonl.records == [{"text": "a"}, {"text": "b"}] and jsonl.row_numbers == [1, 3]
    assert read_records(tmp_path / "a.json") == [{"text": "a"}, {"text": "b"}]
    assert read_records(tmp_path / "b.json") == [{"text": "a"}]
    assert read_records(tmp_path / "a.parquet") == [{"text": "a", "label": 0}, {"text": "b", "label": 1}]
    assert read_records(tmp_path / "a.txt") == [{"text": "first line"}, {"text": "second line"}]


def test_csv_row_numbers_count_the_header_as_line_1(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\na,1\n"multi\nline",2\n\nc,3\n', encoding="utf-8")
    table = read_table(path)
    assert table.row_numbers == [2, 3, 6]
    assert table.columns == ["text", "label"]


def test_csv_with_bom_and_semicolons(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefftext;label\nbonjour;pos\n".encode())
    assert read_records(path) == [{"text": "bonjour", "label": "pos"}]


def test_txt_paragraphs_when_blank_lines_separate_them(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("Line one\nline two\n\nSecond para\n", encoding="utf-8")
    table = read_table(path)
    assert table.records == [{"text": "Line one\nline two"}, {"text": "Second para"}]
    assert table.row_numbers == [1, 4]


def test_missing_file(tmp_path):
    message = _error(tmp_path / "nope.csv")
    assert "nope.csv does not exist" in message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert _error(path) == "empty.jsonl is empty (0 bytes); upload a file with at least one row."


def test_header_without_rows(tmp_path):
    path = tmp_path / "head.csv"
    path.write_text("text,label\n", encoding="utf-8")
    assert "head.csv has a header but no rows" in _error(path)


def test_binary_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert _error(path).startswith("x.csv is not text (it looks binary)")


def test_wrong_encoding_names_line_and_offset(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text\nok\ncaf\xe9\n".encode("latin-1"))
    message = _error(path)
    assert "latin.csv is not UTF-8 text" in message
    assert "line 3" in message and "byte offset 11" in message and "save the file as UTF-8" in message


def test_utf16_file(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes("text\nhello\n".encode("utf-16"))
    assert "u16.csv is saved as UTF-16" in _error(path)


def test_invalid_json_line(tmp_path):
    path = tmp_path / "data.jsonl"
    lines = ['{"text": "ok"}'] * 6 + ['{"text": "a" "b"}']
    path.write_text("\n".join(lines), encoding="utf-8")
    assert _error(path) == "data.jsonl line 7 is not valid JSON: Expecting ',' delimiter at column 14; fix or remove that line."


def test_jsonl_line_not_an_object(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "ok"}\n["a", "b"]\n', encoding="utf-8")
    message = _error(path)
    assert message.startswith("data.jsonl line 2 is a list, not a JSON object")


def test_json_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[\n  {"text": "a"},\n  {"text": }\n]', encoding="utf-8")
    message = _error(path)
    assert message.startswith("rows.json is not valid JSON: Expecting value at line 3, column 12")


def test_json_item_not_an_object(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[{"text": "a"}, "b"]', encoding="utf-8")
    assert _error(path).startswith("rows.json item 2 is a string, not an object")


def test_ragged_csv_row(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("text,label\na,1\nb,2,extra\n", encoding="utf-8")
    assert _error(path).startswith("ragged.csv line 3 has 3 fields but the header has 2 columns")


def test_csv_bad_quote(tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text('text,label\n"a"b,1\n', encoding="utf-8")
    message = _error(path)
    assert message.startswith("quotes.csv line 2 cannot be read as CSV")


def test_unsupported_extension(tmp_path):
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"x")
    assert _error(path) == "sheet.xlsx has an unsupported file type (.xlsx); use one of .csv, .tsv, .jsonl, .json, .parquet, .txt."


def test_corrupted_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    message = _error(path)
    assert message.startswith("broken.parquet cannot be read as Parquet") and "export it again" in message


def test_row_and_size_limits(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text('{"text": "a"}\n' * 5, encoding="utf-8")
    assert _error(path, max_rows=3) == "big.jsonl has more than 3 rows, the limit; use a smaller sample of the data."
    assert "big.jsonl is 70 bytes, over the 10 bytes limit" in _error(path, max_bytes=10)


def test_json_lines_saved_as_json_and_array_saved_as_jsonl(tmp_path):
    lines = tmp_path / "lines.json"
    lines.write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    array = tmp_path / "array.jsonl"
    array.write_text('[{"text": "a"},\n {"text": "b"}]', encoding="utf-8")
    assert read_records(lines) == read_records(array) == [{"text": "a"}, {"text": "b"}]
