"""Jobs tab → "Compare runs": two or more of the caller's jobs with their loss curves overlaid, their settings and report
metrics in one table (settings that differ marked ≠ and highlighted) and the same as a CSV download (one row per job).

Picking a sweep group selects its children and summarises it (statuses, the best child by the report's main metric, among
the children measured on the same held-out rows). The summary says whether the compared reports scored the same held-out rows.
Every query is scoped to the caller's owner exactly as the rest of the Jobs tab; the data comes from
:mod:`jobs.queue.compare` and :mod:`jobs.queue.sweep`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from jobs.errors import AdaptaError
from jobs.metrics import metric_series
from jobs.queue import list_jobs
from jobs.queue.compare import DIFFERS, ROWS_NOTE_EN, Comparison, load_runs
from jobs.queue.sweep import group_children
from jobs.queue.sweep_ranking import SUMMARY_EN, rank_group
from webui.access import Caller, caller_of
from webui.api_caller import public_paths
from webui.i18n import DEFAULT_LANGUAGE, Registry, string_table, t

CURVES = ["loss", "eval_loss"]
HIGHLIGHT = "background-color: #fef3c7; font-weight: 600"


@dataclass
class CompareView:
    accordion: gr.Accordion
    jobs: gr.Dropdown
    group: gr.Dropdown
    curve: gr.Radio
    only_differing: gr.Checkbox
    run: gr.Button
    summary: gr.Markdown
    plot: gr.LinePlot
    table: gr.Dataframe
    download: gr.DownloadButton


def build(r: Registry) -> CompareView:
    """The accordion and its widgets (closed until opened; its job list is read when it opens)."""
    with r.make(gr.Accordion, "compare.title", open=False, elem_id="compare-runs") as accordion:
        with gr.Row():
            jobs = r.make(gr.Dropdown, "compare.jobs", info="compare.jobs.info", choices=[], multiselect=True, scale=3, elem_id="compare-jobs")
            group = r.make(gr.Dropdown, "compare.group", info="compare.group.info", choices=[], scale=2, elem_id="compare-group")
        with gr.Row():
            curve = r.make(gr.Radio, "compare.curve", choices=CURVES, value="loss", elem_id="compare-curve")
            only_differing = r.make(gr.Checkbox, "compare.only_differing", value=True, elem_id="compare-only-differing")
            run = r.button("compare.run", variant="primary", elem_id="compare-run")
        summary = gr.Markdown(elem_id="compare-summary")
        # no label shown: it would push the legend out of the plot's fixed height (the Curve choice above says what is drawn)
        plot = r.make(gr.LinePlot, "compare.plot", x="step", y="value", color="series", color_title="job", height=300, show_label=False,
                      elem_id="compare-plot")
        table = gr.Dataframe(interactive=False, wrap=True, elem_id="compare-table")
        download = r.make(gr.DownloadButton, "compare.download", attr="label", visible=False, elem_id="compare-download")
    return CompareView(accordion, jobs, group, curve, only_differing, run, summary, plot, table, download)


def choices(caller: Caller) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The caller's jobs and sweep groups as (label, value) choices."""
    jobs = list_jobs(owner=caller.owner_filter, limit=200)
    groups: dict[str, tuple[str, int]] = {}
    for job in jobs:
        if job.group_id:
            name, count = groups.get(job.group_id, (job.group_name or job.group_id, 0))
            groups[job.group_id] = (name, count + 1)
    job_choices = [(f"#{job.id} · {job.name} · {job.status.value}", str(job.id)) for job in jobs]
    return job_choices, [(f"{name} ({count})", group_id) for group_id, (name, count) in groups.items()]


def refresh_choices(request: gr.Request) -> list[Any]:
    """Outputs: jobs, group (their choices, read when the accordion opens)."""
    job_choices, group_choices = choices(caller_of(request))
    return [gr.update(choices=job_choices), gr.update(choices=group_choices)]


