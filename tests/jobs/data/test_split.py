"""The one split (jobs.data.split): decided by data.split_seed before any row is tokenized, duplicates on one side, a validation
file checked against the training file, and written to split.json for every data kind.

Fast: the tiny tokenizer only, no model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from jobs.data.examples import load_training_data
from jobs.data.images import load_image_dataset, split_image_dataset
from jobs.data.pairs import load_embedding_data
from jobs.data.preference import load_objective_data
from jobs.data.split import (
    DUPLICATE,
    IN_TRAINING,
    NOT_RECORDED,
    SPLIT_FILE,
    TOO_LONG,
    SplitUnusable,
    normalise_text,
    read_split,
    split_for_report,
    write_split,
)
from jobs.errors import DataError, SpecError
from jobs.spec import parse_spec
from tests.jobs.data.test_validation_overlap import write

ROWS = [{"question": f"What is {n} plus {n}?", "answer": f"{n} plus {n} is {2 * n}."} for n in range(30)]
LONG_PROMPT = {"question": "Please read all of this first. " * 12 + "What is 100 plus 100?", "answer": "200."}
"""A prompt longer than max_length 48: its answer is cut away entirely, so only train_on_prompt: true keeps the row."""


def write_images(folder: Path, count: int) -> Path:
    """``count`` captioned images of different colours, the last two with the same bytes (one image under two names)."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        shade = min(number, count - 2)
        Image.new("RGB", (64, 64), (20 * shade % 256, 100, 200)).save(folder / f"img-{number:02d}.png")
        (folder / f"img-{number:02d}.txt").write_text(f"picture {number}")
    return folder


def text_spec(train: Path, validation=0.2, **training):
    settings = {"max_length": 48, **training}
    return parse_spec({"base_model": "acme/model", "data": {"train": str(train), "validation": validation}, "training": settings})


def trained_rows(data, all_rows: list[int]) -> set[int]:
    """The rows a trainer given ``data`` trains on (the rows of its training features), checked against every row but the held-out
    side and the skipped rows."""
    trained = set(data.train_rows)
    assert trained <= set(all_rows) - set(data.split.held) - {problem.row for problem in data.skipped}
    return trained


def test_a_sweep_over_seed_max_length_and_train_on_prompt_holds_out_the_same_rows(tmp_path: Path, tokenizer) -> None:
    train = write(tmp_path / "train.jsonl", ROWS)
    variants = [{"seed": 1}, {"seed": 2}, {"seed": 2, "max_length": 40}, {"seed": 2, "train_on_prompt": True}]
    held = [load_training_data(text_spec(train, **variant), tokenizer).eval_rows for variant in variants]
    assert len(held[0]) == 6 and all(rows == held[0] for rows in held), held
    with_long = write(tmp_path / "long.jsonl", [LONG_PROMPT, *ROWS])
    splits = [load_training_data(text_spec(with_long, **variant), tokenizer).split for variant in variants]
    assert all(split.held == splits[0].held and split.train == splits[0].train for split in splits)
    other = parse_spec({"base_model": "acme/model", "data": {"train": str(train), "validation": 0.2, "split_seed": 5}})
    assert load_training_data(other, tokenizer).eval_rows != held[0]  # the split seed, and only it, picks other rows


def test_a_row_cut_at_max_length_never_moves_a_trained_row_into_the_report(tmp_path: Path, tokenizer) -> None:
    """The issue's case: train_on_prompt keeps the long row in training; the report (answers only) drops it; no row may shift."""
    train = write(tmp_path / "train.jsonl", [LONG_PROMPT, *ROWS])
    all_rows = list(range(1, len(ROWS) + 2))
    for seed in range(1, 6):
        trained = trained_rows(load_training_data(text_spec(train, seed=seed, train_on_prompt=True), tokenizer), all_rows)
        scored = load_training_data(text_spec(train, seed=seed, train_on_prompt=False), tokenizer).eval_rows
        assert scored and not trained & set(scored), (seed, sorted(trained & set(scored)))


