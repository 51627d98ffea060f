"""jobs.data.inspect: problems carry the row numbers a person sees in the file; stats and label counts are right."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from jobs.data.inspect import inspect_dataset
from jobs.errors import DataError
from jobs.spec import DataFormat, Task
from tests.tiny import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """Only the tiny tokenizer (the one inside the ``tiny_llama`` folder), without building the model."""
    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    build_tokenizer(folder)
    return folder


def _jsonl(path, rows) -> None:
    path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")


def test_instruction_problems_name_csv_rows(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text('question,answer\nWhat?,Paris.\nWhy?,\n"",Yes.\nWhat?,Paris.\n', encoding="utf-8")
    report = inspect_dataset(path)
    assert report.format is DataFormat.INSTRUCTION and report.rows == 4 and report.usable_rows == 2
    found = [(p.row, p.column, p.message, p.level) for p in report.problems]
    assert found == [
        (3, "answer", "response (column answer) is empty", "error"),
        (4, "question", "prompt (column question) is empty", "error"),
        (None, None, "1 row repeats an earlier row, case, whitespace and punctuation ignored (first: row 5 repeats row 2); the split keeps "
                     "each group of copies on one side (trained on or held out, and scored once), but consider removing them", "warning"),
    ]
    assert report.duplicate_rows == 1 and report.to_dict()["duplicate_rows"] == 1
    path.write_text('question,answer\nWhat is it?,Paris.\nwhat is it,Paris\n  WHAT  is it?!,paris.\nWhy?,Because.\n', encoding="utf-8")
    assert inspect_dataset(path).duplicate_rows == 2  # copies that differ in case, spacing and punctuation count too


def test_chat_problems(tmp_path):
    path = tmp_path / "chat.jsonl"
    good = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    _jsonl(
        path,
        [
            {"messages": good},
            {"messages": "just text"},
            {"messages": [{"role": "user", "content": "hi"}]},
            {"messages": [{"role": "narrator", "content": "once"}, {"role": "assistant", "content": "x"}]},
            {"messages": [{"speaker": "user"}]},
        ],
    )
    report = inspect_dataset(path)
    assert report.format is DataFormat.CHAT
    assert [(p.row, p.message) for p in report.problems] == [
        (2, 'messages is text, not a list of messages; write it as JSON [{"role": ..., "content": ...}]'),
        (3, "messages has no assistant turn, so there is nothing to learn from"),
        (4, "message 1 in messages has unknown role 'narrator'; use system, user or assistant"),
        (5, "message 1 in messages needs a role and a content (or ShareGPT from and value)"),
    ]


def test_classification_labels_and_warnings(tmp_path):
    path = tmp_path / "reviews.jsonl"
    _jsonl(
        path,
        [
            {"review": "great", "stars": 5},
            {"review": "awful", "stars": 1},
            {"review": "lovely", "stars": 5},
            {"review": "missing label"},
            {"review": "ok", "stars": 3},
        ],
    )
    report = inspect_dataset(path, columns={"label": "stars"}, task=Task.TEXT_CLASSIFICATION)
    assert report.mapping == {"text": "review", "label": "stars"}
    assert report.label_counts == {"1": 1, "3": 1, "5": 2}
    assert [(p.row, p.message, p.level) for p in report.problems] == [
        (4, "label (column stars) is missing", "error"),
        (None, "class '1' has only one example; add more or merge it into another class", "warning"),
        (None, "class '3' has only one example; add more or merge it into another class", "warning"),
    ]


def test_token_stats_and_json_report(tmp_path, tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    path = tmp_path / "book.txt"
    path.write_text("The sky is blue.\n" + "The quick brown fox jumps over the lazy dog. " * 20 + "\nShort.\n", encoding="utf-8")
    report = inspect_dataset(path, tokenizer=tokenizer, max_length=32, preview_rows=2)
    stats = report.token_stats
    assert stats["count"] == 3 and stats["min"] <= stats["p50"] <= stats["p95"] <= stats["max"]
    assert stats["over_max_length"] == 1 and stats["max_length"] == 32
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["format"] == "text" and len(data["preview"]) == 2
    assert data["preview"][1]["text"].endswith("…") and len(data["preview"][1]["text"]) == 300


def test_unusable_file_raises(tmp_path):
    path = tmp_path / "nums.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"cannot tell how to use the columns of nums.csv \(a, b\)"):
        inspect_dataset(path)
