"""The guided path: the six tabs as its steps (Model → Data → Train → Jobs → Try → Share), a status line, Next/Back buttons,
empty states, feedback while waiting.

    parts = guide.build_line()                     # above the tabs: the "done · next" status line
    with guide.step_tab("models"): ...             # each tab header is a step: "✓ 1 · Model", "→ 2 · Data", "3 · Train"
    nav = guide.nav_row(registry, "data")          # at the bottom of a tab: "← Back: model", "Next: train →"
    empty = guide.empty_state(registry, "jobs")    # at the top of a tab: why it is empty, and a button to the step that fills it
    finished = guide.finished_banner(registry)     # Jobs tab: "Job #3 finished" with "Try it" and "Share it"
    guide.wire(parts, tabs, ...)                   # keeps all of it in sync (see :func:`wire`)

There is one navigation: the tab headers. The guide marks the steps done (✓) and the next one (→) on them, and the line above
says what is done and what to do next in the tab that is open. All of it is computed by pure functions from :class:`GuideFacts`
(the model and data chosen, the selected job, whether the Playground answered, which tab is open), so it is unit-tested without
a browser (tests/webui/test_guide.py). The Jobs timer
also sets the browser tab's title to the running job's progress ("42% · planets-lora · Adapta", back to "Adapta" when nothing runs)
and, when a job this page saw running or queued ends, shows a toast and, where the person allowed it when they pressed Submit, a
browser notification.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from jobs.queue import list_jobs
from storage.tables import Job, JobStatus
from webui.access import caller_of
from webui.i18n import DEFAULT_LANGUAGE, Registry, t
from webui.page_poll import Poll, changed_only

STEPS = ("models", "data", "train", "jobs", "playground", "export")
"""The path's steps, each named by the id of the tab that holds it."""
APP_TITLE = "Adapta"
FINISHED = {JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value}
ACTIVE = {JobStatus.QUEUED.value, JobStatus.RUNNING.value}
MARKS = {"done": "✓ ", "next": "→ ", "todo": ""}

SIGNAL_JS = """(signal) => {
  if (!signal) return;
  const state = JSON.parse(signal);
  document.title = state.title;
  window.adaptaNotified = window.adaptaNotified || new Set();
  for (const notice of state.notify || []) {
    if (window.adaptaNotified.has(notice.key)) continue;
    window.adaptaNotified.add(notice.key);
    if ("Notification" in window && Notification.permission === "granted") new Notification("Adapta", {body: notice.text});
  }
}"""
"""Runs in the page after each Jobs timer tick: sets the tab title and shows each new end-of-job notice once."""
ASK_PERMISSION_JS = """() => {
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
}"""
"""Asks for the browser's notification permission; bound to Submit, so it is asked on a click, never on page load."""


@dataclass(frozen=True)
class JobFacts:
    """What the guide needs to know about one job."""

    id: int
    name: str
    status: str
    step: int = 0
    total_steps: int = 0

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @classmethod
    def of(cls, job: Job) -> JobFacts:
        return cls(int(job.id or 0), job.name, job.status.value, int(job.step or 0), int(job.total_steps or 0))


@dataclass(frozen=True)
class GuideFacts:
    """What the session has chosen so far: the guide's whole input."""

    model: str = ""
    data: str = ""
    """The data file the Train form will use (set by "Use this data for training")."""
    data_loaded: bool = False
    """The Data tab shows a file (uploaded, picked or from the Hub), used or not yet."""
    job: JobFacts | None = None
    """The job selected in the Jobs tab (the one the person follows)."""
    tried: bool = False
    """The Playground has answered."""
    has_jobs: bool = False
    has_finished: bool = False
    """At least one job succeeded (so the Playground and Export have something)."""
    current: str = "models"


def step_done(facts: GuideFacts) -> dict[str, bool]:
    """Which steps are done: a model and data picked, a job submitted, it succeeded, the Playground answered (sharing never ends)."""
    succeeded = facts.job is not None and facts.job.status == JobStatus.SUCCEEDED.value
    return {"models": bool(facts.model), "data": bool(facts.data), "train": facts.job is not None, "jobs": succeeded,
            "playground": succeeded and facts.tried, "export": False}


