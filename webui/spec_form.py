"""The Train form, generated from ``JobSpec.model_json_schema()``: no hand-kept list of hyperparameters.

Each schema property becomes one widget: enums become dropdowns, booleans checkboxes, bounded integers
and small bounded floats sliders, other numbers bounded number inputs, strings text boxes. Bounds, defaults
and help text come from the schema; labels and help are translated through :mod:`webui.i18n` under the key
``field.<section>.<name>``. A method's own section (``lora``, ``prompt_tuning``) is shown only for that method.
Fields whose help starts with ``text-to-image:`` (and the ``samples`` section) are shown only for that task;
:data:`TEXT_ONLY_FIELDS` only for the text tasks; text-to-image offers only the methods of :func:`methods_for_task`.
Where a field sits in the Train tab is data too: :data:`DECISION_FIELDS` at the top, every other field in the
"Advanced" group :func:`field_group` names (by path, else by section), shown when :func:`group_visible` says so.

    fields = schema_fields()            # FormField per widget, in schema order
    widgets = build_widgets(fields, registry)
    spec_dict = values_to_spec(fields, values, base_model=..., train=..., columns=...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import yaml

from jobs.spec import PREFERENCE_OBJECTIVES, JobSpec, Method, Objective, Task

SPECIAL_FIELDS = {"base_model", "data.train", "data.columns"}
"""Set by the Models and Data tabs rather than by a generic widget."""
SLIDER_MAX_INT = 4096
"""Integers with a maximum up to this become sliders; larger ranges become bounded number inputs."""


@dataclass(frozen=True)
class FormField:
    """One widget's worth of schema: dotted path, kind and bounds."""

    path: str
    kind: str  # enum | bool | int | float | str | modules | lines | records (a YAML list of objects) | fraction
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    exclusive_minimum: bool = False

    @property
    def section(self) -> str:
        return self.path.split(".")[0] if "." in self.path else "job"

    @property
    def name(self) -> str:
        return self.path.split(".")[-1]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return schema["$defs"][ref.split("/")[-1]] if ref else node


def _field(schema: dict[str, Any], path: str, node: dict[str, Any]) -> FormField:
    description = str(node.get("description", ""))
    default = node.get("default")
    options = node.get("anyOf") or [node]
    nullable = any(option.get("type") == "null" for option in options)
    concrete = [_resolve(schema, option) for option in options if option.get("type") != "null"]
    types = {option.get("type") for option in concrete}
    first = concrete[0] if concrete else {}
    if types == {"array"}:
        items = first.get("items", {})
        return FormField(path, "records" if "$ref" in items else "lines", default, description)
    if "array" in types:
        enum = next((option.get("enum") for option in concrete if option.get("enum")), [])
        return FormField(path, "modules", default, description, tuple(enum))
    if first.get("enum"):
        return FormField(path, "enum", default, description, tuple(str(value) for value in first["enum"]), nullable=nullable)
    if types == {"boolean"}:
        return FormField(path, "bool", default, description)
    if "number" in types and "string" in types:
        return FormField(path, "fraction", default, description, nullable=True)
    if first.get("type") in ("integer", "number"):
        low = first.get("minimum", first.get("exclusiveMinimum"))
        return FormField(path, "int" if first["type"] == "integer" else "float", default, description, minimum=low,
                         maximum=first.get("maximum", first.get("exclusiveMaximum")), nullable=nullable,
                         exclusive_minimum="exclusiveMinimum" in first)
    return FormField(path, "str", default, description, nullable=nullable)


def schema_fields() -> list[FormField]:
    """Every JobSpec field that gets a generic widget, in schema order (sections flattened as ``section.name``)."""
    schema = JobSpec.model_json_schema()
    fields: list[FormField] = []
    for name, node in schema["properties"].items():
        resolved = _resolve(schema, node)
        if resolved.get("type") == "object" and "properties" in resolved:
            for inner, inner_node in resolved["properties"].items():
                if f"{name}.{inner}" not in SPECIAL_FIELDS:
                    fields.append(_field(schema, f"{name}.{inner}", inner_node))
        elif name not in SPECIAL_FIELDS:
            fields.append(_field(schema, name, node))
    return fields


def method_sections(method: str) -> set[str]:
    """The spec sections that belong to ``method``, derived from names: lora and qlora → lora, prompt-tuning → prompt_tuning."""
    sections = {"lora", "prompt_tuning"}
    key = str(method).replace("-", "_")
    return {section for section in sections if section in key}


METHOD_SECTIONS = ("lora", "prompt_tuning")
"""Sections shown only when the chosen method uses them (see :func:`method_sections`)."""