def test_the_long_row_is_dropped_after_the_split_on_its_side(tmp_path: Path, tokenizer) -> None:
    train = write(tmp_path / "train.jsonl", [LONG_PROMPT, *ROWS])
    data = load_training_data(text_spec(train, validation=None), tokenizer)  # 31 rows: fewer than 50, nothing held out
    assert data.split.held == [] and 1 in data.split.train and 1 not in data.split.trained_ids()
    assert [(drop.id, drop.side, drop.reason) for drop in data.split.dropped] == [(1, "train", TOO_LONG)]
    assert data.train_rows == list(range(2, 32))


def test_duplicates_stay_on_one_side_and_a_held_out_copy_is_scored_once(tmp_path: Path, tokenizer) -> None:
    copies = [{"question": question, "answer": "Paris."} for question in
              ("What is the capital of France?", "what is the capital of france", "WHAT IS THE CAPITAL OF FRANCE?!", " What is  the capital of France ?")]
    rows = [*ROWS[:10], *copies, *ROWS[10:20], *copies, *ROWS[20:]]
    train = write(tmp_path / "train.jsonl", rows)
    all_rows = list(range(1, len(rows) + 1))
    sides = set()
    for seed in range(12):
        spec = parse_spec({"base_model": "acme/model", "data": {"train": str(train), "validation": 0.3, "split_seed": seed}})
        data = load_training_data(spec, tokenizer)
        key = {row: normalise_text(f"{rows[row - 1]['question']} {rows[row - 1]['answer']}") for row in all_rows}
        trained = {key[row] for row in trained_rows(data, all_rows)}
        assert not trained & {key[row] for row in data.eval_rows}, seed
        copy_rows = [row for row in all_rows if rows[row - 1]["answer"] == "Paris."]
        held = bool(set(copy_rows) & set(data.split.held))
        sides.add(held)
        if held:  # the whole group, scored once
            assert set(copy_rows) <= set(data.split.held) and data.split.count(DUPLICATE) == 7
            assert len(set(copy_rows) & set(data.eval_rows)) == 1
    assert sides == {True, False}  # some seeds hold the group out, others train on it


def test_validation_rows_that_are_training_rows_are_not_scored_and_counted(tmp_path: Path, tokenizer) -> None:
    train = write(tmp_path / "train.jsonl", ROWS)
    repeated = [{"question": ROWS[3]["question"].upper(), "answer": ROWS[3]["answer"]},
                {"question": ROWS[4]["question"], "answer": ROWS[4]["answer"].rstrip(".")},
                {"question": ROWS[5]["question"] + "  ", "answer": ROWS[5]["answer"]}]
    fresh = [{"question": "What is 500 plus 500?", "answer": "1000."}, {"question": "What is 7 times 7?", "answer": "49."}]
    data = load_training_data(text_spec(train, validation=str(write(tmp_path / "val.jsonl", repeated + fresh))), tokenizer)
    assert data.eval_rows == [4, 5]
    assert "3 validation rows also appear in training (case, whitespace and punctuation ignored): removed from scoring (val.jsonl)" \
        in data.warnings
    assert data.split.count(IN_TRAINING) == 3 and data.split.held == [1, 2, 3, 4, 5] and data.split.scoring_ids() == [4, 5]


def test_split_json_records_files_rows_rule_and_drops_and_the_report_checks_the_data(tmp_path: Path, tokenizer) -> None:
    train = write(tmp_path / "train.jsonl", [LONG_PROMPT, *ROWS, ROWS[0]])
    data = load_training_data(text_spec(train, validation=None, train_on_prompt=True), tokenizer)
    assert data.split.held == []
    data = load_training_data(text_spec(train, validation=0.2, train_on_prompt=True), tokenizer)
    run = tmp_path / "run"
    write_split(run, data.split)
    recorded = json.loads((run / SPLIT_FILE).read_text())
    assert recorded["files"][0]["path"] == str(train) and len(recorded["files"][0]["sha256"]) == 64
    assert recorded["seed"] == 0 and recorded["seed_setting"] == "data.split_seed" and "data.validation 0.2" in recorded["rule"]
    assert sorted(recorded["train"] + recorded["held"]) == list(range(1, 33)) and recorded["held_file"] == "train"
    assert recorded["counts"]["held"] == len(recorded["held"]) and recorded["fingerprint"] == data.split.fingerprint
    assert split_for_report(run).held == data.split.held
    write_split(run, data.split)  # a resumed run finds the split it started with
    train.write_text(train.read_text().replace("plus", "and"), encoding="utf-8")
    with pytest.raises(SplitUnusable, match="the train data train.jsonl changed since training"):
        split_for_report(run)
    changed = load_training_data(text_spec(train, validation=0.2), tokenizer).split
    with pytest.raises(DataError, match="holds other held-out rows than the data gives now"):
        write_split(run, changed)
    with pytest.raises(SplitUnusable, match=re.escape(NOT_RECORDED)):
        split_for_report(tmp_path / "old-run")
    assert read_split(tmp_path / "old-run") is None


