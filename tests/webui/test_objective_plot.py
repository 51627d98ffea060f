"""The Jobs tab's reward / KL / margin plot: which curves a job gets, their legend names, and the data read from real metric
rows in a real SQLite file (no training: the rows are written the way the training callback writes them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.metrics import MetricsSink
from jobs.queue import submit_job
from webui.access import LOCAL_CALLER, Caller
from webui.objective_plot import objective_frame, objective_plot_update, plotted_metrics, series_label


def test_each_objective_plots_its_own_metrics() -> None:
    assert plotted_metrics("grpo", ["format", "contains"]) == ["reward", "rewards/format/mean", "rewards/contains/mean", "kl"]
    assert plotted_metrics("dpo") == plotted_metrics("kto") == plotted_metrics("orpo")
    assert {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"} <= set(plotted_metrics("dpo"))
    assert plotted_metrics("sft") == [] and plotted_metrics("") == []


def test_the_legend_names_every_series_in_the_chosen_language() -> None:
    assert series_label("reward", "en") == "reward (weighted mean)"
    assert series_label("rewards/format/mean", "en") == "reward · format"
    assert series_label("rewards/exact_match_2/mean", "en") == "reward · exact_match_2"
    assert series_label("rewards/margins", "en") == "margin (chosen − rejected)"
    assert series_label("rewards/accuracies", "pt-BR") == "acurácia de preferência"
    assert series_label("kl", "pt-BR") == "KL em relação ao modelo base"


def test_frame_is_long_format_in_plot_order_and_skips_missing_series() -> None:
    frame = objective_frame(["reward", "rewards/format/mean", "kl"],
                            {"reward": [(1, 0.5), (2, 0.75)], "rewards/format/mean": [(1, 0.0), (2, 1.0)], "kl": []}, "en")
    assert list(frame.columns) == ["step", "value", "series"]
    assert frame["series"].tolist() == ["reward (weighted mean)"] * 2 + ["reward · format"] * 2
    assert frame["step"].tolist() == [1, 2, 1, 2] and frame["value"].tolist() == [0.5, 0.75, 0.0, 1.0]
    assert objective_frame(["reward"], {}, "en") is None  # nothing yet: None, so the first real data draws lines


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"prompt": "Say the colour of planet Zor.", "answer": "teal"}) + "\n")
    return path


def _job(tiny_llama: Path, data: Path, extra: dict) -> int:
    return submit_job({"base_model": str(tiny_llama), "data": {"train": str(data)}, **extra})


def test_a_grpo_job_shows_its_reward_curves_from_metric_rows(tmp_path: Path, tiny_llama: Path, prompts: Path) -> None:
    job_id = _job(tiny_llama, prompts, {"objective": "grpo", "training": {"batch_size": 4},
                                        "grpo": {"beta": 0.1, "rewards": [{"kind": "format", "tag": "answer"}, {"kind": "contains", "pattern": "."},
                                                                          {"kind": "contains", "pattern": "teal", "weight": 2}]}})
    assert objective_plot_update(job_id, LOCAL_CALLER, "en")["visible"] is False  # no empty plot: hidden until the first step
    sink = MetricsSink(tmp_path / "metrics.jsonl", job_id=job_id)
    for step in (1, 2, 3):
        sink.record(step, {"loss": 0.1, "reward": step / 3, "reward_std": 0.2, "rewards/format/mean": 0.0, "rewards/contains/mean": 1.0,
                           "rewards/contains_2/mean": step / 6, "kl": 0.01 * step}, total_steps=3)
    update = objective_plot_update(str(job_id), LOCAL_CALLER, "en")
    frame = update["value"]
    assert update["visible"] is True
    assert list(dict.fromkeys(frame["series"])) == ["reward (weighted mean)", "reward · format", "reward · contains", "reward · contains_2",
                                                    "KL to the base model"]
    rewards = frame[frame["series"] == "reward (weighted mean)"]
    assert rewards["step"].tolist() == [1, 2, 3] and rewards["value"].round(3).tolist() == [0.333, 0.667, 1.0]
    assert "loss" not in set(frame["series"]) and "reward_std" not in "".join(frame["series"])
    colors = update["color_map"]  # every series has its own colour (a series missing from color_map is not drawn)
    assert set(colors) == set(frame["series"]) | {"KL to the base model"} and len(set(colors.values())) == len(colors)
    assert colors["reward (weighted mean)"] == "#4f46e5"

    stranger = Caller(name="mallory", can_write=True)  # another user's job stays hidden
    assert objective_plot_update(job_id, stranger, "en")["visible"] is False


def test_preference_jobs_show_margins_and_sft_jobs_no_plot(tmp_path: Path, tiny_llama: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Colour of Zor?", "chosen": "teal", "rejected": "red"}) + "\n")
    dpo = _job(tiny_llama, pairs, {"objective": "dpo"})
    MetricsSink(tmp_path / "dpo.jsonl", job_id=dpo).record(1, {"rewards/chosen": 0.2, "rewards/rejected": -0.1, "rewards/margins": 0.3,
                                                                "rewards/accuracies": 1.0})
    frame = objective_plot_update(dpo, LOCAL_CALLER, "pt-BR")["value"]
    assert set(frame["series"]) == {"recompensa da escolhida", "recompensa da rejeitada", "margem (escolhida − rejeitada)",
                                    "acurácia de preferência"}

    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "Colour of Zor?", "answer": "teal"}) + "\n")
    sft = _job(tiny_llama, qa, {})
    MetricsSink(tmp_path / "sft.jsonl", job_id=sft).record(1, {"loss": 1.0, "rewards/chosen": 0.5})
    assert objective_plot_update(sft, LOCAL_CALLER, "en") == {"__type__": "update", "value": None, "visible": False}
    assert objective_plot_update(None, LOCAL_CALLER, "en")["visible"] is False
    assert objective_plot_update(99999, LOCAL_CALLER, "en")["visible"] is False
