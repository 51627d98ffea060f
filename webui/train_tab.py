"""Train tab: the JobSpec form (generated from its schema), presets, pre-flight check, YAML round trip, Submit.

Pre-flight estimates memory for the chosen model and method against what this machine has (GPU, else
RAM), counts the optimizer steps, and turns a throughput measured by an earlier job on the same model into
a time estimate; a job that cannot fit is refused before it reaches the queue.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from jobs import hub
from jobs.data import read_records
from jobs.errors import AdaptaError, SpecError
from jobs.queue import list_jobs
from jobs.spec import JobSpec, parse_spec, parse_spec_yaml
from storage.tables import JobStatus
from webui.access import Caller, caller_hub_token, caller_of, current_caller, require_writer
from webui.api import check_data_owned, check_model_allowed, home_paths, submit_spec
from webui.i18n import Registry, t
from webui.spec_form import (
    IMAGE_TASK,
    METHOD_SECTIONS,
    OBJECTIVE_SECTIONS,
    PRESETS,
    FormField,
    field_visible,
    make_widget,
    method_sections,
    methods_for_task,
    objective_sections,
    schema_fields,
    spec_to_values,
    values_to_spec,
)

ADVANCED_SECTIONS = ("evaluation", "resources")


@dataclass
class TrainTab:
    fields: list[FormField]
    widgets: list[gr.components.Component]
    groups: dict[str, gr.Group]
    base_model: gr.Textbox
    train_file: gr.Textbox
    columns: gr.State
    columns_view: gr.Markdown
    preset: gr.Radio
    preflight: gr.Button
    preflight_out: gr.Markdown
    show_yaml: gr.Button
    yaml_view: gr.Code
    download: gr.DownloadButton
    upload_yaml: gr.UploadButton
    submit: gr.Button
    status: gr.Markdown

    def widget(self, path: str) -> gr.components.Component:
        return self.widgets[[field.path for field in self.fields].index(path)]

    @property
    def form_inputs(self) -> list[gr.components.Component]:
        """The components whose values :func:`form_spec` turns into a spec, in its order."""
        return [self.base_model, self.train_file, self.columns, *self.widgets]


def build(r: Registry) -> TrainTab:
    fields = schema_fields()
    widgets: list[Any] = []
    groups: dict[str, Any] = {}
    r.markdown("train.intro")
    with gr.Row():
        base_model = r.make(gr.Textbox, "train.base_model", info="train.base_model.info", elem_id="train-base-model")
        train_file = r.make(gr.Textbox, "train.data_file", info="train.data_file.info", elem_id="train-data-file")
    columns = gr.State({})
    columns_view = gr.Markdown(elem_id="train-columns")
    preset = r.make(gr.Radio, "train.preset", choices=list(PRESETS), value=None, elem_id="train-preset")

    def add(field: FormField) -> None:
        widget = make_widget(field, t("en", f"field.{field.path}"), t("en", f"field.{field.path}.info"),
                             visible=field_visible(field, JobSpec.model_fields["task"].default.value))
        widgets.append(r.register(widget, label=f"field.{field.path}", info=f"field.{field.path}.info"))

    by_section: dict[str, list[FormField]] = {}
    for field in fields:
        by_section.setdefault(field.section, []).append(field)
    ordered: list[FormField] = []
    for section in by_section:
        if section in ADVANCED_SECTIONS:
            continue
        if section in METHOD_SECTIONS or section in OBJECTIVE_SECTIONS:
            with gr.Group(visible=section in method_sections("lora")) as group:
                r.markdown(f"train.section.{section}")
                for field in by_section[section]:
                    add(field)
                    ordered.append(field)
            groups[section] = group
        elif section == "training":
            with r.make(gr.Accordion, "train.section.training", open=True):
                for field in by_section[section]:
                    add(field)
                    ordered.append(field)
        else:
            with gr.Row():
                for field in by_section[section]:
                    add(field)
                    ordered.append(field)
    with r.make(gr.Accordion, "train.advanced", open=False):
        for section in ADVANCED_SECTIONS:
            for field in by_section.get(section, []):
                add(field)
                ordered.append(field)
    with gr.Row():
        preflight = r.button("train.preflight", elem_id="train-preflight")
        submit = r.button("train.submit", variant="primary", elem_id="train-submit")
    preflight_out = gr.Markdown(elem_id="train-preflight-out")
    status = gr.Markdown(elem_id="train-status")
    with r.make(gr.Accordion, "train.yaml", open=False):
        with gr.Row():
            show_yaml = r.button("train.show_yaml")
            download = r.make(gr.DownloadButton, "train.download_yaml", attr="label")
            upload_yaml = r.make(gr.UploadButton, "train.upload_yaml", attr="label", file_types=[".yaml", ".yml"], type="filepath")
        yaml_view = gr.Code(language="yaml", interactive=True, elem_id="train-yaml")
    return TrainTab(ordered, widgets, groups, base_model, train_file, columns, columns_view, preset, preflight, preflight_out,
                    show_yaml, yaml_view, download, upload_yaml, submit, status)


def form_spec(tab: TrainTab, values: list[Any]) -> JobSpec:
    """The validated spec from the form's values: [base_model, train_file, columns, *widgets]."""
    base_model, train_file, columns, *rest = values
    return parse_spec(values_to_spec(tab.fields, list(rest), base_model=base_model, train=train_file, columns=columns))


