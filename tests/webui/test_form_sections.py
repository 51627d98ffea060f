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
