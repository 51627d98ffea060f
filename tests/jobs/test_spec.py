"""JobSpec: the YAML contract, readable validation errors, round trips, shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jobs.errors import SpecError
from jobs.spec import JobSpec, Method, Task, load_spec, parse_spec, parse_spec_yaml

ROOT = Path(__file__).resolve().parents[2]

CONTRACT_YAML = """
name: my-run
task: causal-lm
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
method: lora
data:
  train: path/to/file.jsonl
  validation: 0.1
  format: auto
  columns: {prompt: question, response: answer}
training: {epochs: 1, max_steps: null, learning_rate: 2.0e-4, batch_size: 8, gradient_accumulation: 1,
           max_length: 512, warmup_ratio: 0.03, scheduler: cosine, weight_decay: 0.0, eval_steps: null,
           save_steps: null, seed: 42, precision: auto, gradient_checkpointing: false, packing: false}
lora: {r: 8, alpha: 16, dropout: 0.05, target_modules: auto, use_dora: false}
prompt_tuning: {num_virtual_tokens: 20, init_text: null}
"""


def test_the_documented_contract_parses_with_every_field() -> None:
    spec = parse_spec_yaml(CONTRACT_YAML)
    assert spec.task is Task.CAUSAL_LM and spec.method is Method.LORA
    assert spec.data.columns == {"prompt": "question", "response": "answer"}
    assert spec.data.validation == 0.1
    assert spec.training.learning_rate == 2.0e-4 and spec.training.max_steps is None
    assert spec.lora.target_modules == "auto"
    assert spec.prompt_tuning.init_text is None


def test_yaml_round_trip_is_lossless() -> None:
    spec = parse_spec_yaml(CONTRACT_YAML)
    again = parse_spec_yaml(spec.to_yaml())
    assert again == spec
    assert parse_spec(yaml.safe_load(spec.model_dump_json())) == spec


def test_every_problem_is_one_sentence_naming_the_field_and_allowed_values() -> None:
    bad = {
        "task": "translation",
        "base_model": "x",
        "method": "magic",
        "data": {"train": "a.csv", "validation": 0.9},
        "training": {"learning_rate": -1, "batch_size": 0},
        "lora": {"r": 0},
    }
    with pytest.raises(SpecError) as caught:
        parse_spec(bad)
    problems = caught.value.problems
    text = "\n".join(problems)
    assert "task must be one of: 'causal-lm', 'text-classification', 'text-to-image' or 'sentence-embedding' (got 'translation')" in text
    assert "method must be one of: 'lora', 'qlora', 'prompt-tuning' or 'full' (got 'magic')" in text
    assert "training.learning_rate must be greater than 0 (got -1)" in text
    assert "training.batch_size must be at least 1 (got 0)" in text
    assert "lora.r must be at least 1 (got 0)" in text
    assert any(p.startswith("data.validation") and "between 0 and 0.5" in p for p in problems)
    assert all("\n" not in p for p in problems)


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"task": "causal-lm"})
    assert "base_model is required" in caught.value.problems
    assert "data is required" in caught.value.problems


def test_inconsistent_task_and_format_is_refused() -> None:
    with pytest.raises(SpecError, match="packing only applies to task causal-lm"):
        parse_spec({"task": "text-classification", "base_model": "m", "data": {"train": "a.csv"}, "training": {"packing": True}})


def test_unknown_keys_warn_with_a_suggestion_and_are_ignored() -> None:
    with pytest.warns(UserWarning, match="unknown key 'learing_rate' ignored \\(did you mean 'learning_rate'\\?\\)"):
        spec = parse_spec({"base_model": "m", "data": {"train": "a.csv"}, "training": {"learing_rate": 0.1}})
    assert spec.training.learning_rate == 2.0e-4


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("base_model: m\ndata:\n  train: [a.csv\n")
    with pytest.raises(SpecError, match="is not valid YAML at line"):
        load_spec(path)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(SpecError, match="is empty"):
        load_spec(empty)
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_schema_carries_bounds_and_help_for_the_form() -> None:
    schema = JobSpec.model_json_schema()
    training = schema["$defs"]["TrainingSpec"]["properties"]
    assert training["learning_rate"]["exclusiveMinimum"] == 0
    assert training["batch_size"]["minimum"] == 1
    assert "Peak learning rate" in training["learning_rate"]["description"]


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_example_spec_parses_and_its_data_exists(path: Path) -> None:
    spec = load_spec(path)
    assert spec.data.from_hub or (ROOT / spec.data.train).is_file(), f"{path.name} points at missing data {spec.data.train}"
