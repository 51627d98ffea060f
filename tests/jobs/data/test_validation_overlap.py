"""A validation file that repeats training rows: the repeated rows are removed from scoring (case, whitespace and punctuation
ignored) and counted, and a validation file holding only training rows is refused (its eval loss would only measure memorisation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.data.examples import load_training_data
from jobs.errors import DataError
from jobs.spec import parse_spec

ROWS = [{"question": f"What comes after {n}?", "answer": f"{n + 1} comes after {n}."} for n in range(8)]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def load(tokenizer, train: Path, validation: Path):
    spec = parse_spec({"base_model": "acme/model", "data": {"train": str(train), "validation": str(validation)},
                       "training": {"max_length": 64}})
    return load_training_data(spec, tokenizer)


def test_validation_rows_repeated_from_training_are_counted_in_a_warning(tmp_path: Path, tokenizer) -> None:
    train = write(tmp_path / "train.jsonl", ROWS)
    fresh = [{"question": f"What comes after {n}?", "answer": f"{n + 1} comes after {n}."} for n in range(100, 103)]
    # the same text with other spacing is the same row
    repeated = [ROWS[2], {"question": "What  comes after 5?", "answer": " 6 comes after 5."}]
    data = load(tokenizer, train, write(tmp_path / "val.jsonl", fresh + repeated))
    assert "2 validation rows also appear in training (case, whitespace and punctuation ignored): removed from scoring (val.jsonl)" \
        in data.warnings
    assert data.eval is not None and len(data.eval) == 3 and data.eval_rows == [1, 2, 3]
    assert data.split.count("also in training") == 2 and data.split.scoring_ids() == [1, 2, 3]

    clean = load(tokenizer, train, write(tmp_path / "clean.jsonl", fresh))
    assert not any("also appear in training" in warning for warning in clean.warnings)


def test_a_validation_file_with_the_training_rows_is_refused(tmp_path: Path, tokenizer) -> None:
    train = write(tmp_path / "train.jsonl", ROWS)
    for validation in (train, write(tmp_path / "copy.jsonl", list(reversed(ROWS)))):
        with pytest.raises(DataError, match=f"every usable row of the validation file {validation.name} .8 distinct. is also a training row"):
            load(tokenizer, train, validation)
