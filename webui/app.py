"""The Adapta web app: assembles the tabs, the language switch and the public API, and serves it.

    python launch.py                        # serves on 127.0.0.1:7860 with the embedded worker
    from webui.app import build_app, serve  # build_app() -> gr.Blocks; serve(host, port, share)

Uploads are limited by ``ADAPTA_MAX_UPLOAD_MB`` (default 200). The web server never trains: jobs go to
the queue, and a worker runs each in a child process.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from jobs.errors import AdaptaError
from jobs.queue import get_job
from jobs.spec import HUB_DATA_PREFIX, JobSpec, parse_spec
from storage.users import load_users, verify_user
from webui import data_tab, export_tab, guide, jobs_tab, models_tab, playground_tab, remote_section, reward_section, train_tab
from webui.access import AccessMode, Caller, access_mode, caller_hub_token, caller_of, set_access_mode
from webui.api import register_api
from webui.api_data import max_upload_bytes
from webui.api_models import model_info_action
from webui.front_door import FIRST_DELAY_S, FREE_FAILURES, MAX_DELAY_S, FrontDoor, throttled_sign_in
from webui.i18n import DEFAULT_LANGUAGE, LANGUAGES, Registry, t
from webui.page_config import AdaptaBlocks
from webui.page_poll import Poll
from webui.style import CSS, HEAD, THEME


def who_line(request: gr.Request, lang: str = DEFAULT_LANGUAGE) -> str:
    """One line under the title: who is signed in, or what an anonymous or demo visitor may do."""
    mode = access_mode()
    if mode is AccessMode.OPEN:
        return ""
    if mode is AccessMode.DEMO:
        return t(lang, "access.demo")
    caller = caller_of(request)
    return t(lang, "access.signed_in", name=caller.name) if caller.name else t(lang, "access.anonymous")


def build_app(mode: AccessMode | str | None = None) -> gr.Blocks:
    """The whole UI as a Blocks app (not launched); ``mode`` sets who may do what (see webui.access)."""
    if mode is not None:
        set_access_mode(mode)
    registry = Registry()
    with AdaptaBlocks(title="Adapta") as demo:
        lang = gr.State(DEFAULT_LANGUAGE)
        with gr.Row():
            registry.markdown("app.title")
            language = gr.Radio(choices=list(LANGUAGES), value="English", show_label=False, container=False, elem_id="language")
        with gr.Row():
            who = gr.Markdown(elem_id="who")
            if access_mode() is AccessMode.HF_OAUTH:
                gr.LoginButton(scale=0)
        guided = guide.build_line()  # the guided path: the "done · next" line; the tab headers are its steps; per-tab parts below
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as tabs:
            with guide.step_tab("models") as models_tab_block:
                models = models_tab.build(registry)
                guided.nav["models"] = guide.nav_row(registry, "models")
            with guide.step_tab("data") as data_tab_block:
                guided.empty["data"] = guide.empty_state(registry, "data")
                data = data_tab.build(registry)
                guided.nav["data"] = guide.nav_row(registry, "data")
            with guide.step_tab("train") as train_tab_block:
                # the GRPO reward builder + preview (causal-lm, objective grpo) sits between Advanced and Submit
                train = train_tab.build(registry, before_summary=lambda: reward_section.build(registry))
                rewards = train.inserted
                remote = remote_section.build(registry)
                guided.nav["train"] = guide.nav_row(registry, "train")
            with guide.step_tab("jobs") as jobs_tab_block:
                guided.empty["jobs"] = guide.empty_state(registry, "jobs")
                guided.finished = guide.finished_banner(registry)
                jobs = jobs_tab.build(registry)
                guided.nav["jobs"] = guide.nav_row(registry, "jobs")
            with guide.step_tab("playground") as play_tab_block:
                guided.empty["playground"] = guide.empty_state(registry, "playground")
                play = playground_tab.build(lang, play_tab_block)  # its body is built when the tab opens
                guided.nav["playground"] = guide.nav_row(registry, "playground")
            with guide.step_tab("export") as export_tab_block:
                guided.empty["export"] = guide.empty_state(registry, "export")
                export = export_tab.build(lang, export_tab_block)  # its body is built when the tab opens
                guided.nav["export"] = guide.nav_row(registry, "export")
        register_api()

        task_widget = train.widget("task")
        models_tab.wire(models, lang)
        task_widget.change(models_tab.filter_for_task, task_widget, models.task, api_visibility="private")  # the filter follows the task
        data_tab.wire(data, lang, task_widget, train.base_model, train.widget("training.max_length"),
                      train.widget("training.train_on_prompt"), train.widget("data.thinking"))

        def after_submit(job_id: int, caller: Caller) -> list[Any]:
            return [gr.update(selected="jobs"), gr.update(choices=jobs_tab.jobs_table(caller)[1], value=str(job_id)), gr.update(visible=True)]

        train_tab.wire(train, lang, [tabs, jobs.selected, jobs.body], after_submit, hub_token=models.token)
        remote_section.wire(remote, train, lang, [tabs, jobs.selected, jobs.body], after_submit)
        reward_section.wire(rewards, train, lang)
        poll = Poll()  # one event per tick of the Jobs timer for every part that follows the jobs (webui/page_poll.py)
        jobs_tab.wire(jobs, lang, poll)
        jobs_tab.wire_opened(jobs, jobs_tab_block)

        def use_model(ref: str, language: str, token: str, oauth_token: gr.OAuthToken | None) -> list[Any]:
            ref = (ref or "").strip()
            try:
                info = model_info_action(ref, caller_hub_token(token, oauth_token))
            except AdaptaError as error:
                return [f"⚠️ {error}", gr.update(), gr.update(), gr.update()]
            task = info.get("task") or gr.update()
            return [f"✅ {t(language, 'models.chosen', model=ref)}", ref, task, gr.update(selected="data")]

        models.use.click(use_model, [models.model_ref, lang, models.token], [models.status, train.base_model, task_widget, tabs],
                         api_visibility="private").then(**train.recommend_listener)  # the Train tab's advice follows the model

        def use_data(path: str, fmt: str, language: str, config: str, split: str, *roles: str) -> list[Any]:
            if not path:
                return [f"⚠️ {t(language, 'data.none')}", *[gr.update()] * 7]
            columns = data_tab.current_mapping(fmt, *roles)
            hub = path.startswith(HUB_DATA_PREFIX)
            return ["", path, columns, train_tab.columns_text(columns), fmt or "auto", (config or None) if hub else None,
                    (split or "train") if hub else "train", gr.update(selected="train")]

        data.use.click(use_data, [data.path, data.format, lang, data.hub_config, data.hub_split, *data.role_list],
                       [data.status, train.train_file, train.columns, train.columns_view, train.widget("data.format"), train.widget("data.config"),
                        train.widget("data.split"), tabs], api_visibility="private").then(**train.recommend_listener)  # and the data

        fill_outputs = train.fill_outputs

        def duplicate(job_id: str | None, language: str, request: gr.Request) -> list[Any]:
            try:
                job = get_job(int(job_id or 0), owner=caller_of(request).owner_filter)
                spec = parse_spec(JobSpec.model_validate_json(job.spec_json).model_dump(mode="json"))
            except (AdaptaError, ValueError) as error:
                return [f"⚠️ {error}", *[gr.update()] * len(fill_outputs), gr.update()]
            return [t(language, "jobs.duplicated", id=job_id), *train_tab.fill_from_spec(train, spec), gr.update(selected="train")]

        jobs.duplicate.click(duplicate, [jobs.selected, lang], [jobs.message, *fill_outputs, tabs], api_visibility="private")
        # The Playground's and Export's bodies are built as their tab opens, with the job the guide's "Try it" / "Share it" asked
        # for, else the one picked before, else the newest (the guide's empty state says why a tab has no body).

        def picked_job(job_id: str | None) -> str | None:
            return str(job_id) if job_id else None

        tab_blocks = {"models": models_tab_block, "data": data_tab_block, "train": train_tab_block, "jobs": jobs_tab_block,
                      "playground": play_tab_block, "export": export_tab_block}
        guide.wire(guided, tabs, tab_blocks, lang, [train.base_model, train.train_file, data.path, jobs.selected, play.answer],
                   poll, picked_job, [play.wanted], picked_job, [export.wanted], jobs.selected, train.submit)
        poll.wire()  # at the top level, not in the Jobs tab: a timer starts when its tab first opens

        def switch(name: str) -> list[Any]:
            code = LANGUAGES.get(name, DEFAULT_LANGUAGE)
            return [code, *registry.updates(code)]

        language.change(switch, language, [lang, *registry.components], api_visibility="private").then(
            who_line, lang, who, api_visibility="private")

        if access_mode() is not AccessMode.OPEN:  # open mode has nobody to name: one load event fewer per page
            demo.load(who_line, None, who, api_visibility="private")
        # Controls that write are greyed out for callers who may not write (demo visitors, anonymous Space visitors); the
        # server refuses their events anyway.
        write_controls = [data.upload, train.submit, remote.send, jobs.cancel, jobs.retry, jobs.up, jobs.down,  # and Export's, as it is built
                          jobs.delete, jobs.duplicate, models.download, models.delete]

        def writable(request: gr.Request) -> list[Any]:
            return [gr.update(interactive=caller_of(request).can_write)] * len(write_controls)

        if access_mode() is not AccessMode.OPEN:
            demo.load(writable, None, write_controls, api_visibility="private")
        # Independent loads, so the jobs table does not wait for the model search (which may wait on the Hub); the Jobs plots are
        # drawn when that tab opens, after its table (jobs_tab.first_view).
        demo.load(jobs_tab.first_view, lang, jobs.first_outputs, api_visibility="private")
        demo.load(models_tab.first_results, lang, [models.notice, models.results, models.result_rows],
                  api_visibility="private")
        # Read when they are looked at, not on every page load: earlier uploads when the Data tab opens, the Hugging Face cache when
        # its accordion opens (models_tab.wire).
        data_tab_block.select(data_tab.previous_with_box, None, [data.previous, data.previous_box], api_visibility="private",
                              show_progress="hidden")
    return demo


def sign_in_check() -> Callable[[str, str], Awaitable[bool]]:
    """Gradio's ``auth`` for accounts mode: the throttled password check against users.json, run off the event loop
    (webui.front_door); refuses to start with no accounts."""
    if not load_users():
        raise AdaptaError("--auth needs at least one account; add one with `python launch.py adduser NAME` (the password is read from stdin)")
    return throttled_sign_in(verify_user)


def launch_app(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, share: bool = False, *, prevent_thread_lock: bool = False,
               quiet: bool = False) -> Any:
    """Launch ``demo`` with Adapta's settings (queue, upload limit, no SSR, nothing extra served, sign-in in accounts mode).

    FastAPI gets :class:`webui.front_door.FrontDoor` as its own middleware (``app_kwargs``: Gradio builds the app inside
    ``launch``), so every HTTP response carries the security headers and the sign-in check knows the client address."""
    auth = sign_in_check() if access_mode() is AccessMode.ACCOUNTS else None
    auth_message = (f"Sign in with your Adapta account (created with `python launch.py adduser NAME`). After {FREE_FAILURES} failed "
                    f"sign-ins in a row, sign-in pauses for {FIRST_DELAY_S:g} s, doubling up to {MAX_DELAY_S / 60:g} minutes; "
                    "until the pause ends even the right password is refused.")
    demo.queue(default_concurrency_limit=4)
    return demo.launch(server_name=host, server_port=port, share=share, ssr_mode=False, max_file_size=max_upload_bytes(),
                       auth=auth, auth_message=auth_message if auth else None, app_kwargs={"middleware": [Middleware(FrontDoor)]},
                       allowed_paths=[], prevent_thread_lock=prevent_thread_lock, quiet=quiet, css=CSS + models_tab.CSS, head=HEAD, theme=THEME,
                       footer_links=["api"])


def serve(host: str = "127.0.0.1", port: int = 7860, share: bool = False, mode: AccessMode | str = AccessMode.OPEN) -> None:
    """Build and serve the app until interrupted (``launch.py`` starts the worker first)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    launch_app(build_app(mode), host=host, port=port, share=share)


__all__ = ["build_app", "launch_app", "serve"]