def test_every_data_kind_writes_a_split(tmp_path: Path, tokenizer) -> None:
    """Classification, embedding pairs, preference pairs, feedback, prompts and images go through the same split."""
    classes = write(tmp_path / "classes.jsonl", [{"text": f"review number {n}", "label": "good" if n % 2 else "bad"} for n in range(20)])
    pairs = write(tmp_path / "pairs.jsonl", [{"anchor": f"question {n // 2}", "positive": f"passage {n}"} for n in range(20)])
    preference = write(tmp_path / "pref.jsonl", [{"prompt": f"Say {n}", "chosen": f"{n}", "rejected": f"{n + 1}"} for n in range(20)])
    feedback = write(tmp_path / "feedback.jsonl", [{"prompt": f"Say {n}", "completion": f"{n}", "label": n % 3 > 0} for n in range(20)])
    prompts = write(tmp_path / "prompts.jsonl", [{"prompt": f"Say {n}", "answer": f"{n}"} for n in range(20)])
    images = write_images(tmp_path / "photos", 10)

    def spec(task: str, train: Path, **extra):
        return parse_spec({"task": task, "base_model": "acme/model", "data": {"train": str(train), "validation": 0.2}, **extra})

    splits = {
        "classification": load_training_data(spec("text-classification", classes), tokenizer).split,
        "embedding": load_embedding_data(spec("sentence-embedding", pairs)).split,
        "dpo": load_objective_data(spec("causal-lm", preference, objective="dpo"), tokenizer).split,
        "kto": load_objective_data(spec("causal-lm", feedback, objective="kto"), tokenizer).split,
        "grpo": load_objective_data(spec("causal-lm", prompts, objective="grpo", grpo={"rewards": [{"kind": "exact_match"}]}), tokenizer).split,
        "images": split_image_dataset(parse_spec({"task": "text-to-image", "base_model": "tiny/sd", "method": "lora",
                                                  "data": {"train": str(images), "validation": 0.2}}),
                                      load_image_dataset(images))[1].split,
    }
    for kind, split in splits.items():
        run = tmp_path / f"run-{kind}"
        write_split(run, split)
        again = split_for_report(run)
        assert again.held and again.train and not set(again.held) & set(again.train), kind
        assert again.fingerprint == split.fingerprint and again.seed == 0, kind
    embedding = splits["embedding"]  # two rows per query: a query's rows are held out together
    assert all((row + (1 if row % 2 else -1)) in embedding.held for row in embedding.held)
    assert splits["images"].unit == "image" and all(str(item).endswith(".png") for item in splits["images"].held)
    assert ("img-08.png" in splits["images"].held) == ("img-09.png" in splits["images"].held)  # equal bytes: one side


def test_the_split_seed_cannot_be_swept() -> None:
    from jobs.queue.sweep_plan import read_sweep  # the queue package loads the Hub; only this test needs it

    base = {"base_model": "acme/model", "data": {"train": "train.jsonl", "split_seed": [0, 1]}, "training": {"learning_rate": [1e-4, 2e-4]}}
    with pytest.raises(SpecError, match="data.split_seed cannot be swept: it picks the held-out rows"):
        read_sweep(base)
    optuna = {"base_model": "acme/model", "data": {"train": "train.jsonl"},
              "sweep": {"trials": 2, "search": {"data.split_seed": [0, 1]}}}
    with pytest.raises(SpecError, match="data.split_seed, which cannot be swept"):
        read_sweep(optuna)