def count_steps(spec: JobSpec, read_data: bool = True) -> int | None:
    """Optimizer steps the job will take (max_steps, else epochs over the training rows; unknown when ``read_data`` is off)."""
    if spec.training.max_steps:
        return spec.training.max_steps
    try:
        if spec.data.from_hub or not read_data:
            return None  # known once the job has streamed it; a caller who cannot train reads no file
        rows = len(read_records(spec.data.train))
    except AdaptaError:
        return None
    fraction = spec.data.validation if isinstance(spec.data.validation, float) else 0.0
    per_epoch = math.ceil(rows * (1 - fraction) / spec.training.batch_size / spec.training.gradient_accumulation)
    return max(1, math.ceil(per_epoch * spec.training.epochs))


def seconds_per_step(base_model: str, owner: str | None = None) -> float | None:
    """Measured by the caller's latest succeeded job on the same base model (wall time / steps), if any."""
    for job in list_jobs(owner=owner, status=JobStatus.SUCCEEDED, limit=50):
        if job.base_model == base_model and job.started_at and job.finished_at and job.total_steps:
            return (job.finished_at - job.started_at).total_seconds() / job.total_steps
    return None


def preflight_report(spec: JobSpec, lang: str, caller: Caller | None = None, hub_token: str | None = None) -> tuple[bool, str]:
    """(fits, markdown): the Hub model's download check, memory estimate vs available, steps, and a time estimate when a throughput
    is known. ``hub_token`` is the caller's (gated or private models). Rows are counted only in the caller's own data (on a
    multi-user server their uploads; no caller given: the caller of the Gradio event being handled)."""
    from jobs.hub_tokens import token_for_request
    from jobs.models.fetch import download_preflight

    lines = []
    fits = True
    token = token_for_request(hub_token)
    caller = caller or current_caller()
    owner = caller.owner_filter
    try:
        spec = home_paths(spec)
        check_model_allowed(spec.base_model, caller)
        if caller.can_write:
            check_data_owned(spec, caller)
        download = download_preflight(spec, token)
    except AdaptaError as error:
        return False, f"❌ {error}"
    if spec.task.value == IMAGE_TASK:
        return image_preflight(spec, lang, owner, download, read_data=caller.can_write)
    try:
        precision = {"fp32": 4, "bf16": 2, "fp16": 2}.get(spec.training.precision.value)  # auto: fp32 on CPU, 16-bit on a GPU
        info = hub.model_info(spec.base_model, batch_size=spec.training.batch_size, seq_len=spec.training.max_length, token=token,
                              gradient_checkpointing=spec.training.gradient_checkpointing, precision_bytes=precision, lora_r=spec.lora.r,
                              lora_targets=spec.lora.target_modules)
    except AdaptaError as error:
        return False, f"❌ {error}"
    if download:
        lines.append(f"⬇️ {download}")
    row = info["memory"][spec.method.value]
    if not info["verdict"]["ok"]:
        fits = False
        lines.append(f"❌ {t(lang, 'models.incompatible')}: " + "; ".join(info["verdict"]["reasons"]))
    if row["fits"] is False:
        fits = False
        lines.append(f"❌ {t(lang, 'train.no_fit', estimate=row['human'], device=row['device'])}")
    else:
        lines.append(f"✅ {t(lang, 'train.fits', estimate=row['human'], device=row['device'])}")
    steps = count_steps(spec, read_data=caller.can_write)
    lines.append(t(lang, "train.steps", steps=steps if steps is not None else "?"))
    per_step = seconds_per_step(spec.base_model, owner)
    if per_step and steps:
        lines.append(t(lang, "train.time", minutes=f"{per_step * steps / 60:.1f}"))
    else:
        lines.append(t(lang, "train.time_unknown"))
    return fits, "\n\n".join(f"- {line}" for line in lines)