OBJECTIVE_SECTIONS: dict[str, tuple[str, ...]] = {
    "preference": tuple(objective.value for objective in PREFERENCE_OBJECTIVES),
    "grpo": (Objective.GRPO.value,),
}
"""Sections shown only when the chosen objective uses them (see :func:`objective_sections`)."""


def objective_sections(objective: str | None) -> set[str]:
    """The spec sections that belong to ``objective``: dpo, orpo and kto → preference, grpo → grpo, sft → none."""
    return {section for section, objectives in OBJECTIVE_SECTIONS.items() if str(objective or "") in objectives}

IMAGE_TASK = Task.TEXT_TO_IMAGE.value
IMAGE_PREFIX = "text-to-image:"
IMAGE_SECTIONS = ("images", "samples")
"""Sections shown only for text-to-image (its settings and its sample images)."""
TEXT_ONLY_FIELDS = frozenset({"data.format", "data.config", "data.split", "training.max_length", "training.packing",
                              "training.group_by_length", "training.train_on_prompt", "training.eval_steps"})
"""Settings that mean nothing to an image job (token lengths, text formats, held-out rows)."""
IMAGE_METHODS = (Method.LORA.value,)
TASK_SECTIONS: dict[str, tuple[str, ...]] = {
    "embedding": (Task.SENTENCE_EMBEDDING.value,),
    "preference": (Task.CAUSAL_LM.value,),
    "grpo": (Task.CAUSAL_LM.value,),
}
"""Sections (and the ``objective`` field) that belong to some tasks only."""
TASK_FIELDS: dict[str, tuple[str, ...]] = {"objective": (Task.CAUSAL_LM.value,)}
TASK_METHODS: dict[str, tuple[str, ...]] = {Task.SENTENCE_EMBEDDING.value: (Method.LORA.value, Method.FULL.value)}
"""Tasks that offer only some methods (text-to-image: see :data:`IMAGE_METHODS`)."""


def field_visible(field: FormField, task: str | None) -> bool:
    """Whether ``field`` applies to ``task``: image-only fields for text-to-image, text-only fields for the others."""
    image = str(task or "") == IMAGE_TASK
    if field.section in TASK_SECTIONS:
        return str(task or "") in TASK_SECTIONS[field.section]
    if field.path in TASK_FIELDS:
        return str(task or "") in TASK_FIELDS[field.path]
    if field.section in IMAGE_SECTIONS or field.description.startswith(IMAGE_PREFIX):
        return image
    if field.path in TEXT_ONLY_FIELDS:
        return not image
    return True


def methods_for_task(task: str | None) -> list[str]:
    """The methods offered for ``task`` (text-to-image: lora only; sentence-embedding: lora and full)."""
    if str(task or "") == IMAGE_TASK:
        return list(IMAGE_METHODS)
    return list(TASK_METHODS.get(str(task or ""), method_choices()))


def make_widget(field: FormField, label: str, info: str, visible: bool = True) -> gr.components.Component:
    """The widget for one field, with the schema's bounds and default."""
    common: dict[str, Any] = {"label": label, "info": info, "elem_id": "field-" + field.path.replace(".", "-").replace("_", "-"), "visible": visible}
    if field.kind == "enum":
        return gr.Dropdown(choices=list(field.choices), value=field.default, **common)
    if field.kind == "lines":
        return gr.Textbox(value="\n".join(field.default or []), lines=2, **common)
    if field.kind == "records":
        return gr.Textbox(value=records_text(field.default or []), lines=6, **common)
    if field.kind == "modules":
        return gr.Dropdown(choices=list(field.choices), value=field.default, allow_custom_value=True, **common)
    if field.kind == "bool":
        return gr.Checkbox(value=bool(field.default), **common)
    if field.kind == "fraction":
        return gr.Slider(minimum=0.0, maximum=0.5, step=0.05, value=field.default or 0.0, **common)
    if field.kind == "int":
        if not field.nullable and field.minimum is not None and field.maximum is not None and field.maximum <= SLIDER_MAX_INT:
            return gr.Slider(minimum=field.minimum, maximum=field.maximum, step=1, value=field.default, **common)
        low = None if field.nullable else field.minimum  # empty optional numbers arrive as 0: pydantic checks the bound
        return gr.Number(value=field.default, minimum=low, maximum=field.maximum, precision=0, **common)
    if field.kind == "float":
        small = field.maximum is not None and field.maximum <= 1 and (field.default or 0) >= 0.01 or field.default == 0
        if small and field.minimum is not None and field.maximum is not None:
            return gr.Slider(minimum=field.minimum, maximum=field.maximum, step=0.01, value=field.default, **common)
        return gr.Number(value=field.default, minimum=field.minimum, maximum=field.maximum, **common)
    return gr.Textbox(value=field.default or "", **common)


