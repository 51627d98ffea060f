"""Jobs tab: every job with status, progress, ETA and attempt; the selected one live (the page's poll reads the database).

All state comes from the job and metric rows, so a reload or a server restart re-attaches to running jobs
with their full history. A text-to-image job also shows its sample images (``runs/<job>/samples/``) as a gallery
that grows while it trains, captioned "step N: prompt". A finished job shows its before/after report
(:mod:`webui.report_panel`). Actions: cancel, retry, duplicate-and-edit (fills the Train form), move up/down in the queue, delete.
A sweep's jobs show its name (★ on the best); "cancel sweep" / "delete sweep" act on the selected job's whole group, and
"Compare runs" (:mod:`webui.compare_view`) puts several jobs side by side.

Nothing empty is shown: with no job the tab's body stays hidden (the guide's empty state says why), the progress bar, the
plots and the log appear once the selected job has them, and each action button only where it applies to the selected job's
status (cancel while queued or running, retry after a failure, up/down while queued, the sweep buttons for a sweep's job).
The plots read at most about 120 points per curve, evenly spaced over the run (:func:`jobs.metrics.metric_series` with a limit), so a poll costs the
same at step 100 and at step 100,000. The page load fills the table but not the plots (:func:`first_view`): they are drawn when the
tab opens, after its table is on the page, since drawing them is the costliest part of opening the tab (bench/page_load.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from jobs.errors import AdaptaError
from jobs.metrics import PLOT_POINTS, last_metric, metric_series
from jobs.queue import delete_job, download_view, get_job, list_jobs, move_job, request_cancel, retry_job
from jobs.queue.sweep import cancel_group, delete_group, group_of
from jobs.queue.sweep_ranking import group_labels
from storage.tables import LOCAL_BACKEND, Job, JobStatus
from webui import compare_view, objective_plot, report_panel
from webui.access import Caller, caller_of, require_writer
from webui.api import job_status_action
from webui.api_caller import public_paths
from webui.api_playground import job_samples
from webui.i18n import Registry, t
from webui.page_poll import Poll, changed_only

JOB_COLUMNS = ["id", "name", "status", "progress", "eta", "attempt", "method", "base_model", "group"]
ACTIONS = ("cancel", "retry", "duplicate", "up", "down", "delete", "cancel_group", "delete_group")
"""The action buttons, in :attr:`JobsTab.actions` order."""


@dataclass
class JobsTab:
    table: gr.Dataframe
    selected: gr.Dropdown
    detail: gr.Markdown
    progress: gr.HTML
    loss_plot: gr.LinePlot
    lr_plot: gr.LinePlot
    log: gr.Textbox
    cancel: gr.Button
    retry: gr.Button
    duplicate: gr.Button
    up: gr.Button
    down: gr.Button
    delete: gr.Button
    message: gr.Markdown
    samples: gr.Gallery
    samples_shown: gr.State
    report: report_panel.ReportPanel
    cancel_group: gr.Button
    delete_group: gr.Button
    compare: compare_view.CompareView
    objective_plot: gr.LinePlot
    body: gr.Column
    """The tab's whole body: hidden while the caller has no job."""
    sent: gr.State
    """What the poll sent last, a fingerprint per output of :attr:`refresh_outputs` (:func:`refresh` sends only what changed)."""
    objective_sent: gr.State
    """The same for the objective plot (:func:`webui.objective_plot.wire`)."""

    @property
    def actions(self) -> list[gr.Button]:
        """The action buttons, in :data:`ACTIONS` order."""
        return [self.cancel, self.retry, self.duplicate, self.up, self.down, self.delete, self.cancel_group, self.delete_group]

    @property
    def detail_outputs(self) -> list[Any]:
        """What :func:`job_detail` updates: progress, detail, loss plot, lr plot, log, the action buttons."""
        return [self.progress, self.detail, self.loss_plot, self.lr_plot, self.log, *self.actions]

    @property
    def plot_outputs(self) -> list[Any]:
        """What :func:`plot_view` updates: the loss plot, the learning-rate plot."""
        return [self.loss_plot, self.lr_plot]

    @property
    def refresh_outputs(self) -> list[Any]:
        """What :func:`refresh` updates: table, picker, body, then :attr:`detail_outputs`, then :attr:`sent`."""
        return [self.table, self.selected, self.body, *self.detail_outputs, self.sent]

    @property
    def first_outputs(self) -> list[Any]:
        """What :func:`first_view` updates: :attr:`refresh_outputs` but the two plots."""
        return [self.table, self.selected, self.body, self.progress, self.detail, self.log, *self.actions, self.sent]


