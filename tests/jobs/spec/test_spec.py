"""JobSpec: the YAML contract, readable validation errors, round trips, shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jobs.errors import SpecError
from jobs.spec import JobSpec, Method, Task, load_spec, parse_spec, parse_spec_yaml
from jobs.spec.compat import MOVED_SETTINGS, collect_spec_warnings

ROOT = Path(__file__).resolve().parents[3]

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


OLD_IMAGE_YAML = """
task: text-to-image
base_model: stable-diffusion-v1-5/stable-diffusion-v1-5
data: {train: photos.zip, caption: txt, instance_prompt: a photo of sks dog, trigger_word: sks}
training: {max_steps: 10, resolution: 256, crop: random, random_flip: true, noise_offset: 0.05, snr_gamma: 5.0,
           use_8bit_adam: false, cache_latents: true, max_grad_norm: 0.5}
lora: {r: 4, train_text_encoder: true}
"""
NEW_IMAGE_YAML = """
task: text-to-image
base_model: stable-diffusion-v1-5/stable-diffusion-v1-5
data: {train: photos.zip}
training: {max_steps: 10, max_grad_norm: 0.5}
lora: {r: 4}
images: {caption: txt, instance_prompt: a photo of sks dog, trigger_word: sks, resolution: 256, crop: random, random_flip: true,
         noise_offset: 0.05, snr_gamma: 5.0, use_8bit_adam: false, cache_latents: true, train_text_encoder: true}
"""


def test_an_old_layout_image_spec_loads_with_one_warning_naming_every_new_place() -> None:
    with collect_spec_warnings() as notes:
        old = parse_spec_yaml(OLD_IMAGE_YAML)
    assert len(notes) == 1 and notes[0].startswith("the spec has settings in their old place")
    for before, after in MOVED_SETTINGS.items():
        assert f"{before} is now {after}" in notes[0]
    with collect_spec_warnings() as quiet:
        new = parse_spec_yaml(NEW_IMAGE_YAML)
        again = parse_spec_yaml(old.to_yaml())
    assert quiet == []
    assert old == new == again
    written = yaml.safe_load(old.to_yaml())
    assert written["images"]["resolution"] == 256 and written["images"]["trigger_word"] == "sks"
    assert not {"resolution", "crop", "snr_gamma"} & set(written["training"]) and written["training"]["max_grad_norm"] == 0.5
    assert "trigger_word" not in written["data"] and "train_text_encoder" not in written["lora"]


def test_a_setting_in_both_places_keeps_the_new_one_and_the_warning_says_so() -> None:
    raw = {"task": "text-to-image", "base_model": "m", "data": {"train": "a.zip"}, "training": {"resolution": 256, "seed": 1},
           "images": {"resolution": 128}}
    with pytest.warns(UserWarning, match=r"training.resolution is now images.resolution \(both were given: images.resolution 128 is used, "
                                         r"training.resolution 256 is ignored\)"):
        spec = parse_spec(raw)
    assert spec.images.resolution == 128 and spec.training.seed == 1
    assert raw["training"] == {"resolution": 256, "seed": 1}, "the caller's mapping is left as it was"


def test_an_old_job_rows_spec_json_is_claimed_with_its_settings_moved(tmp_path: Path) -> None:
    import json

    from sqlalchemy import text

    from jobs.queue import claim_next_job, get_job, submit_job
    from storage.db import get_engine

    photos, model = tmp_path / "photos", tmp_path / "pipeline"
    photos.mkdir()
    model.mkdir()
    job_id = submit_job({"task": "text-to-image", "base_model": str(model), "data": {"train": str(photos)}})
    row = json.loads(get_job(job_id).spec_json)
    del row["images"]  # the row as a version before the images: section stored it
    row["data"]["trigger_word"], row["training"]["resolution"], row["training"]["crop"] = "sks", 256, "random"
    row["lora"]["train_text_encoder"] = True
    with get_engine().begin() as connection:
        connection.execute(text("UPDATE job SET spec_json = :spec WHERE id = :id"), {"spec": json.dumps(row), "id": job_id})
    with pytest.warns(UserWarning, match="data.trigger_word is now images.trigger_word"):
        claimed = claim_next_job("worker-1")
    assert claimed is not None and claimed.id == job_id
    images = claimed.spec.images
    assert (images.resolution, images.crop.value, images.trigger_word, images.train_text_encoder) == (256, "random", "sks", True)
    with pytest.warns(UserWarning, match="training.resolution is now images.resolution"):
        assert JobSpec.model_validate_json(json.dumps(row)).images == images  # the child process re-validates the row this way


def test_an_old_layout_sweep_varies_the_setting_in_its_new_place() -> None:
    from jobs.queue.sweep_plan import read_sweep

    with collect_spec_warnings() as notes:
        plan = read_sweep({"task": "text-to-image", "base_model": "m", "data": {"train": "a.zip"}, "training": {"resolution": [256, 512]}})
    assert plan is not None and [spec.images.resolution for _, spec in plan.children] == [256, 512]
    assert [settings for settings, _ in plan.children] == [{"images.resolution": 256}, {"images.resolution": 512}]
    assert len(notes) == 1 and "training.resolution is now images.resolution" in notes[0]


def test_max_grad_norm_stays_in_training_and_reaches_the_text_trainers_too(tmp_path: Path) -> None:
    from transformers import TrainingArguments

    from jobs.trainers.arguments import shared_arguments

    spec = parse_spec({"base_model": "m", "data": {"train": "a.csv"}, "training": {"max_grad_norm": 0.3}})
    assert TrainingArguments(**shared_arguments(spec, tmp_path, has_eval=False, precision_flags={})).max_grad_norm == 0.3
