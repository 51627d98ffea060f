"""Train tab: five decisions with recommendations, everything else under "Advanced", a summary line, Submit.

The form is generated from the JobSpec schema (:mod:`webui.spec_form`): one widget per field. At the top: task and
objective where they apply, then the five decisions (method; how long: epochs or a time budget; how strong: a
learning-rate preset; quality/speed; validation), each next to its recommended value and a one-line reason
(:mod:`webui.train_advice`, computed by :mod:`jobs.trainers.recommend` from the model and the data when they are chosen).
Every other field sits in a closed "Advanced" accordion, grouped as :func:`webui.spec_form.field_group` says, each
group shown only when it applies to the task, method and objective. Before Submit one line says how many steps,
how long on this machine, how much memory, and where the result goes.

Pre-flight estimates memory for the chosen model and method against what this machine has (GPU, else
RAM), counts the optimizer steps, and turns a throughput measured by an earlier job on the same model into
a time estimate. A job whose estimate is over the budget is refused before it reaches the queue only where the estimate was
calibrated for this device, task, objective and method (:func:`jobs.models.memory_job.memory_verdict`); otherwise Submit warns.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from jobs.data.doctor_notes import refuse_known_secrets
from jobs.errors import AdaptaError, SpecError
from jobs.export import job_gguf_support
from jobs.hub import search as hub
from jobs.hub.fetch import download_preflight
from jobs.hub.tokens import token_for_request
from jobs.models.pipelines import resolve_pipeline
from jobs.spec import JobSpec, parse_spec, parse_spec_yaml
from jobs.spec.compat import collect_spec_warnings
from jobs.trainers.recommend import QUALITY_PRESETS, STRENGTHS, DataProfile, learning_rate, quality_values
from webui.access import Caller, caller_hub_token, caller_of, current_caller, require_writer
from webui.api_caller import home_paths
from webui.api_data import check_data_owned
from webui.api_models import check_model_allowed
from webui.i18n import Registry, t
from webui.spec_form import (
    ADVANCED_GROUPS,
    IMAGE_TASK,
    FormField,
    field_group,
    field_visible,
    group_visible,
    make_widget,
    methods_for_task,
    schema_fields,
    spec_to_values,
    values_to_spec,
)
from webui.strings import EN_UI
from webui.submission import submit_spec
from webui.train_advice import (
    ADVICE_NAMES,
    FILLED_CONTROLS,
    RecommendInputs,
    advise,
    budget_steps,
    chosen_line,
    count_steps,
    fill_untouched,
    image_memory_line,
    memory_line,
    reason_lines,
    seconds_per_step,
    summary_line,
)

__all__ = ["TrainTab", "build", "count_steps", "fill_from_spec", "form_spec", "preflight_report", "seconds_per_step", "wire"]

SUMMARY_TRIGGERS = ("task", "method", "objective", "training.epochs", "training.max_steps", "training.batch_size",
                    "training.gradient_accumulation", "training.max_length", "training.precision", "data.validation", "lora.r")
"""Fields whose change redraws the summary line (with the model and the data)."""


@dataclass
class TrainTab:
    fields: list[FormField]
    widgets: list[gr.components.Component]
    groups: dict[str, gr.Group]
    """The "Advanced" groups by name (optimisation, lora, ...), shown or hidden by :func:`group_visibility`."""
    base_model: gr.Textbox
    train_file: gr.Textbox
    columns: gr.State
    columns_view: gr.Markdown
    preset: gr.Radio
    """Quality/speed: quick, balanced or quality (sets max_length from the data, and the LoRA rank)."""
    preflight: gr.Button
    preflight_out: gr.Markdown
    show_yaml: gr.Button
    yaml_view: gr.Code
    download: gr.DownloadButton
    upload_yaml: gr.UploadButton
    submit: gr.Button
    status: gr.Markdown
    strength: gr.Radio
    """How strong: gentle, standard or strong (sets training.learning_rate for the method)."""
    time_budget: gr.Number
    """How long, as minutes (0: no limit): sets training.max_steps from the time per step."""
    advanced: gr.Accordion
    chosen: gr.Markdown
    """One line: the model and the data chosen in the earlier steps."""
    reasons: dict[str, gr.Markdown]
    """The recommendation and its reason next to each decision, by :data:`webui.train_advice.ADVICE_NAMES`."""
    summary: gr.Markdown
    advice_state: gr.State
    group_fields: dict[str, list[FormField]] = dataclasses.field(default_factory=dict)
    recommend_listener: dict[str, Any] = dataclasses.field(default_factory=dict)
    """``fn``, ``inputs`` and ``outputs`` of the recommendation (set by :func:`wire`): chain it after an event that picks the
    model or the data, e.g. ``data.use.click(...).then(**train.recommend_listener)``."""
    inserted: Any = None
    """What ``build``'s ``before_summary`` built (the GRPO reward builder), or None."""
    validation_file: Any = None
    """The held-out file of ``data.validation`` (set by a loaded YAML or a duplicated job, or typed); empty: the share slider."""

    def widget(self, path: str) -> gr.components.Component:
        return self.widgets[[field.path for field in self.fields].index(path)]

    @property
    def form_inputs(self) -> list[gr.components.Component]:
        """The components whose values :func:`form_spec` turns into a spec, in its order."""
        return [self.base_model, self.train_file, self.validation_file, self.columns, *self.widgets]

    @property
    def fill_outputs(self) -> list[Any]:
        """The components :func:`fill_from_spec` gives one update each, in its order (a loaded YAML, a duplicated job)."""
        return [self.base_model, self.train_file, self.validation_file, self.columns, self.columns_view, *self.widgets, *self.groups.values()]

    @property
    def filled_controls(self) -> dict[str, gr.components.Component]:
        """The controls a recommendation may fill, by name (:data:`webui.train_advice.FILLED_CONTROLS`)."""
        extra = {"strength": self.strength, "preset": self.preset, "time_budget": self.time_budget}
        return {name: extra[name] if name in extra else self.widget(name) for name in FILLED_CONTROLS}