def values_to_spec(fields: list[FormField], values: list[Any], *, base_model: str, train: str, columns: dict[str, str] | None) -> dict[str, Any]:
    """The spec mapping for :func:`jobs.spec.parse_spec` from widget values (empty optional fields are left out)."""
    spec: dict[str, Any] = {"base_model": base_model or "", "data": {"train": train or "", "columns": dict(columns or {})}}
    for field, value in zip(fields, values, strict=True):
        if value is None or value == "" or (field.nullable and field.kind in ("int", "float") and value == 0):
            continue  # an empty optional field (gradio sends an empty number as 0)
        if field.kind == "fraction":
            value = float(value) or None
            if value is None:
                continue
        elif field.kind == "int":
            value = int(value)
        elif field.kind == "lines":
            value = [line.strip() for line in str(value).splitlines() if line.strip()] if isinstance(value, str) else list(value)
            if not value:
                continue
        elif field.kind == "records":
            value = records_value(value)
            if not value:
                continue
        elif field.kind == "modules" and isinstance(value, str) and value not in field.choices:
            value = [part.strip() for part in value.replace(",", " ").split() if part.strip()]
        target = spec
        *parents, last = field.path.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    return spec


def spec_to_values(fields: list[FormField], spec: JobSpec) -> list[Any]:
    """Widget values for a validated spec (the inverse of :func:`values_to_spec`)."""
    dumped = spec.model_dump(mode="json")
    values = []
    for field in fields:
        node: Any = dumped
        for part in field.path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if field.kind == "modules" and isinstance(node, list):
            node = ", ".join(node)
        if field.kind == "lines":
            node = "\n".join(node or [])
        if field.kind == "records":
            node = records_text(node or [])
        if field.kind == "fraction" and not isinstance(node, (int, float)):
            node = 0.0
        values.append(node)
    return values


def records_text(items: list[dict[str, Any]]) -> str:
    """A list of objects (e.g. grpo.rewards) as the YAML shown in its text box; empty fields left out."""
    cleaned = [{key: value for key, value in item.items() if value is not None} for item in items]
    return yaml.safe_dump(cleaned, sort_keys=False, allow_unicode=True) if cleaned else ""


def records_value(text: Any) -> Any:
    """The YAML text of a records box as a list (text that is not YAML is passed on, so the spec names the field)."""
    if not isinstance(text, str):
        return text
    try:
        return yaml.safe_load(text) if text.strip() else []
    except yaml.YAMLError:
        return text


DECISION_FIELDS = ("task", "objective", "method", "training.epochs", "data.validation")
"""Fields shown at the top of the Train tab, each with its recommendation (the others live under "Advanced")."""
ADVANCED_GROUPS = ("model_data", "optimisation", "checkpoints", "lora", "prompt_tuning", "images", "samples", "embedding", "preference",
                   "grpo", "resources")
"""The groups under "Advanced", in order; a spec section not named in :data:`GROUP_OF_SECTION` gets a group of its own after these."""
GROUP_OF_FIELD: dict[str, str] = {
    "name": "model_data", "base_model_revision": "model_data",
    "training.eval_steps": "checkpoints", "training.save_steps": "checkpoints", "training.checkpoint_minutes": "checkpoints",
    "training.logging_steps": "checkpoints",
}
"""Fields placed apart from the rest of their section."""
GROUP_OF_SECTION: dict[str, str] = {"job": "model_data", "data": "model_data", "training": "optimisation", "evaluation": "checkpoints"}
"""Sections placed in a group of another name (any other section, e.g. ``images``, is its own group)."""
IMAGE_GROUP = "images"
"""Fields whose help starts with ``text-to-image:`` gather here, wherever their section is."""


def field_group(field: FormField) -> str:
    """The Train tab group of ``field``: ``decisions`` at the top, else an "Advanced" group (by path, image help, then section)."""
    if field.path in DECISION_FIELDS:
        return "decisions"
    if field.path in GROUP_OF_FIELD:
        return GROUP_OF_FIELD[field.path]
    if field.description.startswith(IMAGE_PREFIX):
        return IMAGE_GROUP
    return GROUP_OF_SECTION.get(field.section, field.section)


def group_visible(group: str, fields: list[FormField], task: str | None, method: str | None, objective: str | None) -> bool:
    """A group shows when one of its fields applies to ``task`` and, for a method's or an objective's own group, that
    method or objective (causal-lm) is chosen."""
    if group in METHOD_SECTIONS and group not in method_sections(str(method or "")):
        return False
    if group in OBJECTIVE_SECTIONS and (str(task or Task.CAUSAL_LM.value) != Task.CAUSAL_LM.value or group not in objective_sections(objective)):
        return False
    return any(field_visible(field, task) for field in fields)


def method_choices() -> list[str]:
    return [method.value for method in Method]