def next_step(facts: GuideFacts) -> str:
    """The first step still to do: before a job exists, of model/data/train; after, of jobs/try/share."""
    done = step_done(facts)
    candidates = STEPS[3:] if done["train"] else STEPS[:3]
    return next((step for step in candidates if not done[step]), "export")


def step_marks(facts: GuideFacts) -> dict[str, str]:
    """``done``, ``next`` or ``todo`` for each step."""
    done, upcoming = step_done(facts), next_step(facts)
    return {step: "done" if done[step] else "next" if step == upcoming else "todo" for step in STEPS}


def step_label(step: str, mark: str, lang: str) -> str:
    """The step's tab header, e.g. "✓ 1 · Model"."""
    return MARKS[mark] + t(lang, f"tab.{step}")


def display_name(reference: str) -> str:
    """A short name for a model or data reference: the last part of a path or Hub id (a ``hub:`` dataset keeps its id)."""
    text = (reference or "").strip().rstrip("/")
    if text.startswith("hub:"):
        return text
    return text.replace("\\", "/").rsplit("/", 1)[-1]


def _percent(job: JobFacts) -> str:
    return f"{job.progress:.0%}"


def hint_step(facts: GuideFacts) -> str:
    """The step the "Next" line talks about: the open tab's own step while there is something to do in it, else the step that
    comes next on the path (the open tab is done, or it has nothing to work on yet: no job, no finished job)."""
    here, done = facts.current, step_done(facts)
    if here not in STEPS or done[here]:
        return next_step(facts)
    workable = {"jobs": facts.job is not None, "playground": facts.has_finished, "export": facts.has_finished}
    return here if workable.get(here, True) else next_step(facts)


def next_hint(facts: GuideFacts, lang: str) -> str:
    """One clause saying what to do next, in the tab that is open (see :func:`hint_step`)."""
    step, job = hint_step(facts), facts.job
    if step == "jobs" and job is not None:
        if job.status in ACTIVE:
            return t(lang, "guide.hint.jobs_waiting", id=job.id, progress=_percent(job))
        return t(lang, "guide.hint.jobs_failed", id=job.id, status=t(lang, f"status.{job.status}"))
    if step in ("playground", "export"):
        if job is not None and job.status == JobStatus.SUCCEEDED.value:
            return t(lang, f"guide.hint.{step}", id=job.id)
        return t(lang, f"guide.hint.{step}_any")  # the selected job has not succeeded; another one has
    return t(lang, f"guide.hint.{step}")


def guide_line(facts: GuideFacts, lang: str) -> str:
    """The status line above the tabs: what is done, then what is next, e.g. "✓ Model: SmolLM2-135M-Instruct · Next: upload your data …"."""
    parts = []
    if facts.model:
        parts.append("✓ " + t(lang, "guide.done.models", value=display_name(facts.model)))
    if facts.data:
        parts.append("✓ " + t(lang, "guide.done.data", value=display_name(facts.data)))
    if facts.job is not None:
        mark = "✓ " if facts.job.status == JobStatus.SUCCEEDED.value else "⏳ " if facts.job.status in ACTIVE else "⚠️ "
        status = t(lang, f"status.{facts.job.status}")
        if facts.job.status == JobStatus.RUNNING.value:
            status += f" {_percent(facts.job)}"
        parts.append(mark + t(lang, "guide.done.train", id=facts.job.id, name=facts.job.name, status=status))
    if step_done(facts)["playground"]:
        parts.append("✓ " + t(lang, "guide.done.playground"))
    parts.append("**" + t(lang, "guide.next", hint=next_hint(facts, lang)) + "**")
    return " · ".join(parts)


def empty_target(facts: GuideFacts, tab: str) -> str | None:
    """Where an empty tab's button leads: the next step of the path, or nowhere when that is this very tab."""
    step = next_step(facts)
    return None if step == tab else step