def image_preflight(spec: JobSpec, lang: str, owner: str | None = None, download: str | None = None, read_data: bool = True) -> tuple[bool, str]:
    """text-to-image: the base pipeline is checked (diffusers layout or .safetensors, no pickles; a Hub pipeline not yet
    downloaded was checked from its metadata: ``download`` says what the job fetches); no memory estimate yet."""
    from jobs.diffusion.pipeline import resolve_pipeline

    if download:
        lines = [f"⬇️ {download}"]
    else:
        try:
            resolved = resolve_pipeline(spec.base_model, spec.base_model_revision)
        except AdaptaError as error:
            return False, f"- ❌ {error}"
        lines = [f"✅ {t(lang, 'train.pipeline_ok', family=resolved.family.upper())}"]
    steps = count_steps(spec, read_data)
    lines.append(t(lang, "train.steps", steps=steps or "?"))
    per_step = seconds_per_step(spec.base_model, owner)
    lines.append(t(lang, "train.time", minutes=f"{per_step * steps / 60:.1f}") if per_step and steps else t(lang, "train.time_unknown"))
    return True, "\n\n".join(f"- {line}" for line in lines)


def fill_from_spec(tab: TrainTab, spec: JobSpec) -> list[Any]:
    """Updates for [base_model, train_file, columns, columns_view, *widgets, *groups]."""
    values = spec_to_values(tab.fields, spec)
    return [spec.base_model, spec.data.train, dict(spec.data.columns), columns_text(spec.data.columns),
            *task_updates(tab, spec.task.value, spec.method.value, values),
            *group_visibility(tab, spec.method.value, spec.objective.value, spec.task.value)]


def task_updates(tab: TrainTab, task: str, method: str, values: list[Any] | None = None) -> list[Any]:
    """One update per widget for ``task``: the fields that apply shown, the others hidden; only the task's methods offered."""
    methods = methods_for_task(task)
    updates = []
    for number, field in enumerate(tab.fields):
        change: dict[str, Any] = {"visible": field_visible(field, task)}
        if values is not None:
            change["value"] = values[number]
        if field.path == "method":
            change["choices"] = methods
            if method not in methods:
                change["value"] = methods[0]
        elif field.path == "data.format" and not change["visible"]:
            change["value"] = "auto"  # a text format does not apply to images
        updates.append(gr.update(**change))
    return updates


def columns_text(columns: dict[str, str]) -> str:
    return ("🧩 " + ", ".join(f"{role} ← `{column}`" for role, column in columns.items())) if columns else ""


def group_visibility(tab: TrainTab, method: str, objective: str | None = None, task: str | None = None) -> list[Any]:
    """One update per section group: a method's own settings, and an objective's own settings for causal-lm."""
    wanted = method_sections(method)
    if str(task or "causal-lm") == "causal-lm":
        wanted |= objective_sections(objective)
    return [gr.update(visible=section in wanted) for section in tab.groups]


