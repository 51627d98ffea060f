"""The Jobs tab's report panel: the selected job's before/after evaluation (``runs/<job>/eval_report.json``).

It shows what the report was measured on (the rows recorded in ``split.json``; "split not recorded" for a report from before it),
what the data check before training found and fixed (worded in the page's language from the numbers in ``data_check.json``, by the
same :func:`~jobs.data.doctor_notes.data_check_line` that writes the English line of ``summary.json`` and the model card), the
metric table (before → after, with the change
and a ✓ where the
adapted model is better), how many examples got better, worse or stayed the same, and the 5 biggest wins and the 5
biggest losses side by side (input, reference, before, after). Like the sample gallery, it is rebuilt only when the
selected job or its report changes, so the 2-second poll costs one small file read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from jobs.data.doctor_notes import DATA_LINE_EN, data_check_line, read_data_check
from jobs.errors import AdaptaError
from jobs.evaluation.report import EvalReport, ExampleScore, MetricRow, metric_table_rows
from jobs.queue import check_job_id, get_job
from webui.access import Caller, caller_of
from webui.api import job_report_action
from webui.api_caller import public_paths
from webui.i18n import Registry, labels, string_table, t
from webui.page_poll import Poll
from webui.strings import EN_UI

METRIC_COLUMNS = ["metric", "before", "after", "change"]
EXAMPLE_COLUMNS = ["row", "input", "reference", "before", "after"]
EXAMPLE_WIDTHS = ["8%", "29%", "21%", "21%", "21%"]


@dataclass
class ReportPanel:
    box: gr.Group
    headline: gr.Markdown
    metrics: gr.Dataframe
    wins: gr.Dataframe
    losses: gr.Dataframe
    shown: gr.State

    @property
    def outputs(self) -> list[Any]:
        """What :func:`report_view` updates: box, headline, metrics, wins, losses, shown-key."""
        return [self.box, self.headline, self.metrics, self.wins, self.losses, self.shown]


def build(r: Registry) -> ReportPanel:
    with gr.Group(visible=False, elem_id="job-report") as box:
        headline = gr.Markdown(elem_id="job-report-headline")
        metrics = gr.Dataframe(headers=METRIC_COLUMNS, interactive=False, elem_id="job-report-metrics", wrap=True)
        with gr.Row():
            wins = r.make(gr.Dataframe, "report.wins", headers=EXAMPLE_COLUMNS, interactive=False, wrap=True, column_widths=EXAMPLE_WIDTHS,
                          elem_id="job-report-wins")
            losses = r.make(gr.Dataframe, "report.losses", headers=EXAMPLE_COLUMNS, interactive=False, wrap=True, column_widths=EXAMPLE_WIDTHS,
                            elem_id="job-report-losses")
    return ReportPanel(box, headline, metrics, wins, losses, gr.State(""))


def metric_label(row: MetricRow, lang: str) -> str:
    """A metric's name in ``lang`` (by its stable key, ``metric.<name>``); a metric without a translation (a GRPO reward term's,
    a per-timestep image loss) keeps the label its evaluator wrote."""
    key = f"metric.{row.name}"
    return t(lang, key) if key in EN_UI else row.label


def metrics_frame(report: EvalReport, lang: str) -> pd.DataFrame:
    """The metric table (metric, before, after, change), its metric names and headers in ``lang``."""
    rows = [[metric_label(row, lang), *cells[1:]] for row, cells in zip(report.metrics, metric_table_rows(report), strict=True)]
    return pd.DataFrame(rows, columns=labels(lang, "report.col.", METRIC_COLUMNS))


def _examples_frame(examples: list[ExampleScore], lang: str) -> pd.DataFrame:
    return pd.DataFrame([[e.row or "", e.input, e.reference, e.base_output, e.adapted_output] for e in examples],
                        columns=labels(lang, "report.col.", EXAMPLE_COLUMNS))


def data_line(record: dict[str, Any] | None, lang: str) -> str:
    """The data check's line in ``lang``, from a run's ``data_check.json`` record ("" without one)."""
    return data_check_line(record, string_table(lang, "dataline.", DATA_LINE_EN))


def job_data_check(job_id: str, caller: Caller) -> dict[str, Any] | None:
    """The caller's job's ``data_check.json`` record, or None (another's job, a run from before data checks)."""
    try:
        return read_data_check(get_job(check_job_id(job_id), owner=caller.owner_filter).run_dir)
    except (AdaptaError, ValueError):
        return None


def headline_text(report: EvalReport, lang: str, data_check: dict[str, Any] | None = None) -> str:
    """What the report measured and the per-example flips, as Markdown; the data line is worded in ``lang`` from the run's
    ``data_check`` record (the English line kept in the report for a run whose record cannot be read)."""
    line = data_line(data_check, lang) or report.data_check
    data = f"\n\n{t(lang, 'report.data_check', line=line)}" if line else ""
    if report.skipped:
        return f"### {t(lang, 'report.title')}\n\n{t(lang, 'report.skipped', reason=report.skipped)}{data}"
    lines = [f"### {t(lang, 'report.title')}", t(lang, "report.measured_on", where=public_paths(report.measured_on), before=report.base_label,
                                                 seconds=f"{report.seconds:.0f}")]
    if not report.split:
        lines.append(t(lang, "report.split_not_recorded"))
    main = report.main()
    if main is not None and main.improved is not None:
        lines.append(t(lang, "report.better" if main.improved else "report.not_better", metric=metric_label(main, lang)))
    if report.examples:
        flips = report.flips
        lines.append(t(lang, "report.flips", better=flips["better"], worse=flips["worse"], same=flips["same"], score=report.score_name))
    lines += [f"_{note}_" for note in report.notes]
    return "\n\n".join(lines) + data


def report_view(job_id: str | None, shown: str, lang: str, request: gr.Request) -> list[Any]:
    """Outputs: box, headline, metrics, wins, losses, shown-key (unchanged outputs when nothing changed)."""
    try:
        report = job_report_action(job_id, caller_of(request)) if job_id else None
    except (AdaptaError, ValueError):
        report = None
    key = f"{job_id}:{lang}:{report.seconds if report else None}"
    if key == shown:
        return [gr.update()] * 5 + [shown]
    if report is None:
        return [gr.update(visible=False), "", None, None, None, key]
    headline = headline_text(report, lang, job_data_check(str(job_id), caller_of(request)))
    if report.skipped:
        return [gr.update(visible=True), headline, None, None, None, key]
    wins, losses = report.biggest_changes(5)
    return [gr.update(visible=True), headline, metrics_frame(report, lang), _examples_frame(wins, lang), _examples_frame(losses, lang), key]


def wire(panel: ReportPanel, selected: gr.Dropdown, poll: Poll, lang: gr.State) -> None:
    """Refresh on every poll of the page (nothing sent when unchanged) and at once when the language changes; a job the person
    picks is shown at once by the Jobs tab (:func:`webui.jobs_tab.show_job`)."""
    io = ([selected, panel.shown, lang], panel.outputs)
    poll.add(report_view, *io)
    lang.change(report_view, *io, api_visibility="private", show_progress="hidden")