def empty_visible(facts: GuideFacts, tab: str) -> bool:
    """An empty state shows when its tab has nothing: no data chosen, no job, no finished job."""
    if tab == "data":
        return not (facts.data or facts.data_loaded)
    if tab == "jobs":
        return not facts.has_jobs
    return not facts.has_finished


def tab_title(jobs: list[JobFacts]) -> str:
    """The browser tab's title: the first running job's progress, else the app's name."""
    running = [job for job in jobs if job.status == JobStatus.RUNNING.value]
    return f"{_percent(running[0])} · {running[0].name} · {APP_TITLE}" if running else APP_TITLE


def ended_jobs(seen: dict[str, str], jobs: list[JobFacts]) -> list[JobFacts]:
    """Jobs that were queued or running at the last look (``seen``: id → status) and have finished now."""
    return [job for job in jobs if str(job.id) in seen and seen[str(job.id)] in ACTIVE and job.status in FINISHED]


def end_notice(job: JobFacts, lang: str) -> str:
    return t(lang, f"guide.ended.{job.status}", id=job.id, name=job.name)


def keep_selection(update: dict[str, Any], current: str | None) -> dict[str, Any]:
    """A choices update for a picker that keeps the current value when it is still among the choices."""
    values = [str(value) for _, value in update.get("choices", [])]
    if current and str(current) in values:
        update["value"] = str(current)
    return update


# ---------------------------------------------------------------- widgets


@dataclass
class EmptyState:
    group: gr.Group
    text: gr.Markdown
    go: gr.Button


@dataclass
class NavRow:
    back: gr.Button | None
    next: gr.Button | None


@dataclass
class FinishedBanner:
    group: gr.Group
    text: gr.Markdown
    try_it: gr.Button
    share_it: gr.Button


@dataclass
class GuideParts:
    """Every widget of the guide; :func:`build_line` makes the line, the app adds the per-tab parts as it builds each tab and
    :func:`wire` takes the tabs (their headers are the steps)."""

    line: gr.Markdown
    current: gr.State
    seen: gr.State
    signal: gr.Textbox
    sent: gr.State
    """What the last poll or tab switch sent, a fingerprint per output (:func:`webui.page_poll.changed_only`)."""
    nav: dict[str, NavRow] = field(default_factory=dict)
    empty: dict[str, EmptyState] = field(default_factory=dict)
    finished: FinishedBanner | None = None
    tabs: dict[str, gr.Tab] = field(default_factory=dict)
    """The step tabs by id (given to :func:`wire`); the guide keeps their headers' marks."""


def build_line() -> GuideParts:
    """The status line, "✓ done · Next: …" (place above the tabs)."""
    line = gr.Markdown(guide_line(GuideFacts(), "en"), elem_id="guide-line")
    signal = gr.Textbox(visible="hidden", elem_id="guide-signal", show_label=False, container=False)
    return GuideParts(line, gr.State("models"), gr.State(None), signal, gr.State(None))


def step_tab(step: str) -> gr.Tab:
    """The tab of one step (use as ``with``): id ``step``, elem_id ``tab-<step>``, its header the step's label, marked by the guide."""
    return gr.Tab(step_label(step, step_marks(GuideFacts())[step], DEFAULT_LANGUAGE), id=step, elem_id=f"tab-{step}")


def nav_row(r: Registry, tab: str) -> NavRow:
    """"← Back" to the previous step (always) and "Next →" to the following one (shown once this tab's step is done)."""
    index = STEPS.index(tab)
    with gr.Row(elem_id=f"guide-nav-{tab}"):
        back = r.button(f"guide.back_to.{STEPS[index - 1]}", size="sm", elem_id=f"guide-back-{tab}") if index > 0 else None
        ahead = (r.button(f"guide.next_to.{STEPS[index + 1]}", size="sm", variant="primary", visible=False, elem_id=f"guide-next-{tab}")
                 if index + 1 < len(STEPS) else None)
    return NavRow(back, ahead)