def wire(tab: TrainTab, lang: gr.State, on_submitted: list[gr.components.Component], submitted_fn: Any,
         hub_token: gr.Textbox | None = None) -> None:
    """``hub_token``: the Models tab's token field; the caller's token (or their Hugging Face sign-in) goes with the job."""
    """Events of the tab; ``submitted_fn(job_id)`` gives updates for ``on_submitted`` (e.g. switch to Jobs)."""
    form_inputs = tab.form_inputs
    fill_outputs = [tab.base_model, tab.train_file, tab.columns, tab.columns_view, *tab.widgets, *tab.groups.values()]
    group_inputs = [tab.widget("method"), tab.widget("objective"), tab.widget("task")]
    for name in ("method", "objective", "task"):
        tab.widget(name).change(lambda method, objective, task: group_visibility(tab, method, objective, task), group_inputs,
                                list(tab.groups.values()), api_visibility="private")
    tab.widget("task").change(lambda task, method: task_updates(tab, task, method), [tab.widget("task"), tab.widget("method")], tab.widgets,
                             api_visibility="private")

    def apply_preset(name: str) -> list[Any]:
        preset = PRESETS.get(name or "", {})
        return [preset.get(field.path, gr.update()) for field in tab.fields]

    tab.preset.change(apply_preset, tab.preset, tab.widgets, api_visibility="private")

    token_input = hub_token if hub_token is not None else gr.State("")

    def check(language: str, token: str, request: gr.Request, oauth_token: gr.OAuthToken | None, *values: Any) -> str:
        typed = caller_hub_token(token, oauth_token)
        try:
            return preflight_report(form_spec(tab, list(values)), language, caller_of(request), typed)[1]
        except SpecError as error:
            return "❌ " + "\n\n❌ ".join(error.problems)

    tab.preflight.click(check, [lang, token_input, *form_inputs], tab.preflight_out, api_visibility="private")

    def to_yaml(*values: Any) -> tuple[str, Any]:
        try:
            text = form_spec(tab, list(values)).to_yaml()
        except SpecError as error:
            gr.Warning(str(error))
            return gr.update(), gr.update()
        path = Path(tempfile.mkdtemp(prefix="adapta-spec-")) / "job.yaml"
        path.write_text(text, encoding="utf-8")
        return text, gr.update(value=str(path))

    tab.show_yaml.click(to_yaml, form_inputs, [tab.yaml_view, tab.download], api_visibility="private")

    def load_yaml_text(text: str) -> list[Any]:
        try:
            spec = parse_spec_yaml(text or "", source="the YAML")
        except SpecError as error:
            gr.Warning(str(error))
            return [gr.update()] * len(fill_outputs)
        return fill_from_spec(tab, spec)

    def load_yaml_file(path: str | None) -> list[Any]:
        if not path:
            return [gr.update()] * (len(fill_outputs) + 1)
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        return [*load_yaml_text(text), text]

    tab.upload_yaml.upload(load_yaml_file, tab.upload_yaml, [*fill_outputs, tab.yaml_view], api_visibility="private")
    tab.yaml_view.blur(load_yaml_text, tab.yaml_view, fill_outputs, api_visibility="private")

    def submit(language: str, token: str, request: gr.Request, oauth_token: gr.OAuthToken | None, *values: Any) -> list[Any]:
        caller = caller_of(request)
        try:
            require_writer(caller, "train")
            spec = form_spec(tab, list(values))
        except SpecError as error:
            return ["❌ " + "\n\n❌ ".join(error.problems), gr.update(), *[gr.update()] * len(on_submitted)]
        except AdaptaError as error:
            return [f"❌ {error}", gr.update(), *[gr.update()] * len(on_submitted)]
        typed = caller_hub_token(token, oauth_token)
        fits, report = preflight_report(spec, language, caller, typed)
        if not fits:
            return [f"❌ {t(language, 'train.refused')}", report, *[gr.update()] * len(on_submitted)]
        try:
            job_id = submit_spec(spec, caller, typed)
        except AdaptaError as error:
            return [f"❌ {error}", report, *[gr.update()] * len(on_submitted)]
        return [f"✅ {t(language, 'train.submitted', id=job_id)}", report, *submitted_fn(job_id, caller)]

    tab.submit.click(submit, [lang, token_input, *form_inputs], [tab.status, tab.preflight_out, *on_submitted], api_visibility="private")
