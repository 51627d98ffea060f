"""The Train form shows a task's and an objective's own settings only when they apply."""

from __future__ import annotations

import gradio as gr

from webui import train_tab
from webui.i18n import Registry


def test_task_and_objective_sections_follow_the_choices() -> None:
    with gr.Blocks():
        tab = train_tab.build(Registry())
    paths = [field.path for field in tab.fields]
    embedding = dict(zip(paths, train_tab.task_updates(tab, "sentence-embedding", "prompt-tuning"), strict=True))
    assert embedding["method"]["choices"] == ["lora", "full"] and embedding["method"]["value"] == "lora"
    assert embedding["embedding.loss"]["visible"] is True and embedding["objective"]["visible"] is False
    assert embedding["preference.beta"]["visible"] is False
    causal = dict(zip(paths, train_tab.task_updates(tab, "causal-lm", "lora"), strict=True))
    assert causal["embedding.loss"]["visible"] is False and causal["objective"]["visible"] is True

    sections = list(tab.groups)
    shown = {name: update["visible"] for name, update in zip(sections, train_tab.group_visibility(tab, "lora", "dpo", "causal-lm"), strict=True)}
    assert shown["lora"] and shown["preference"] and not shown["grpo"] and not shown["prompt_tuning"]
    shown = {name: update["visible"] for name, update in zip(sections, train_tab.group_visibility(tab, "full", "grpo", "causal-lm"), strict=True)}
    assert shown["grpo"] and not shown["preference"] and not shown["lora"]
    shown = {name: update["visible"] for name, update in zip(sections, train_tab.group_visibility(tab, "lora", "dpo", "sentence-embedding"), strict=True)}
    assert not shown["preference"] and shown["lora"]


def test_every_field_has_one_place_decisions_on_top_the_rest_in_advanced_groups() -> None:
    from webui.spec_form import DECISION_FIELDS, field_group, schema_fields

    groups = {field.path: field_group(field) for field in schema_fields()}
    assert {path for path, group in groups.items() if group == "decisions"} == set(DECISION_FIELDS)
    assert groups["training.learning_rate"] == "optimisation" and groups["training.save_steps"] == "checkpoints"
    assert groups["evaluation.holdout"] == "checkpoints" and groups["lora.r"] == "lora" and groups["grpo.rewards"] == "grpo"
    assert groups["name"] == "model_data" and groups["data.format"] == "model_data"
    image_settings = [path for path, group in groups.items() if group == "images"]
    assert image_settings and all(path.startswith("images.") or "text-to-image" in path for path in image_settings)

    with gr.Blocks():
        tab = train_tab.build(Registry())
    assert set(tab.groups) == set(groups.values()) - {"decisions"}
    shown = dict(zip(tab.groups, (update["visible"] for update in train_tab.group_visibility(tab, "lora", "sft", "text-to-image")), strict=True))
    assert shown["images"] and shown["lora"] and not shown["embedding"] and not shown["prompt_tuning"] and not shown["grpo"]
    shown = dict(zip(tab.groups, (update["visible"] for update in train_tab.group_visibility(tab, "prompt-tuning", "sft", "causal-lm")), strict=True))
    assert shown["prompt_tuning"] and not shown["lora"] and not shown["images"] and shown["optimisation"]
    # the duplicate-job fill still gives one update per widget and per group
    from jobs.spec import parse_spec

    spec = parse_spec({"base_model": "m", "method": "full", "data": {"train": "d.jsonl", "validation": "held.jsonl"},
                       "training": {"epochs": 4}})
    updates = train_tab.fill_from_spec(tab, spec)
    assert len(updates) == len(tab.fill_outputs) == 5 + len(tab.widgets) + len(tab.groups)
    assert updates[5 + [field.path for field in tab.fields].index("training.epochs")]["value"] == 4.0
    # a validation file survives the form: fill, then read the form back (the slider holds only a share)
    assert updates[2] == "held.jsonl"
    values = [updates[0], updates[1], updates[2], updates[3], *[update.get("value") for update in updates[5:5 + len(tab.widgets)]]]
    assert train_tab.form_spec(tab, values).data.validation == "held.jsonl"