def _group_title(r: Registry, group: str) -> None:
    key = f"train.group.{group}"
    if key in EN_UI:
        r.markdown(key)
    else:
        gr.Markdown(f"#### {group.replace('_', ' ').capitalize()}")  # a section added later, before its title is translated


def build(r: Registry, before_summary: Callable[[], Any] | None = None) -> TrainTab:
    """The tab's components; ``before_summary`` builds a section of another module (the GRPO reward builder) between Advanced
    and the summary line, so that it sits above Submit; its result is :attr:`TrainTab.inserted`."""
    fields = schema_fields()
    widgets: list[Any] = []
    ordered: list[FormField] = []
    groups: dict[str, Any] = {}
    reasons: dict[str, Any] = {}
    default_task = JobSpec.model_fields["task"].default.value

    def add(field: FormField, **kwargs: Any) -> None:
        widget = make_widget(field, t("en", f"field.{field.path}"), t("en", f"field.{field.path}.info"),
                             visible=field_visible(field, default_task))
        widgets.append(r.register(widget, label=f"field.{field.path}", info=f"field.{field.path}.info"))
        ordered.append(field)

    def reason(name: str) -> None:
        reasons[name] = gr.Markdown(elem_id=f"train-why-{name.replace('_', '-')}")

    by_path = {field.path: field for field in fields}
    r.markdown("train.intro")
    chosen = gr.Markdown(elem_id="train-chosen")
    columns_view = gr.Markdown(elem_id="train-columns")
    columns = gr.State({})
    advice_state = gr.State({})
    with gr.Row():
        add(by_path["task"])
        add(by_path["objective"])
    with gr.Row(equal_height=True):
        add(by_path["method"])
        reason("method")
    with gr.Row(equal_height=True):
        add(by_path["training.epochs"])
        time_budget = r.make(gr.Number, "train.time_budget", info="train.time_budget.info", value=0, minimum=0, maximum=10_000, precision=0,
                             elem_id="train-time-budget")
        with gr.Column():
            reason("epochs")
            reason("time_budget")
    with gr.Row(equal_height=True):
        strength = r.make(gr.Radio, "train.strength", info="train.strength.info", choices=list(STRENGTHS), value=None, elem_id="train-strength")
        reason("strength")
    with gr.Row(equal_height=True):
        preset = r.make(gr.Radio, "train.preset", info="train.preset.info", choices=list(QUALITY_PRESETS), value=None, elem_id="train-preset")
        reason("quality")
    with gr.Row(equal_height=True):
        add(by_path["data.validation"])
        reason("validation")

    by_group: dict[str, list[FormField]] = {}
    for field in fields:
        group = field_group(field)
        if group != "decisions":
            by_group.setdefault(group, []).append(field)
    order = [group for group in ADVANCED_GROUPS if group in by_group] + [group for group in by_group if group not in ADVANCED_GROUPS]
    with r.make(gr.Accordion, "train.advanced", open=False, elem_id="train-advanced") as advanced:
        for group in order:
            with gr.Group(visible=group_visible(group, by_group[group], default_task, "lora", "sft")) as box:
                _group_title(r, group)
                if group == "model_data":
                    with gr.Row():
                        base_model = r.make(gr.Textbox, "train.base_model", info="train.base_model.info", elem_id="train-base-model")
                        train_file = r.make(gr.Textbox, "train.data_file", info="train.data_file.info", elem_id="train-data-file")
                        validation_file = r.make(gr.Textbox, "train.validation_file", info="train.validation_file.info",
                                                 elem_id="train-validation-file")
                for field in by_group[group]:
                    add(field)
            groups[group] = box
    inserted = before_summary() if before_summary is not None else None
    summary = gr.Markdown(elem_id="train-summary")
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
                    show_yaml, yaml_view, download, upload_yaml, submit, status, strength, time_budget, advanced, chosen, reasons, summary,
                    advice_state, by_group, inserted=inserted, validation_file=validation_file)


