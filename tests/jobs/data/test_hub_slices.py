"""Row slices of a Hub dataset split: each slice is its own local copy, and validation rows that training also reads are refused
with the numbers (before anything is streamed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.data.hub_datasets import resolve_data_files
from jobs.errors import DataError
from jobs.spec import parse_spec
from tests.fake_hub import FakeHub
from tests.jobs.data.test_hub_datasets import jsonl
from tests.served_app import run_launch

COUNTING = {"acme/counting": {"README.md": b"---\nlicense: cc-by-4.0\n---\n# Counting\n",
                              "data/train.jsonl": jsonl([{"question": f"What comes after {n}?", "answer": f"{n + 1} comes after {n}."}
                                                         for n in range(30)])}}


def test_two_slices_of_one_split_train_and_validate_on_their_own_rows(adapta_home: Path, tiny_llama: Path, tmp_path: Path) -> None:
    spec = tmp_path / "slices.yaml"
    spec.write_text(f"name: slices\nbase_model: {tiny_llama}\n"
                    "data: {train: 'hub:acme/counting', split: 'train[:12]', validation: 'train[12:]'}\n"
                    "training: {max_steps: 2, batch_size: 4, learning_rate: 0.02, max_length: 64}\n")
    env = {"HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home")}
    with FakeHub(datasets=COUNTING) as hub:
        done = run_launch("train", str(spec), home=adapta_home, env={**env, "HF_ENDPOINT": hub.url})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((next((adapta_home / "runs").iterdir()) / "summary.json").read_text())
    assert (summary["train_examples"], summary["eval_examples"]) == (12, 18)  # the split has 30 rows
    copies = adapta_home / "uploads" / "hub" / "public" / "acme--counting"
    lines = {path.name: len(path.read_text().splitlines()) for path in copies.glob("*.jsonl")}
    assert lines == {"default-train.rows-0-12.jsonl": 12, "default-train.rows-12-end.jsonl": 18}


@pytest.mark.parametrize(("split", "validation", "message"), [
    ("train[:20]", "train[10:30]", "shares 10 rows (rows 10 to 19) with data.split 'train[:20]'"),
    ("train[:1000]", "train[0:1000]", "reads the same rows as data.split 'train[:1000]'"),
    ("train", "train[100:200]", "shares up to 100 rows (rows 100 to 199)"),
])
def test_validation_rows_that_training_reads_are_refused_with_the_numbers(split: str, validation: str, message: str) -> None:
    spec = parse_spec({"base_model": "acme/model", "data": {"train": "hub:acme/planets", "split": split, "validation": validation}})
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        resolve_data_files(spec)


def test_disjoint_slices_and_other_splits_are_accepted_before_streaming() -> None:
    """Without an overlap the next step is streaming, which offline mode (the test default) refuses with its own sentence."""
    for split, validation in (("train[:20]", "train[20:40]"), ("train", "test"), ("train[1000:]", "train[:1000]")):
        spec = parse_spec({"base_model": "acme/model", "data": {"train": "hub:acme/planets", "split": split, "validation": validation}})
        with pytest.raises(DataError, match="offline mode is on"):
            resolve_data_files(spec)