def empty_state(r: Registry, tab: str) -> EmptyState:
    """Why ``tab`` is empty, and a button to the step that fills it (hidden until the guide has looked)."""
    with gr.Group(visible=False, elem_id=f"guide-empty-{tab}") as group:
        text = r.markdown(f"guide.empty.{tab}", elem_id=f"guide-empty-{tab}-text")
        go = gr.Button(size="sm", visible=False, elem_id=f"guide-empty-{tab}-go")
    return EmptyState(group, text, go)


def finished_banner(r: Registry) -> FinishedBanner:
    """For the Jobs tab: the selected job finished, "Try it" and "Share it"."""
    with gr.Group(visible=False, elem_id="guide-finished") as group:
        text = gr.Markdown(elem_id="guide-finished-text")
        with gr.Row():
            try_it = r.button("guide.try", variant="primary", size="sm", elem_id="guide-try")
            share_it = r.button("guide.share", size="sm", elem_id="guide-share")
    return FinishedBanner(group, text, try_it, share_it)


# ---------------------------------------------------------------- events


def _caller_jobs(request: gr.Request) -> list[JobFacts]:
    return [JobFacts.of(job) for job in list_jobs(owner=caller_of(request).owner_filter, limit=200)]


def gather_facts(current: str, model: str, data_file: str, data_path: str, selected: str | None, adapted: str,
                 jobs: list[JobFacts]) -> GuideFacts:
    """The facts from the widgets' values and the caller's jobs."""
    chosen = next((job for job in jobs if str(job.id) == str(selected or "")), None)
    return GuideFacts(model=(model or "").strip(), data=(data_file or "").strip(), data_loaded=bool((data_path or "").strip()), job=chosen,
                      tried=bool((adapted or "").strip()), has_jobs=bool(jobs),
                      has_finished=any(job.status == JobStatus.SUCCEEDED.value for job in jobs), current=current or "models")


def view_updates(parts: GuideParts, facts: GuideFacts, lang: str) -> list[Any]:
    """Updates for :func:`view_outputs`, in its order."""
    marks, done = step_marks(facts), step_done(facts)
    updates: list[Any] = [gr.update(label=step_label(step, marks[step], lang)) for step in parts.tabs]
    updates.append(guide_line(facts, lang))
    updates += [gr.update(visible=done[tab]) for tab, row in parts.nav.items() if row.next is not None]
    for tab in parts.empty:
        target = empty_target(facts, tab)
        updates.append(gr.update(visible=empty_visible(facts, tab)))
        updates.append(gr.update(visible=target is not None, value=t(lang, "guide.go", step=t(lang, f"tab.{target}")) if target else None))
    if parts.finished is not None:
        succeeded = done["jobs"] and facts.job is not None
        updates.append(gr.update(visible=succeeded))
        updates.append(t(lang, "guide.finished", id=facts.job.id, name=facts.job.name) if succeeded and facts.job else "")
    return updates


def view_outputs(parts: GuideParts) -> list[Any]:
    outputs: list[Any] = [*parts.tabs.values(), parts.line]
    outputs += [row.next for row in parts.nav.values() if row.next is not None]
    for empty in parts.empty.values():
        outputs += [empty.group, empty.go]
    if parts.finished is not None:
        outputs += [parts.finished.group, parts.finished.text]
    return outputs