def form_spec(tab: TrainTab, values: list[Any]) -> JobSpec:
    """The validated spec from the form's values: [base_model, train_file, validation_file, columns, *widgets]. A validation file,
    when given, takes the place of the held-out share of ``data.validation`` (the slider holds only a share)."""
    base_model, train_file, validation_file, columns, *rest = values
    spec = values_to_spec(tab.fields, list(rest), base_model=base_model, train=train_file, columns=columns)
    if str(validation_file or "").strip():
        spec["data"]["validation"] = str(validation_file).strip()
    return parse_spec(spec)


def preflight_report(spec: JobSpec, lang: str, caller: Caller | None = None, hub_token: str | None = None) -> tuple[bool, str]:
    """(fits, markdown): the Hub model's download check, memory estimate vs available, steps, and a time estimate when a throughput
    is known. ``hub_token`` is the caller's (gated or private models). Rows are counted only in the caller's own data (on a
    multi-user server their uploads; no caller given: the caller of the Gradio event being handled)."""
    lines = []
    fits = True
    token = token_for_request(hub_token)
    caller = caller or current_caller()
    owner = caller.owner_filter
    try:
        spec = home_paths(spec)
        check_model_allowed(spec.base_model, caller, hub_token)
        if caller.can_write:
            check_data_owned(spec, caller)
            refuse_known_secrets(spec)  # the Data tab's check found secrets in the file: named by row, "Fix" removes them
        download = download_preflight(spec, token)
    except AdaptaError as error:
        return False, f"❌ {error}"
    if spec.task.value == IMAGE_TASK:
        return image_preflight(spec, lang, owner, download, read_data=caller.can_write)
    try:
        precision = {"fp32": 4, "bf16": 2, "fp16": 2}.get(spec.training.precision.value)  # auto: fp32 on CPU, 16-bit on a GPU
        info = hub.model_info(spec.base_model, batch_size=spec.training.batch_size, seq_len=spec.training.max_length, token=token,
                              gradient_checkpointing=spec.training.gradient_checkpointing, precision_bytes=precision, lora_r=spec.lora.r,
                              lora_targets=spec.lora.target_modules, job=spec)
    except AdaptaError as error:
        return False, f"❌ {error}"
    if download:
        lines.append(f"⬇️ {download}")
    row = info["memory"][spec.method.value]
    if not info["verdict"]["ok"]:
        fits = False
        lines.append(f"❌ {t(lang, 'models.incompatible')}: " + "; ".join(info["verdict"]["reasons"]))
    memory_ok, memory = memory_line(row, spec, lang)
    fits = fits and memory_ok
    lines.append(memory)
    gguf = job_gguf_support(spec)  # information, not a gate: whether the result will run in llama.cpp
    if gguf is not None:
        lines.append(t(lang, "train.gguf_yes", family=gguf.family.label) if gguf.exportable and gguf.family else
                     t(lang, "train.gguf_no", reason=gguf.reason))
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
    downloaded was checked from its metadata: ``download`` says what the job fetches); the memory estimate of
    :func:`webui.train_advice.image_memory_line`, which refuses a job that would not fit on this GPU."""
    if download:
        lines = [f"⬇️ {download}"]
    else:
        try:
            resolved = resolve_pipeline(spec.base_model, spec.base_model_revision)
        except AdaptaError as error:
            return False, f"- ❌ {error}"
        lines = [f"✅ {t(lang, 'train.pipeline_ok', family=resolved.family.upper())}"]
    memory_ok, memory = image_memory_line(spec, lang)
    lines.append(memory)
    steps = count_steps(spec, read_data)
    lines.append(t(lang, "train.steps", steps=steps or "?"))
    per_step = seconds_per_step(spec.base_model, owner)
    lines.append(t(lang, "train.time", minutes=f"{per_step * steps / 60:.1f}") if per_step and steps else t(lang, "train.time_unknown"))
    return memory_ok, "\n\n".join(f"- {line}" for line in lines)


def fill_from_spec(tab: TrainTab, spec: JobSpec) -> list[Any]:
    """Updates for :attr:`TrainTab.fill_outputs`: [base_model, train_file, validation_file, columns, columns_view, *widgets, *groups]."""
    values = spec_to_values(tab.fields, spec)
    validation_file = spec.data.validation if isinstance(spec.data.validation, str) else ""
    return [spec.base_model, spec.data.train, validation_file, dict(spec.data.columns), columns_text(spec.data.columns),
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
    """One update per "Advanced" group: shown when it applies to the task, the method and (causal-lm) the objective."""
    return [gr.update(visible=group_visible(name, tab.group_fields.get(name, []), task or "causal-lm", method, objective))
            for name in tab.groups]


def _wire_recommendations(tab: TrainTab, lang: gr.State, token_input: gr.components.Component) -> None:
    """The recommendation (on demand: ``tab.recommend_listener``), the decisions that set fields, and the reason lines."""
    controls = tab.filled_controls
    names = list(controls)
    reason_views = [tab.reasons[name] for name in ADVICE_NAMES]
    context = [tab.widget(path) for path in ("task", "objective", "data.format", "training.batch_size", "training.gradient_accumulation")]

    def recommend_event(language: str, state: dict[str, Any], token: str, request: gr.Request, oauth_token: gr.OAuthToken | None,
                        base_model: str, train_file: str, columns: dict[str, str], task: str, objective: str, data_format: str,
                        batch_size: float, accumulation: float, *current: Any) -> list[Any]:
        values = dict(zip(names, current, strict=True))
        inputs = RecommendInputs((base_model or "").strip(), (train_file or "").strip(), dict(columns or {}), task or "causal-lm",
                                 str(values["method"] or "lora"), objective, data_format or "auto", int(batch_size or 8), int(accumulation or 1))
        state = advise(state, caller_of(request), caller_hub_token(token, oauth_token), inputs)
        state, changes = fill_untouched(state, values, inputs.task, objective)
        return [state, *reason_lines(state, language), *[changes[name] if name in changes else gr.update() for name in names]]

    tab.recommend_listener = {"fn": recommend_event, "api_visibility": "private",
                              "inputs": [lang, tab.advice_state, token_input, tab.base_model, tab.train_file, tab.columns, *context,
                                         *controls.values()],
                              "outputs": [tab.advice_state, *reason_views, *controls.values()]}
    tab.base_model.blur(**tab.recommend_listener)
    tab.train_file.blur(**tab.recommend_listener)
    for name in ("task", "method", "objective"):  # the user's own choice: the other advice follows it (never the choice itself)
        tab.widget(name).input(**tab.recommend_listener)

    def set_rate(strength: str, method: str, task: str, objective: str, state: dict[str, Any]) -> list[Any]:
        rate = learning_rate(strength, method, task, objective)
        return [rate, {**state, "filled": {**state.get("filled", {}), "training.learning_rate": rate, "strength": strength}}]

    tab.strength.input(set_rate, [tab.strength, tab.widget("method"), tab.widget("task"), tab.widget("objective"), tab.advice_state],
                       [tab.widget("training.learning_rate"), tab.advice_state], api_visibility="private")

    quality_paths = ("training.max_length", "lora.r", "lora.alpha")

    def set_quality(preset: str, state: dict[str, Any]) -> list[Any]:
        values = quality_values(preset, DataProfile(**state["profile"]) if state.get("profile") else None)
        return [*[values.get(path, gr.update()) for path in quality_paths],
                {**state, "filled": {**state.get("filled", {}), **values, "preset": preset}}]

    tab.preset.input(set_quality, [tab.preset, tab.advice_state], [*[tab.widget(path) for path in quality_paths], tab.advice_state],
                     api_visibility="private")

    def set_budget(minutes: float, state: dict[str, Any]) -> list[Any]:
        steps = budget_steps(state, minutes)
        return [steps, {**state, "filled": {**state.get("filled", {}), "training.max_steps": steps, "time_budget": minutes}}]

    tab.time_budget.input(set_budget, [tab.time_budget, tab.advice_state], [tab.widget("training.max_steps"), tab.advice_state],
                          api_visibility="private")

    # Only the recommendation writes the reasons (and a language switch redraws them), so no older event overwrites newer advice.
    lang.change(reason_lines, [tab.advice_state, lang], reason_views, api_visibility="private")
    gr.on([lang.change, tab.base_model.change, tab.train_file.change], chosen_line, [tab.base_model, tab.train_file, lang], tab.chosen,
          api_visibility="private")


def wire(tab: TrainTab, lang: gr.State, on_submitted: list[gr.components.Component], submitted_fn: Any,
         hub_token: gr.Textbox | None = None) -> None:
    """Events of the tab; ``submitted_fn(job_id)`` gives updates for ``on_submitted`` (e.g. switch to Jobs).

    ``hub_token``: the Models tab's token field; the caller's token (or their Hugging Face sign-in) goes with the job."""
    form_inputs = tab.form_inputs
    fill_outputs = tab.fill_outputs
    group_inputs = [tab.widget("method"), tab.widget("objective"), tab.widget("task")]
    for name in ("method", "objective", "task"):
        tab.widget(name).change(lambda method, objective, task: group_visibility(tab, method, objective, task), group_inputs,
                                list(tab.groups.values()), api_visibility="private")
    tab.widget("task").change(lambda task, method: task_updates(tab, task, method), [tab.widget("task"), tab.widget("method")], tab.widgets,
                             api_visibility="private")

    token_input = hub_token if hub_token is not None else gr.State("")
    _wire_recommendations(tab, lang, token_input)

    def summarize(language: str, state: dict[str, Any], token: str, request: gr.Request, oauth_token: gr.OAuthToken | None,
                  *values: Any) -> str:
        if not (values[0] or "").strip() or not (values[1] or "").strip():
            return t(language, "train.summary.choose")
        try:
            spec = form_spec(tab, list(values))
        except SpecError as error:
            return "⚠️ " + error.problems[0]
        return summary_line(spec, state, language, caller_of(request), caller_hub_token(token, oauth_token))

    triggers = [tab.base_model.change, tab.train_file.change, tab.advice_state.change, lang.change,
                *[tab.widget(path).change for path in SUMMARY_TRIGGERS]]
    gr.on(triggers, summarize, [lang, tab.advice_state, token_input, *form_inputs], tab.summary, trigger_mode="always_last",
          api_visibility="private")

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
            with collect_spec_warnings() as notes:  # settings in their old place, unknown keys: one toast each
                spec = parse_spec_yaml(text or "", source="the YAML")
        except SpecError as error:
            gr.Warning(str(error))
            return [gr.update()] * len(fill_outputs)
        for note in notes:
            gr.Warning(note)
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