def pick_group(group_id: str | None, request: gr.Request) -> Any:
    """Output: jobs: every child of the picked group (the caller's only)."""
    if not group_id:
        return gr.update()
    return gr.update(value=[str(job.id) for job in group_children(group_id, caller_of(request).owner_filter)])


def curves_frame(runs: list[Any], curve: str) -> pd.DataFrame | None:
    """One line per job of the chosen curve, named ``#id`` (a long name hides the legend); None when no job has a point yet."""
    frames = [pd.DataFrame({"step": [step for step, _ in points], "value": [value for _, value in points], "series": run.short_title})
              for run in runs if (points := metric_series(run.job_id, curve))]
    return pd.concat(frames, ignore_index=True) if frames else None


def styled_table(comparison: Comparison, only_differing: bool) -> Any:
    """The comparison table with the differing settings highlighted (paths shown as the caller may see them)."""
    header, rows = comparison.table(only_differing)
    frame = pd.DataFrame(public_paths(rows), columns=header)

    def highlight(row: pd.Series) -> list[str]:
        return [HIGHLIGHT if str(row.iloc[0]).startswith(DIFFERS) else ""] * len(row)

    return frame.style.apply(highlight, axis=1)


def group_summaries(comparison: Comparison, owner: str | None, lang: str = DEFAULT_LANGUAGE) -> list[str]:
    """One line per sweep group among the compared jobs (all its children counted, the caller's only), in ``lang``."""
    seen = dict.fromkeys(run.group_id for run in comparison.runs if run.group_id)
    strings = string_table(lang, "sweep.", SUMMARY_EN)
    return [f"**{rank_group(children).summary(strings)}**" for group_id in seen if (children := group_children(group_id, owner))]


def write_csv(comparison: Comparison) -> str:
    """The CSV in a fresh temporary folder (Gradio serves it from there), named after the compared job ids."""
    folder = Path(tempfile.mkdtemp(prefix="adapta-compare-"))
    path = folder / f"compare-{'-'.join(str(run.job_id) for run in comparison.runs[:8])}.csv"
    path.write_text(public_paths(comparison.csv()), encoding="utf-8")
    return str(path)


def compare(job_ids: list[str] | None, only_differing: bool, curve: str, lang: str, request: gr.Request) -> list[Any]:
    """Outputs: summary, plot, table, download."""
    nothing = [None, None, gr.update(value=None, visible=False)]
    ids = [int(job_id) for job_id in job_ids or []]
    if len(ids) < 2:
        return [f"⚠️ {t(lang, 'compare.pick_two')}", *nothing]
    owner = caller_of(request).owner_filter
    try:
        comparison = Comparison(load_runs(ids, owner))
    except AdaptaError as error:
        return [f"⚠️ {error}", *nothing]
    differing = comparison.differing
    lines = [t(lang, "compare.differing", count=len(differing), names=", ".join(f"`{key}`" for key in differing) or "–")]
    lines += [note] if (note := comparison.rows_note(string_table(lang, "compare.rows.", ROWS_NOTE_EN))) else []
    lines += group_summaries(comparison, owner, lang)
    return ["\n\n".join(lines), curves_frame(comparison.runs, curve if curve in CURVES else "loss"), styled_table(comparison, only_differing),
            gr.update(value=write_csv(comparison), visible=True)]


def wire(view: CompareView, lang: gr.State) -> None:
    view.accordion.expand(refresh_choices, None, [view.jobs, view.group], api_visibility="private", show_progress="hidden")
    inputs = [view.jobs, view.only_differing, view.curve, lang]
    outputs = [view.summary, view.plot, view.table, view.download]
    view.group.input(pick_group, [view.group], [view.jobs], api_visibility="private").then(
        compare, inputs, outputs, api_visibility="private")
    view.run.click(refresh_choices, None, [view.jobs, view.group], api_visibility="private", show_progress="hidden").then(
        compare, inputs, outputs, api_visibility="private")
    for control in (view.only_differing, view.curve):
        control.input(compare, inputs, outputs, api_visibility="private", show_progress="hidden")