def build(r: Registry) -> JobsTab:
    with gr.Column(visible=False, elem_id="jobs-body") as body:
        r.markdown("jobs.intro")
        table = gr.Dataframe(headers=JOB_COLUMNS, interactive=False, elem_id="jobs-table")
        selected = r.make(gr.Dropdown, "jobs.selected", choices=[], allow_custom_value=True, elem_id="jobs-selected")
        progress = gr.HTML(elem_id="job-progress", visible=False)
        detail = gr.Markdown(elem_id="job-detail")
        with gr.Row():
            buttons = {action: r.button(f"jobs.{action}", size="sm", variant="stop" if action.startswith("delete") else "secondary",
                                        visible=False, elem_id=f"job-{action.replace('_', '-')}") for action in ACTIONS}
        message = gr.Markdown(elem_id="job-message")
        with gr.Row():
            loss_plot = r.make(gr.LinePlot, "jobs.loss_plot", x="step", y="value", color="series", elem_id="job-loss-plot", visible=False,
                               color_map={"loss": "#4f46e5", "eval_loss": "#f97316"})
            lr_plot = r.make(gr.LinePlot, "jobs.lr_plot", x="step", y="value", color="series", elem_id="job-lr-plot", visible=False,
                             color_map={"learning_rate": "#059669"})
        objective = objective_plot.build(r)  # reward / KL / margin curves of dpo, orpo, kto and grpo jobs
        report = report_panel.build(r)
        samples = r.make(gr.Gallery, "jobs.samples", columns=4, height=300, visible=False, elem_id="job-samples")
        samples_shown = gr.State("")
        log = r.make(gr.Textbox, "jobs.log", lines=10, max_lines=14, interactive=False, visible=False, elem_id="job-log")
        compare = compare_view.build(r)
    b = buttons
    return JobsTab(table, selected, detail, progress, loss_plot, lr_plot, log, b["cancel"], b["retry"], b["duplicate"], b["up"], b["down"],
                   b["delete"], message, samples, samples_shown, report, b["cancel_group"], b["delete_group"], compare, objective, body,
                   gr.State(None), gr.State(None))


def sample_gallery(job_id: str | None, shown: str, request: gr.Request) -> list[Any]:
    """Outputs: gallery, shown-key. The gallery is rebuilt only when the job or its number of samples changed.

    Images are handed over as PIL images (not paths), so run folders are never served by the web server.
    """
    try:
        rows = job_samples(int(job_id), caller_of(request)) if job_id else []
    except (AdaptaError, ValueError):
        rows = []
    key = f"{job_id}:{len(rows)}"
    if key == shown:
        return [gr.update(), shown]
    if not rows:
        return [gr.update(value=None, visible=False), key]
    from PIL import Image

    images = []
    for row in rows:
        try:
            with Image.open(row["path"]) as image:
                images.append((image.convert("RGB"), f"step {row['step']}: {row['prompt']}"))
        except OSError:
            continue
    return [gr.update(value=images, visible=True), key]


def _eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def watch_order(job: Job) -> tuple[int, int, int, int]:
    """Sort key of the table: running jobs first, then queued ones in their owner's run order (priority, place, id), then finished
    ones newest first."""
    if job.status is JobStatus.RUNNING:
        return (0, 0, 0, -int(job.id or 0))
    if job.status is JobStatus.QUEUED:
        return (1, -int(job.priority or 0), int(job.place or 0), int(job.id or 0))
    return (2, 0, 0, -int(job.id or 0))