def wire(parts: GuideParts, tabs: gr.Tabs, tab_blocks: dict[str, gr.Tab], lang: gr.State, fact_inputs: list[Any],
         poll: Poll, on_try: Callable[..., Any], try_outputs: list[Any], on_share: Callable[..., Any], share_outputs: list[Any],
         selected: gr.Component, ask_permission: gr.Button) -> None:
    """Keep the guide in sync and make its buttons move the person along.

    ``fact_inputs``: the base model, train file, data path, selected job and the Playground's last adapted answer (in that
    order). Every tab switch (ours or the app's own: "Use this model", Submit ...) fires the tab's select, which re-renders; on
    the page's ``poll`` (the Jobs timer) the guide re-renders what changed and drives the title and the end-of-job notices.
    ``on_try(selected)`` / ``on_share`` set the job the Playground / Export tab shows (``try_outputs`` / ``share_outputs``) before
    that tab opens and builds its body.
    ``ask_permission``: the button whose click asks for notifications.
    The first render needs no load event: Gradio fires the first tab's select as that tab mounts, on every page load.
    The tab headers are the steps: every re-render marks them (and translates them on a language switch)."""
    parts.tabs = dict(tab_blocks)
    inputs = [parts.current, *fact_inputs, lang]
    outputs = view_outputs(parts)

    def rerender(current: str, model: str, data_file: str, data_path: str, chosen: str | None, adapted: str, language: str,
                 request: gr.Request) -> list[Any]:
        """The guide's whole view, and what it sent (a later poll sends only what differs from it)."""
        views = view_updates(parts, gather_facts(current, model, data_file, data_path, chosen, adapted, _caller_jobs(request)), language)
        return [*views, changed_only(views, None)[1]]

    def arrival(tab: str) -> Callable[..., list[Any]]:
        """The handler of ``tab``'s select: remember it as the current tab and re-render."""
        def arrive(model: str, data_file: str, data_path: str, chosen: str | None, adapted: str, language: str,
                   request: gr.Request) -> list[Any]:
            return [tab, *rerender(tab, model, data_file, data_path, chosen, adapted, language, request)]

        return arrive

    def tick(current: str, model: str, data_file: str, data_path: str, chosen: str | None, adapted: str, language: str,
             seen: dict[str, str] | None, sent: dict[str, str] | None, request: gr.Request) -> list[Any]:
        jobs = _caller_jobs(request)
        notify = []
        for job in ended_jobs(seen or {}, jobs):
            text = end_notice(job, language)
            (gr.Info if job.status == JobStatus.SUCCEEDED.value else gr.Warning)(text)
            notify.append({"key": f"{job.id}:{job.status}", "text": text})
        facts = gather_facts(current, model, data_file, data_path, chosen, adapted, jobs)
        signal = json.dumps({"title": tab_title(jobs), "notify": notify})
        views, now = changed_only(view_updates(parts, facts, language), sent)  # most polls change nothing: nothing re-rendered
        return [*views, now, {str(job.id): job.status for job in jobs if job.status in ACTIVE}, signal]

    quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden", "concurrency_limit": None}
    for tab, block in tab_blocks.items():
        block.select(arrival(tab), fact_inputs + [lang], [parts.current, *outputs, parts.sent], **quiet)
    lang.change(rerender, inputs, [*outputs, parts.sent], **quiet)
    poll.add(tick, [*inputs, parts.seen, parts.sent], [*outputs, parts.sent, parts.seen, parts.signal])
    poll.add_script(SIGNAL_JS, [parts.signal])
    ask_permission.click(None, None, None, js=ASK_PERMISSION_JS, api_visibility="private")

    def opener(tab: str) -> Callable[[], Any]:
        return lambda: gr.update(selected=tab)

    for tab, row in parts.nav.items():
        index = STEPS.index(tab)
        if row.back is not None:
            row.back.click(opener(STEPS[index - 1]), None, tabs, api_visibility="private")
        if row.next is not None:
            row.next.click(opener(STEPS[index + 1]), None, tabs, api_visibility="private")

    def go_next(current: str, model: str, data_file: str, data_path: str, chosen: str | None, adapted: str, language: str,
                request: gr.Request) -> Any:
        facts = gather_facts(current, model, data_file, data_path, chosen, adapted, _caller_jobs(request))
        return gr.update(selected=next_step(facts))

    for empty in parts.empty.values():
        empty.go.click(go_next, inputs, tabs, api_visibility="private")
    if parts.finished is not None:
        parts.finished.try_it.click(on_try, selected, try_outputs, api_visibility="private").then(
            opener("playground"), None, tabs, api_visibility="private")
        parts.finished.share_it.click(on_share, selected, share_outputs, api_visibility="private").then(
            opener("export"), None, tabs, api_visibility="private")


__all__ = ["STEPS", "GuideFacts", "GuideParts", "JobFacts", "build_line", "empty_state", "finished_banner", "guide_line", "hint_step",
           "nav_row", "next_step", "step_marks", "step_tab", "tab_title", "wire"]
