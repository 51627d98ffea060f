"""The GRPO reward builder and "Preview rewards", under the Train tab's form (shown for causal-lm with objective grpo).

A person without code picks a kind, a weight and the kind's own settings (only those that apply to it), clicks "Add
term", and sees the terms in a table with a remove control. The builder writes the form's ``grpo.rewards`` widget (the
YAML list that :func:`webui.spec_form.values_to_spec` reads), so the spec, the YAML round trip and Submit keep coming
from one place; it reads that widget back whenever it changes (a loaded or duplicated spec included). "Preview rewards"
runs :func:`jobs.evaluation.reward_preview.preview_in_worker` on the form's spec: the base model's greedy answers to the first data
rows, each term's score and the weighted total.

    section = reward_section.build(registry)            # inside the Train tab, after the form
    reward_section.wire(section, train, lang)           # train: webui.train_tab.TrainTab
    add_term(text, "contains", 1.0, pattern=".")        # the grpo.rewards YAML with one more term
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd
from pydantic import ValidationError

from jobs.errors import AdaptaError, SpecError
from jobs.evaluation.reward_preview import PREVIEW_ROWS, preview_in_worker
from jobs.spec import JobSpec, Objective, RewardKind, RewardTerm, Task, format_validation_error
from jobs.trainers.rewards import term_names
from webui.access import caller_of
from webui.api import checked_for
from webui.api_caller import report_unexpected
from webui.i18n import Registry, labels, t
from webui.spec_form import records_text, records_value
from webui.train_tab import form_spec

KIND_FIELDS: dict[RewardKind, tuple[str, ...]] = {
    RewardKind.EXACT_MATCH: ("tag", "case_sensitive"),
    RewardKind.CONTAINS: ("pattern", "tag", "case_sensitive"),
    RewardKind.REGEX: ("pattern", "tag", "case_sensitive"),
    RewardKind.JSON: ("tag",),
    RewardKind.JSON_SCHEMA: ("json_schema", "tag"),
    RewardKind.LENGTH: ("target_length", "tag"),
    RewardKind.FORMAT: ("tag",),
}
"""The settings each kind reads (see :func:`jobs.trainers.rewards.score_term`); the builder shows only these."""
SETTING_FIELDS = ("pattern", "json_schema", "target_length", "tag", "case_sensitive")
"""The RewardTerm settings besides kind and weight, in the order the builder shows them."""
DEFAULT_KIND = RewardKind.FORMAT
DEFAULT_TAG = "answer"
PREVIEW_CHARS = 300
"""Prompts and completions are cut to this many characters in the preview table (as in the job's log)."""
MAX_TERMS = int(JobSpec.model_json_schema()["$defs"]["GrpoSpec"]["properties"]["rewards"]["maxItems"])


@dataclass
class RewardSection:
    group: gr.Group
    kind: gr.Dropdown
    weight: gr.Number
    pattern: gr.Textbox
    json_schema: gr.Code
    target_length: gr.Number
    tag: gr.Textbox
    case_sensitive: gr.Checkbox
    add: gr.Button
    terms: gr.Dataframe
    remove_choice: gr.Dropdown
    remove: gr.Button
    message: gr.Markdown
    preview: gr.Button
    preview_status: gr.Markdown
    preview_table: gr.Dataframe

    @property
    def settings(self) -> list[gr.components.Component]:
        """The kind's own setting widgets, in :data:`SETTING_FIELDS` order."""
        return [getattr(self, name) for name in SETTING_FIELDS]


def shown_for(task: str | None, objective: str | None) -> bool:
    """Whether the builder applies: causal-lm with objective grpo."""
    return str(task or "") == Task.CAUSAL_LM.value and str(objective or "") == Objective.GRPO.value


def setting_updates(kind: str | None, tag: str | None = None) -> list[Any]:
    """One update per :data:`SETTING_FIELDS` widget: shown when ``kind`` reads it; format gets the default tag when it has none,
    and the default tag is cleared when another kind is picked (where a tag narrows what is scored)."""
    applies = KIND_FIELDS.get(RewardKind(kind), ()) if kind in {item.value for item in RewardKind} else ()
    updates = [gr.update(visible=name in applies) for name in SETTING_FIELDS]
    if kind == RewardKind.FORMAT.value and not (tag or "").strip():
        updates[SETTING_FIELDS.index("tag")] = gr.update(visible=True, value=DEFAULT_TAG)
    elif kind != RewardKind.FORMAT.value and (tag or "").strip() == DEFAULT_TAG:
        updates[SETTING_FIELDS.index("tag")] = gr.update(visible=True, value="")
    return updates


def read_terms(text: Any) -> list[RewardTerm]:
    """The terms in the ``grpo.rewards`` widget's YAML; ValueError with one sentence when it is not a valid list of terms."""
    value = records_value(text)
    if isinstance(value, str):
        raise ValueError("grpo.rewards is not valid YAML; fix it in the grpo section or clear it and build the terms again")
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("grpo.rewards must be a list of terms (each with a kind); clear it and build the terms again")
    terms = []
    for number, item in enumerate(value, start=1):
        try:
            terms.append(RewardTerm.model_validate(item))
        except ValidationError as error:
            raise ValueError(f"reward term {number}: {'; '.join(format_validation_error(error))}") from None
    return terms


def terms_text(terms: list[RewardTerm]) -> str:
    """The YAML the ``grpo.rewards`` widget holds for ``terms`` (kind and weight always, other settings when set)."""
    return records_text([{"kind": term.kind.value, "weight": term.weight, **term.model_dump(mode="json", include=set(SETTING_FIELDS),
                                                                                              exclude_defaults=True)} for term in terms])


def make_term(kind: str, weight: float | None, pattern: str | None = None, json_schema: str | None = None,
              target_length: float | None = None, tag: str | None = None, case_sensitive: bool = False) -> RewardTerm:
    """A validated term from the builder's widgets, keeping only the settings its kind reads; ValueError with one sentence."""
    if kind not in {item.value for item in RewardKind}:
        raise ValueError(f"pick a kind for the reward term: {', '.join(item.value for item in RewardKind)}")
    given: dict[str, Any] = {"pattern": (pattern or "").strip() or None, "json_schema": (json_schema or "").strip() or None,
                             "target_length": int(target_length) if target_length else None, "tag": (tag or "").strip() or None,
                             "case_sensitive": bool(case_sensitive)}
    applies = KIND_FIELDS[RewardKind(kind)]
    data = {"kind": kind, "weight": 1.0 if weight is None else float(weight), **{name: value for name, value in given.items() if name in applies}}
    try:
        return RewardTerm.model_validate(data)
    except ValidationError as error:
        raise ValueError(f"the new reward term: {'; '.join(format_validation_error(error))}") from None


def add_term(text: Any, kind: str, weight: float | None, **settings: Any) -> str:
    """The ``grpo.rewards`` YAML with one more term at the end; ValueError with one sentence when it cannot be added."""
    terms = read_terms(text)
    if len(terms) >= MAX_TERMS:
        raise ValueError(f"grpo.rewards holds at most {MAX_TERMS} terms; remove one before adding another")
    return terms_text([*terms, make_term(kind, weight, **settings)])


def remove_term(text: Any, number: str | int | None) -> str:
    """The ``grpo.rewards`` YAML without term ``number`` (counted from 1); ValueError when there is no such term."""
    terms = read_terms(text)
    try:
        index = int(number or 0) - 1
    except ValueError:
        index = -1
    if not 0 <= index < len(terms):
        raise ValueError("pick the reward term to remove in the list first")
    return terms_text(terms[:index] + terms[index + 1:])


def term_settings(term: RewardTerm) -> str:
    """A term's settings on one line, e.g. ``pattern: \\d+ · tag: answer``."""
    shown = term.model_dump(mode="json", include=set(SETTING_FIELDS), exclude_defaults=True)
    return " · ".join(f"{name}: {value}" for name, value in shown.items())


def terms_frame(terms: list[RewardTerm], lang: str) -> pd.DataFrame:
    """The terms table: number, name (as in the metrics and the preview), kind, weight, settings."""
    columns = labels(lang, "rewards.col.", ("number", "name", "kind", "weight", "settings"))
    rows = [[number, name, term.kind.value, term.weight, term_settings(term)]
            for number, (name, term) in enumerate(zip(term_names(terms), terms, strict=True), start=1)]
    return pd.DataFrame(rows, columns=columns)


def term_choices(terms: list[RewardTerm]) -> list[tuple[str, str]]:
    """(label, number) of each term, for the remove picker."""
    return [(f"{number} · {name} × {term.weight:g}", str(number))
            for number, (name, term) in enumerate(zip(term_names(terms), terms, strict=True), start=1)]


def _cut(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def preview_frame(items: list[Any], names: list[str], lang: str) -> pd.DataFrame:
    """The preview table: row, prompt, reference answer (when the data has one), base completion (cut to
    :data:`PREVIEW_CHARS`), each term's score, total."""
    with_answer = any(item.answer is not None for item in items)
    columns = [t(lang, "rewards.col.row"), t(lang, "rewards.col.prompt"), *([t(lang, "rewards.col.answer")] if with_answer else []),
               t(lang, "rewards.col.completion"), *names, t(lang, "rewards.col.total")]
    rows = [[item.row, _cut(item.prompt), *([item.answer or ""] if with_answer else []), _cut(item.completion),
             *(round(item.scores[name], 3) for name in names), round(item.scores["reward"], 3)] for item in items]
    return pd.DataFrame(rows, columns=columns)


def build(r: Registry) -> RewardSection:
    """The builder and the preview, hidden until the form says causal-lm and grpo."""
    bounds = RewardTerm.model_json_schema()["properties"]
    with gr.Group(visible=False, elem_id="reward-builder") as group:
        r.markdown("rewards.intro")
        with gr.Row():
            kind = r.make(gr.Dropdown, "rewards.kind", info="rewards.kind.info", choices=[item.value for item in RewardKind],
                          value=DEFAULT_KIND.value, elem_id="reward-kind")
            weight = r.make(gr.Number, "rewards.weight", info="rewards.weight.info", value=1.0, step=0.1,
                            minimum=bounds["weight"]["minimum"], maximum=bounds["weight"]["maximum"], elem_id="reward-weight")
            tag = r.make(gr.Textbox, "rewards.tag", info="rewards.tag.info", value=DEFAULT_TAG, elem_id="reward-tag")
        with gr.Row():
            pattern = r.make(gr.Textbox, "rewards.pattern", info="rewards.pattern.info", visible=False, elem_id="reward-pattern")
            target_length = r.make(gr.Number, "rewards.target_length", info="rewards.target_length.info", value=None, precision=0,
                                   minimum=1, maximum=bounds["target_length"]["anyOf"][0]["maximum"], visible=False,
                                   elem_id="reward-target-length")
            case_sensitive = r.make(gr.Checkbox, "rewards.case_sensitive", info="rewards.case_sensitive.info", visible=False,
                                    elem_id="reward-case-sensitive")
        json_schema = r.make(gr.Code, "rewards.json_schema", language="json", visible=False, elem_id="reward-json-schema")
        add = r.button("rewards.add", variant="secondary", elem_id="reward-add")
        message = gr.Markdown(elem_id="reward-message")
        terms = r.make(gr.Dataframe, "rewards.terms", value=terms_frame([], "en"), interactive=False, elem_id="reward-terms")
        with gr.Row():
            remove_choice = r.make(gr.Dropdown, "rewards.remove_choice", choices=[], value=None, elem_id="reward-remove-choice", scale=3)
            remove = r.button("rewards.remove", size="sm", variant="stop", elem_id="reward-remove", scale=1)
        r.markdown("rewards.preview_intro")
        preview = r.button("rewards.preview", variant="secondary", elem_id="reward-preview")
        preview_status = gr.Markdown(elem_id="reward-preview-status")
        preview_table = r.make(gr.Dataframe, "rewards.preview_table", interactive=False, wrap=True, elem_id="reward-preview-table")
    return RewardSection(group, kind, weight, pattern, json_schema, target_length, tag, case_sensitive, add, terms, remove_choice, remove,
                         message, preview, preview_status, preview_table)


def _sentence(error: Exception) -> str:
    if isinstance(error, SpecError):
        return "❌ " + "\n\n❌ ".join(error.problems)
    return f"❌ {error}"


def wire(section: RewardSection, train: Any, lang: gr.State) -> None:
    """Events: show/hide with task and objective, kind → its settings, add/remove → ``grpo.rewards``, that widget → the table,
    and the preview. ``train`` is the Train tab (:class:`webui.train_tab.TrainTab`)."""
    rewards, task, objective = train.widget("grpo.rewards"), train.widget("task"), train.widget("objective")
    for widget in (task, objective):
        widget.change(lambda task_value, objective_value: gr.update(visible=shown_for(task_value, objective_value)), [task, objective],
                      section.group, api_visibility="private")
    section.kind.change(setting_updates, [section.kind, section.tag], section.settings, api_visibility="private")

    def show_terms(text: str, language: str) -> list[Any]:
        try:
            terms = read_terms(text)
        except ValueError as error:
            return [terms_frame([], language), gr.update(choices=[], value=None), f"⚠️ {error}"]
        return [terms_frame(terms, language), gr.update(choices=term_choices(terms), value=None), ""]

    table_outputs = [section.terms, section.remove_choice, section.message]
    rewards.change(show_terms, [rewards, lang], table_outputs, api_visibility="private")
    lang.change(show_terms, [rewards, lang], table_outputs, api_visibility="private")

    def add(text: str, language: str, kind: str, weight: float | None, *settings: Any) -> list[Any]:
        try:
            new_text = add_term(text, kind, weight, **dict(zip(SETTING_FIELDS, settings, strict=True)))
        except ValueError as error:
            return [gr.update(), f"⚠️ {error}"]
        return [new_text, f"✅ {t(language, 'rewards.added', count=len(read_terms(new_text)))}"]

    section.add.click(add, [rewards, lang, section.kind, section.weight, *section.settings], [rewards, section.message],
                      api_visibility="private")

    def remove(text: str, number: str | None) -> list[Any]:
        try:
            return [remove_term(text, number), ""]
        except ValueError as error:
            return [gr.update(), f"⚠️ {error}"]

    section.remove.click(remove, [rewards, section.remove_choice], [rewards, section.message], api_visibility="private")

    def preview(language: str, request: gr.Request, progress: gr.Progress = gr.Progress(), *values: Any) -> list[Any]:
        _, train_file, *_ = values
        if not str(train_file or "").strip():
            return [f"❌ {t(language, 'rewards.no_data')}", gr.update(value=None)]
        try:
            spec = form_spec(train, list(values))
            if not shown_for(spec.task.value, spec.objective.value):
                return [f"❌ {t(language, 'rewards.not_grpo')}", gr.update(value=None)]
            spec = checked_for(caller_of(request))(spec)
            progress(0.1, desc=t(language, "rewards.previewing", rows=PREVIEW_ROWS))
            items = preview_in_worker(spec, PREVIEW_ROWS)
        except (SpecError, AdaptaError) as error:
            return [_sentence(error), gr.update(value=None)]
        except Exception as error:  # a model that fails to load or generate: one sentence with an error id
            return [f"❌ {report_unexpected(error, 'reward preview')}", gr.update(value=None)]
        names = term_names(spec.grpo.rewards)
        return [f"✅ {t(language, 'rewards.previewed', rows=len(items))}", preview_frame(items, names, language)]

    section.preview.click(preview, [lang, *train.form_inputs], [section.preview_status, section.preview_table], api_visibility="private",
                          concurrency_limit=1)