def jobs_table(caller: Caller) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The caller's jobs as a table, and the (label, id) choices of the job picker."""
    rows, choices = [], []
    jobs = sorted(list_jobs(owner=caller.owner_filter, limit=200), key=watch_order)
    groups = group_labels(jobs)  # a sweep's name on each of its jobs, ★ on its best
    for job in jobs:
        progress = f"{job.step}/{job.total_steps}" if job.total_steps else ("—" if job.step == 0 else str(job.step))
        eta = ""
        download = download_view(job)
        if download is not None:  # the base model is still downloading
            progress = f"⬇️ {download['done_bytes'] / download['total_bytes']:.0%}"
            eta = _eta_text(download["eta_seconds"])
        elif job.status.value == "running":
            remaining = last_metric(int(job.id), "eta_seconds")
            eta = _eta_text(remaining) if remaining is not None else ""
        name = f"☁️ {job.name}" if job.backend != LOCAL_BACKEND else job.name  # runs on Hugging Face Jobs
        rows.append([job.id, name, job.status.value, progress, eta, f"{job.attempt}/{job.max_attempts}", job.method, public_paths(job.base_model),
                     groups.get(int(job.id), "")])
        choices.append((f"#{job.id} · {job.name} · {job.status.value}", str(job.id)))
    return pd.DataFrame(rows, columns=JOB_COLUMNS), choices


def series_frame(job_id: int, names: list[str]) -> pd.DataFrame | None:
    """Long-format rows (step, value, series) of ``names`` for a LinePlot, each curve read by :func:`jobs.metrics.metric_series` (bounded)."""
    frames = [pd.DataFrame({"step": [s for s, _ in points], "value": [v for _, v in points], "series": name})
              for name in names if (points := metric_series(job_id, name, PLOT_POINTS))]
    # None (not an empty frame) when there is nothing yet: a plot first drawn from empty data draws no line later
    return pd.concat(frames, ignore_index=True) if frames else None


def action_visibility(status: str | None, in_sweep: bool = False) -> list[bool]:
    """Which action buttons apply to a job in ``status`` (None: no job), in :data:`ACTIONS` order."""
    if status is None:
        return [False] * len(ACTIONS)
    shown = {"cancel": status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value),
             "retry": status in (JobStatus.FAILED.value, JobStatus.CANCELLED.value), "duplicate": True,
             "up": status == JobStatus.QUEUED.value, "down": status == JobStatus.QUEUED.value, "delete": status != JobStatus.RUNNING.value,
             "cancel_group": in_sweep, "delete_group": in_sweep}
    return [shown[action] for action in ACTIONS]


def _shown(value: Any, visible: bool) -> Any:
    return gr.update(value=value, visible=visible)


def progress_html(fraction: float, status: str) -> str:
    percent = max(0.0, min(1.0, fraction)) * 100
    return (f'<div class="adapta-progress" data-status="{status}" style="background:#e5e7eb;border-radius:6px;height:14px;width:100%">'
            f'<div style="background:#6366f1;height:14px;border-radius:6px;width:{percent:.1f}%"></div></div>'
            f'<small>{percent:.0f}%</small>')


def _nothing_to_show(text: str) -> list[Any]:
    return [_shown("", False), text, _shown(None, False), _shown(None, False), _shown("", False),
            *[gr.update(visible=False) for _ in ACTIONS]]


def plot_updates(job_id: int) -> list[Any]:
    """The loss and learning-rate plots' updates for one job: each shown once it has a point."""
    losses, rates = series_frame(job_id, ["loss", "eval_loss"]), series_frame(job_id, ["learning_rate"])
    return [_shown(losses, losses is not None), _shown(rates, rates is not None)]


def job_plots(job_id: str | None, caller: Caller) -> list[Any]:
    """The loss and learning-rate plots of one of the caller's jobs; hidden for no job, or a job that is not theirs."""
    try:
        owned = get_job(int(job_id), owner=caller.owner_filter) if job_id else None
    except (AdaptaError, ValueError):
        owned = None
    return plot_updates(int(owned.id)) if owned is not None else [_shown(None, False), _shown(None, False)]


def plot_view(job_id: str | None, request: gr.Request) -> list[Any]:
    """Outputs: loss plot, lr plot of the selected job (:func:`job_plots`)."""
    return job_plots(job_id, caller_of(request))


