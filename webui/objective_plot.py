"""The Jobs tab's third plot: what a preference (dpo, orpo, kto) or GRPO job optimises, as live curves.

GRPO jobs show the mean reward, each reward term's mean (``rewards/<term>/mean``, named by
:func:`jobs.trainers.rewards.term_names`) and the KL to the base model (when ``grpo.beta`` > 0); preference jobs show the chosen
and rejected rewards, their margin, the preference accuracy and KTO's KL. The curves come from the job's metric rows
(:func:`jobs.metrics.metric_series` with a limit, a bounded sample) and are polled with the loss plot; the plot is hidden for sft and the
other tasks, and until the job has logged a first point.

    names = plotted_metrics("grpo", ["format", "contains"])     # ["reward", "rewards/format/mean", ..., "kl"]
    frame = objective_frame(names, {name: metric_series(job, name, PLOT_POINTS) for name in names}, "en")
    objective_plot_update(job_id, caller, "en")                  # gr.update(value=frame, visible=...) for the LinePlot
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gradio as gr
import pandas as pd

from jobs.errors import AdaptaError
from jobs.metrics import PLOT_POINTS, metric_series
from jobs.queue import get_job
from jobs.spec import PREFERENCE_OBJECTIVES, JobSpec, Objective, Task
from jobs.trainers.rewards import term_names
from webui.access import Caller, caller_of
from webui.i18n import Registry, t
from webui.page_poll import Poll, changed_only

PREFERENCE_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "kl")
"""What TRL's DPO, ORPO and KTO trainers log about the preferred and rejected answers (each job logs a subset)."""
GRPO_TOTAL, GRPO_KL = "reward", "kl"
COLOR_MAP = {"reward": "#4f46e5", "kl": "#dc2626", "rewards/chosen": "#059669", "rewards/rejected": "#f97316",
             "rewards/margins": "#4f46e5", "rewards/accuracies": "#0891b2"}
"""Colours of the fixed series, by metric name."""
TERM_COLORS = ("#db2777", "#ca8a04", "#7c3aed", "#0d9488", "#65a30d", "#be123c", "#2563eb", "#9a3412")
"""Colours of the GRPO reward terms, in term order (repeating after eight). Every series needs one: a LinePlot whose
color_map leaves a series out does not draw that series."""


def term_metric(term: str) -> str:
    """The metric row name TRL gives one GRPO reward term's mean."""
    return f"rewards/{term}/mean"


def plotted_metrics(objective: str, terms: Sequence[str] = ()) -> list[str]:
    """The metric names plotted for a causal-lm job with ``objective`` (empty for sft): ``terms`` are the GRPO term names."""
    if objective == Objective.GRPO.value:
        return [GRPO_TOTAL, *(term_metric(term) for term in terms), GRPO_KL]
    if objective in {item.value for item in PREFERENCE_OBJECTIVES}:
        return list(PREFERENCE_METRICS)
    return []


def series_label(metric: str, lang: str) -> str:
    """The legend's name for one metric: translated for the fixed series, "reward · <term>" for a GRPO term."""
    if metric.startswith("rewards/") and metric.endswith("/mean"):
        return t(lang, "objplot.term", term=metric[len("rewards/"):-len("/mean")])
    return t(lang, f"objplot.{metric.replace('rewards/', '')}")


def objective_frame(metrics: Sequence[str], series: Mapping[str, Sequence[tuple[int, float]]], lang: str) -> pd.DataFrame | None:
    """Long-format rows (step, value, series) for the LinePlot, in ``metrics`` order; metrics without points are left out.

    None (not an empty frame) when nothing is recorded yet: a plot first drawn from empty data draws no line later."""
    frames = [pd.DataFrame({"step": [int(step) for step, _ in points], "value": [float(value) for _, value in points],
                            "series": series_label(metric, lang)})
              for metric in metrics if (points := series.get(metric))]
    return pd.concat(frames, ignore_index=True) if frames else None


def plot_colors(metrics: Sequence[str], lang: str) -> dict[str, str]:
    """The LinePlot's color_map for ``metrics`` (legend label → colour): the fixed colours, then :data:`TERM_COLORS` in turn."""
    terms = iter(TERM_COLORS * (len(metrics) // len(TERM_COLORS) + 1))
    return {series_label(metric, lang): COLOR_MAP.get(metric) or next(terms) for metric in metrics}


def job_metrics(spec: JobSpec) -> list[str]:
    """The metrics plotted for one job's spec (none for sft and the tasks other than causal-lm)."""
    if spec.task is not Task.CAUSAL_LM:
        return []
    return plotted_metrics(spec.objective.value, term_names(spec.grpo.rewards))


def objective_plot_update(job_id: str | int | None, caller: Caller, lang: str) -> Any:
    """The LinePlot's update for the selected job: its curves and shown, or hidden when its objective has none."""
    try:
        job = get_job(int(job_id), owner=caller.owner_filter) if job_id else None
        metrics = job_metrics(JobSpec.model_validate_json(job.spec_json)) if job is not None else []
    except (AdaptaError, ValueError):
        metrics = []
    if not metrics:
        return gr.update(value=None, visible=False)
    frame = objective_frame(metrics, {metric: metric_series(int(job_id), metric, PLOT_POINTS) for metric in metrics}, lang)
    return gr.update(value=frame, visible=frame is not None, color_map=plot_colors(metrics, lang))


def build(r: Registry) -> gr.LinePlot:
    """The (hidden) plot, placed by the Jobs tab under its loss and learning-rate plots; no fixed height, so the legend
    under it is not cut off."""
    return r.make(gr.LinePlot, "objplot.title", x="step", y="value", color="series", elem_id="job-objective-plot", visible=False)


def wire(plot: gr.LinePlot, selected: gr.Dropdown, poll: Poll, lang: gr.State, sent: gr.State) -> None:
    """Redraw on the page's ``poll`` when the curves changed (``sent`` keeps what the poll sent last:
    :func:`webui.page_poll.changed_only`); a job the person picks is drawn at once by the Jobs tab (:func:`webui.jobs_tab.show_job`)."""
    def changed(job_id: str | None, language: str, before: dict[str, str] | None, request: gr.Request) -> list[Any]:
        updates, now = changed_only([objective_plot_update(job_id, caller_of(request), language)], before)
        return [*updates, now]

    poll.add(changed, [selected, lang, sent], [plot, sent])
