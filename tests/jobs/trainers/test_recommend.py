"""jobs.trainers.recommend: the Train tab's recommended values follow the data (rows, token lengths) and the model's size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.errors import DataError
from jobs.trainers.recommend import DataProfile, profile_data, quality_values, recommend
from tests.tiny import build_tokenizer


def qa_file(folder: Path, rows: int, answer_words: int = 6) -> Path:
    path = folder / f"qa-{rows}.jsonl"
    lines = [json.dumps({"question": f"What is item {number}?", "answer": " ".join(["word"] * answer_words) + f" {number}."})
             for number in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_40_row_file_gets_more_epochs_than_a_4000_row_file(tmp_path: Path) -> None:
    small = recommend("causal-lm", "lora", "sft", profile_data(str(qa_file(tmp_path, 40)), "causal-lm"), parameters=135_000_000)
    large = recommend("causal-lm", "lora", "sft", profile_data(str(qa_file(tmp_path, 4000)), "causal-lm"), parameters=135_000_000)
    assert small.profile.rows == 40 and large.profile.rows == 4000
    assert small.epochs.value > large.epochs.value
    assert (small.epochs.value, large.epochs.value) == (5.0, 2.0)
    assert small.epochs.key == "train.rec.epochs.tiny" and small.epochs.values["rows"] == "40"
    assert large.epochs.values["rows"] == "4,000"
    # 40 rows are too few to hold any out; 4,000 rows spare 5% (200 rows)
    assert small.validation.value is None and small.validation.key == "train.rec.validation.tiny"
    assert large.validation.value == 0.05 and large.validation.values["held"] == "200"


def test_learning_rate_follows_the_method_and_the_strength(tmp_path: Path) -> None:
    profile = DataProfile(rows=500, p95_tokens=90, max_tokens=300, mean_tokens=60)
    advice = recommend("causal-lm", "lora", "sft", profile, parameters=135_000_000)
    assert advice.strength.value == "standard"
    assert advice.field_values("lora", "causal-lm", "sft")["training.learning_rate"] == 2e-4
    assert advice.field_values("full", "causal-lm", "sft")["training.learning_rate"] == 2e-5
    assert advice.field_values("prompt-tuning", "causal-lm", "sft")["training.learning_rate"] == 3e-2
    assert advice.field_values("lora", "causal-lm", "dpo")["training.learning_rate"] == 5e-5
    tiny_full = recommend("causal-lm", "full", "sft", DataProfile(rows=40), parameters=135_000_000)
    assert tiny_full.strength.value == "gentle"
    assert tiny_full.field_values("full", "causal-lm", "sft")["training.learning_rate"] == 1e-5


def test_max_length_comes_from_the_data_and_the_preset() -> None:
    profile = DataProfile(rows=500, p95_tokens=90, max_tokens=300, mean_tokens=60)
    assert quality_values("balanced", profile)["training.max_length"] == 128  # p95 90 rounded up
    assert quality_values("quality", profile)["training.max_length"] == 512  # the longest row kept whole
    assert quality_values("quick", DataProfile(rows=500, p95_tokens=2000))["training.max_length"] == 256  # capped by the preset
    assert quality_values("balanced", DataProfile(rows=None))["training.max_length"] == 512  # lengths unknown
    assert quality_values("quick", profile)["lora.r"] == 8 and quality_values("quality", profile)["lora.r"] == 32


def test_token_lengths_with_the_models_tokenizer_differ_from_the_character_estimate(tmp_path: Path) -> None:
    tokenizer = build_tokenizer(tmp_path / "tok")
    path = str(qa_file(tmp_path, 300, answer_words=80))
    measured = profile_data(path, "causal-lm", tokenizer=tokenizer)
    estimated = profile_data(path, "causal-lm")
    assert measured.measured and not estimated.measured
    assert measured.p95_tokens and estimated.p95_tokens and measured.p95_tokens > 80
    advice = recommend("causal-lm", "lora", "sft", measured, parameters=135_000_000)
    assert advice.quality.key == "train.rec.quality.measured"
    assert advice.field_values("lora", "causal-lm", "sft")["training.max_length"] >= measured.p95_tokens


def test_model_size_and_machine_pick_method_and_preset() -> None:
    profile = DataProfile(rows=2000, p95_tokens=50, max_tokens=80, mean_tokens=40)
    assert recommend("sentence-embedding", "lora", None, profile, parameters=22_700_000).method.value == "full"
    assert recommend("causal-lm", "lora", "sft", profile, parameters=135_000_000).method.value == "lora"
    assert recommend("causal-lm", "lora", "sft", profile, parameters=7_000_000_000, on_gpu=True,
                     fits={"lora": False, "qlora": True}).method.value == "qlora"
    assert recommend("causal-lm", "lora", "sft", profile, parameters=1_700_000_000).quality.value == "quick"  # big on a CPU
    assert recommend("causal-lm", "lora", "sft", profile, parameters=135_000_000).quality.value == "balanced"
    assert recommend("causal-lm", "lora", "sft", profile, parameters=1_700_000_000, on_gpu=True).quality.value == "quality"


def test_a_long_run_gets_a_time_budget_and_a_short_one_none() -> None:
    big = DataProfile(rows=50_000, p95_tokens=400, max_tokens=900, mean_tokens=300)
    long_run = recommend("causal-lm", "full", "sft", big, parameters=1_700_000_000)
    assert long_run.time_budget.value == 120 and long_run.time_budget.key == "train.rec.time.long"
    short = recommend("causal-lm", "lora", "sft", DataProfile(rows=40, p95_tokens=20, max_tokens=30, mean_tokens=15), parameters=135_000_000)
    assert short.time_budget.value == 0 and short.time_budget.key == "train.rec.time.short"
    measured = recommend("causal-lm", "lora", "sft", DataProfile(rows=40), parameters=None, seconds_per_step=60.0)
    assert measured.time_budget.value == 0 and float(measured.time_budget.values["minutes"]) == 25.0  # 25 steps x 60 s


def test_images_are_counted_and_need_many_passes(tmp_path: Path) -> None:
    folder = tmp_path / "dogs"
    folder.mkdir()
    for number in range(10):
        (folder / f"dog{number}.png").write_bytes(b"not decoded here")
    (folder / "dog0.txt").write_text("a photo of sks dog", encoding="utf-8")
    profile = profile_data(str(folder), "text-to-image")
    assert profile.rows == 10
    advice = recommend("text-to-image", "lora", None, profile)
    assert advice.epochs.value == 100.0 and advice.method.value == "lora"
    assert advice.field_values("lora", "text-to-image", None)["training.learning_rate"] == 1e-4


def test_a_file_that_cannot_be_read_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing.jsonl"):
        profile_data(str(tmp_path / "missing.jsonl"), "causal-lm")
    assert profile_data("hub:acme/reviews", "causal-lm").rows is None