def job_detail(job_id: str | None, lang: str, request: gr.Request, plots: bool = True) -> list[Any]:
    """Outputs: progress, detail, loss plot, lr plot, log, then the action buttons (:data:`ACTIONS`), each shown only when it has
    something to show or do. ``plots=False`` leaves the two plots as they are (:func:`plot_view` fills them later)."""
    if not job_id:
        return _nothing_to_show(t(lang, "jobs.none_selected"))
    caller = caller_of(request)
    try:
        status = job_status_action(int(job_id), caller)
    except AdaptaError as error:
        return _nothing_to_show(f"⚠️ {error}")
    lines = [
        f"### #{status['id']} · {status['name']}",
        t(lang, "jobs.status_line", status=t(lang, f"status.{status['status']}"), step=status["step"], total=status["total_steps"] or "?",
          attempt=status["attempt"], max_attempts=status["max_attempts"]),
    ]
    if status["download"] is not None:
        lines.append(f"⬇️ {status['phase_text']}")
    elif status["phase"] == "evaluating" and status["status"] == "running":
        done, total = int(status["phase_done"] or 0), int(status["phase_total"] or 0)
        lines.append("📊 " + (t(lang, "jobs.evaluating", done=done, total=total, percent=f"{done / total:.0%}") if total else status["phase_text"]))
    if status["eta_seconds"] is not None:
        lines.append(t(lang, "jobs.eta", eta=_eta_text(status["eta_seconds"])))
    if status["loss"] is not None:
        lines.append(t(lang, "jobs.last_loss", loss=f"{status['loss']:.4f}"))
    if status["remote_url"]:
        lines.append(t(lang, "jobs.remote", url=status["remote_url"]))
    if status["error"]:
        lines.append(f"❌ **{t(lang, 'jobs.error')}**: {status['error']}")
    job = int(job_id)
    try:
        in_sweep = bool(group_of(job, caller.owner_filter))
    except AdaptaError:  # a job of its own
        in_sweep = False
    plotted = plot_updates(job) if plots else [gr.update(), gr.update()]
    return [_shown(progress_html(status["progress"], status["status"]), True), "\n\n".join(lines), *plotted,
            _shown(status["log_tail"], bool(status["log_tail"])),
            *[gr.update(visible=shown) for shown in action_visibility(status["status"], in_sweep)]]


def refresh(selected: str | None, lang: str, sent: dict[str, str] | str | None, request: gr.Request, plots: bool = True) -> list[Any]:
    """Outputs: table, selected (choices), body (shown once there is a job), then :func:`job_detail`'s (``plots``: see there), then
    what was sent (:attr:`JobsTab.sent`). Only the outputs that differ from what ``sent`` says was sent last carry a value
    (:func:`webui.page_poll.changed_only`): a finished job's plots are not redrawn every poll, and the picker is not re-rendered
    (which would close its list under the person's click) while only a running job's progress moves."""
    frame, choices = jobs_table(caller_of(request))
    ids = [value for _, value in choices]
    if selected not in ids:
        selected = ids[0] if ids else None
    values = [frame, gr.update(choices=choices, value=selected), gr.update(visible=bool(ids)), *job_detail(selected, lang, request, plots)]
    updates, now = changed_only(values, sent)
    return [*updates, now]


def first_view(lang: str, request: gr.Request) -> list[Any]:
    """Outputs: :attr:`JobsTab.first_outputs`, the page load's fill of the (not yet opened) tab: :func:`refresh`'s but the plots,
    and what was sent. Drawing two plots is the costliest part of opening the tab (a few hundred ms of the browser's time), so
    they come after the table, when the tab opens (:func:`wire_opened`)."""
    table, picker, body, progress, detail, _loss, _rate, *rest, sent = refresh(None, lang, None, request, plots=False)
    plot_positions = ("5", "6")  # not sent: the first poll sends them (to the tab, drawn when it opens)
    return [table, picker, body, progress, detail, *rest, {key: value for key, value in sent.items() if key not in plot_positions}]


def act(action: str, job_id: str | None, lang: str, caller: Caller) -> str:
    """Cancel, retry, move or delete one of the caller's jobs; the outcome as one line."""
    if not job_id:
        return f"⚠️ {t(lang, 'jobs.none_selected')}"
    number, count = int(job_id), 0
    owner = caller.owner_filter
    try:
        require_writer(caller, f"{action} jobs")
        if action == "cancel":
            request_cancel(number, owner=owner)
        elif action == "retry":
            retry_job(number, owner=owner)
        elif action in ("up", "down"):
            move_job(number, action, owner=owner)
        elif action == "delete":
            delete_job(number, owner=owner)
        elif action in ("cancel_group", "delete_group"):  # every job of the selected job's sweep
            count = len((cancel_group if action == "cancel_group" else delete_group)(group_of(number, owner), owner))
    except AdaptaError as error:
        return f"⚠️ {error}"
    return f"✅ {t(lang, f'jobs.done.{action}', id=number, count=count)}"


def pick_row(frame: pd.DataFrame, evt: gr.SelectData) -> Any:
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        return str(int(frame.iloc[int(row)]["id"]))
    except (IndexError, KeyError, ValueError):
        return gr.update()


def show_job(job_id: str | None, lang: str, samples_shown: str, report_shown: str, request: gr.Request) -> list[Any]:
    """Outputs: :func:`job_detail`'s, :func:`sample_gallery`'s, :func:`webui.report_panel.report_view`'s and the objective plot, for
    a job the person picked."""
    return [*job_detail(job_id, lang, request), *sample_gallery(job_id, samples_shown, request),
            *report_panel.report_view(job_id, report_shown, lang, request), objective_plot.objective_plot_update(job_id, caller_of(request), lang)]


def wire_opened(tab: JobsTab, opened: gr.Tab) -> None:
    """Draw the plots when the tab opens (its ``select`` fires once its table is on the page): see :func:`first_view`."""
    opened.select(plot_view, tab.selected, tab.plot_outputs, api_visibility="private", show_progress="hidden", concurrency_limit=None)


def wire(tab: JobsTab, lang: gr.State, poll: Poll) -> None:
    """The tab's events; its parts of the page's poll go to ``poll`` (:class:`webui.page_poll.Poll`)."""
    outputs, detail_outputs = tab.refresh_outputs, tab.detail_outputs
    poll.add(refresh, [tab.selected, lang, tab.sent], outputs)
    report_panel.wire(tab.report, tab.selected, poll, lang)
    objective_plot.wire(tab.objective_plot, tab.selected, poll, lang, tab.objective_sent)
    gallery_io = ([tab.selected, tab.samples_shown], [tab.samples, tab.samples_shown])
    poll.add(sample_gallery, *gallery_io)
    # A job picked by the person (the picker or a table row): its detail, samples, report and objective curves in one event. A job
    # picked by the app (the page load, Submit, a deleted job's successor) is shown by the next poll.
    shown_inputs = [tab.selected, lang, tab.samples_shown, tab.report.shown]
    shown_outputs = [*detail_outputs, tab.samples, tab.samples_shown, *tab.report.outputs, tab.objective_plot]
    tab.selected.input(show_job, shown_inputs, shown_outputs, api_visibility="private", show_progress="hidden")
    tab.table.select(pick_row, [tab.table], [tab.selected], api_visibility="private").then(
        show_job, shown_inputs, shown_outputs, api_visibility="private", show_progress="hidden")
    compare_view.wire(tab.compare, lang)
    for button, action in ((tab.cancel, "cancel"), (tab.retry, "retry"), (tab.up, "up"), (tab.down, "down"), (tab.delete, "delete"),
                           (tab.cancel_group, "cancel_group"), (tab.delete_group, "delete_group")):
        def on_click(job: str | None, language: str, request: gr.Request, name: str = action) -> str:
            return act(name, job, language, caller_of(request))

        button.click(on_click, [tab.selected, lang], tab.message,
                     api_visibility="private").then(refresh, [tab.selected, lang, tab.sent], outputs, api_visibility="private",
                                                 show_progress="hidden")
