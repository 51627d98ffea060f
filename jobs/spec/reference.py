"""The spec reference: ``docs/spec-reference.md``, generated from the JobSpec schema so it cannot drift from it.

Every section of a spec (each pydantic model reachable from :class:`JobSpec`: ``data``, ``training``, ``lora``, ...,
and the items of a list such as ``grpo.rewards``) gets a heading, the section's docstring and a table of its fields:
name, type, default, allowed values or bounds, description. Fields keep their declaration order (the order of the
form and of a written spec); sections follow the order in which the spec declares them; nothing depends on the
machine, the time or a hash, so the output is the same byte for byte everywhere. ``tests/test_docs.py`` regenerates
it and compares it with the committed file.

    python -m jobs.spec.reference > docs/spec-reference.md
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import types
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from jobs.spec import JobSpec

DOCS_PATH = "docs/spec-reference.md"
"""Where the generated reference lives, relative to the repository root."""

_MODULE = __spec__.name if __spec__ is not None else __name__  # "jobs.spec.reference" even when run with -m
REGENERATE_COMMAND = f"python -m {_MODULE} > {DOCS_PATH}"
"""The command that rewrites the reference after a change to the JobSpec."""

_TOP = "Top level"
_UNIONS = (Union, types.UnionType)
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_SPHINX_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|obj):`~?([^`]+)`")


def spec_reference_markdown() -> str:
    """The whole reference as Markdown text ending in one newline: an index, then one heading and table per section."""
    sections = _sections(JobSpec)
    lines = [
        "# Spec reference",
        "",
        f"Generated from the `JobSpec` schema (`jobs.spec`) by `{REGENERATE_COMMAND}`; do not edit it by hand.",
        "`tests/test_docs.py` regenerates it and fails when this file differs, so after changing a field of the spec,",
        "run that command and commit the result. [The job spec](spec.md) explains how a spec is written and checked.",
        "",
        "A spec is a YAML mapping: the top-level fields below, and one mapping per section (`training: {epochs: 2}`).",
        "Most fields have a default, so a section may be given in part or left out; *required* marks the fields without",
        "one. Keys the spec does not know are ignored with a warning that suggests the closest field.",
        "",
        "## Sections",
        "",
    ]
    lines += [f"- [{path}](#{_anchor(path)})" for path, _ in sections]
    for path, model in sections:
        lines += ["", f"## {path}", ""]
        about = _clean_doc(model.__doc__)
        if about:
            lines += [_escape(about), ""]
        lines += ["| field | type | default | allowed | description |", "|---|---|---|---|---|"]
        for name, info in model.model_fields.items():
            lines.append(_field_row(name, info, sections))
    return "\n".join(lines) + "\n"


def _sections(root: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    """(path, model) for the root and every nested model, depth first in declaration order; each model once."""
    found: list[tuple[str, type[BaseModel]]] = []
    seen: set[type[BaseModel]] = set()

    def visit(path: str, model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        found.append((path, model))
        for name, info in model.model_fields.items():
            nested_models = _nested_models(info.annotation)
            suffixes = [suffix for suffix, _ in nested_models]
            for suffix, nested in nested_models:
                prefix = "" if path == _TOP else f"{path}."
                variant = f" ({_variant_name(nested, info)})" if suffixes.count(suffix) > 1 else ""
                visit(f"{prefix}{name}{suffix}{variant}", nested)

    visit(_TOP, root)
    return found


def _variant_name(model: type[BaseModel], info: FieldInfo) -> str:
    """One of several models a field may hold: ``kind: a`` when a discriminator field tells it, else the model's name."""
    key = info.discriminator if isinstance(info.discriminator, str) else None
    tag = model.model_fields.get(key) if key else None
    if tag is not None and get_origin(tag.annotation) is Literal and len(get_args(tag.annotation)) == 1:
        return f"{key}: {get_args(tag.annotation)[0]}"
    return model.__name__


def _nested_models(annotation: Any, suffix: str = "") -> list[tuple[str, type[BaseModel]]]:
    """The models inside an annotation, in the order they appear: a list's items get the suffix ``[]``, a mapping's ``.*``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(suffix, annotation)]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _nested_models(args[0], suffix)
    if origin in (list, tuple, set, frozenset):
        return [item for arg in args if arg is not Ellipsis for item in _nested_models(arg, suffix + "[]")]
    if origin is dict:
        return _nested_models(args[1], suffix + ".*") if len(args) == 2 else []
    if origin in _UNIONS:
        return [item for arg in args for item in _nested_models(arg, suffix)]
    return []


def _field_row(name: str, info: FieldInfo, sections: list[tuple[str, type[BaseModel]]]) -> str:
    links = {model: where for where, model in sections}
    cells = [
        f"`{name}`",
        _type_text(info.annotation, links),
        _default_text(info),
        _allowed_text(info),
        _escape(_clean_doc(info.description) or _section_summary(info.annotation)),
    ]
    return "| " + " | ".join(cell or "" for cell in cells) + " |"


def _section_summary(annotation: Any) -> str:
    """For a section field without a description: the first sentence of its section's docstring."""
    models = _nested_models(annotation)
    if len(models) != 1:  # none, or one of several variants: the type column links each
        return ""
    about = _clean_doc(models[0][1].__doc__)
    return re.split(r"(?<=\.)\s", about, maxsplit=1)[0]


def _type_text(annotation: Any, links: dict[type[BaseModel], str]) -> str:
    """A reader's name for a type: string, integer, number, boolean, choice, list of ..., a link to a section."""
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            heading = links.get(annotation, annotation.__name__)
            return f"section [{_escape(heading)}](#{_anchor(heading)})"
        if issubclass(annotation, Enum):
            return "choice"
        simple = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "mapping", list: "list"}
        if annotation in simple:
            return simple[annotation]
        return annotation.__name__
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_text(args[0], links)
    if origin is Literal:
        return "choice"
    if origin in (list, tuple, set, frozenset):
        items = [arg for arg in args if arg is not Ellipsis]
        return "list of " + (_plural(_type_text(items[0], links)) if items else "values")
    if origin is dict:
        return f"mapping of {_type_text(args[0], links)} to {_type_text(args[1], links)}" if len(args) == 2 else "mapping"
    if origin in _UNIONS:
        parts: list[str] = []
        for arg in args:
            text = _type_text(arg, links)
            if text not in parts:
                parts.append(text)
        if "null" in parts:  # "or null" last, however the union was written
            parts = [part for part in parts if part != "null"] + ["null"]
        return " or ".join(parts)
    return _escape(str(annotation))


def _plural(text: str) -> str:
    """``list of strings`` rather than ``list of string``; sections and compound types stay as they are."""
    return {"string": "strings", "integer": "integers", "number": "numbers", "boolean": "booleans", "choice": "choices"}.get(text, text)


def _default_text(info: FieldInfo) -> str:
    if info.default_factory is not None:
        factory = info.default_factory
        if isinstance(factory, type) and issubclass(factory, BaseModel):
            return "its defaults"
        return _value_text(factory())  # a plain factory such as list or dict
    if info.default is PydanticUndefined:
        return "*required*"
    return _value_text(info.default)


def _value_text(value: Any) -> str:
    """A default as it is written in YAML: ``null``, ``true``, ``0.0002``, ``[]``, an enum by its value."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, (set, frozenset)):  # no order of its own: sorted, so the text never depends on hashing
        value = sorted(value, key=str)
    plain = to_jsonable_python(value)
    text = plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False, sort_keys=True)
    return f"`{text}`" if text != "" else '`""`'


def _allowed_text(info: FieldInfo) -> str:
    """Choices (in their declared order), bounds, lengths and patterns of a field, from its annotation and constraints."""
    parts: list[str] = []
    choices = _choices(info.annotation)
    if choices:
        parts.append(", ".join(f"`{choice}`" for choice in choices))
    counted = _counts_items(info.annotation)
    words = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    for constraint in _constraints(info):
        for key in ("gt", "ge", "lt", "le"):
            bound = getattr(constraint, key, None)
            if bound is not None:
                parts.append(f"{words[key]} {_number(bound)}")
        multiple = getattr(constraint, "multiple_of", None)
        if multiple is not None:
            parts.append(f"multiple of {_number(multiple)}")
        unit = "items" if counted else "characters"
        low, high = getattr(constraint, "min_length", None), getattr(constraint, "max_length", None)
        if low is not None:
            parts.append(f"at least {low} {unit if low != 1 else unit[:-1]}")
        if high is not None:
            parts.append(f"at most {high} {unit if high != 1 else unit[:-1]}")
        pattern = getattr(constraint, "pattern", None)
        if pattern is not None:
            parts.append(f"matches `{pattern}`")
    if info.discriminator is not None:
        chosen_by = info.discriminator if isinstance(info.discriminator, str) else "its discriminator"
        parts.append(f"one of the sections, chosen by `{chosen_by}`")
    return _escape(", ".join(parts))


def _choices(annotation: Any) -> list[str]:
    """Every enum and literal value inside an annotation, in declaration order, each once."""
    values: list[str] = []
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        values = [str(member.value) for member in annotation]
    elif get_origin(annotation) is Literal:
        values = [str(arg) for arg in get_args(annotation)]
    elif get_origin(annotation) in (*_UNIONS, Annotated):
        args = get_args(annotation)
        for arg in args[:1] if get_origin(annotation) is Annotated else args:
            values += [value for value in _choices(arg) if value not in values]
    return values


def _counts_items(annotation: Any) -> bool:
    """True when the field's length constraints count list or mapping items rather than characters."""
    origin = get_origin(annotation)
    if origin in _UNIONS:
        return any(_counts_items(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is Annotated:
        return _counts_items(get_args(annotation)[0])
    return origin in (list, tuple, set, frozenset, dict) or annotation in (list, dict)


def _constraints(info: FieldInfo) -> list[Any]:
    """The field's constraint objects (annotated_types Gt, Le, MaxLen, ..., pydantic's pattern), in pydantic's order."""
    found = list(info.metadata)
    annotation = info.annotation
    if get_origin(annotation) is Annotated:
        found += list(get_args(annotation)[1:])
    return found


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _clean_doc(text: str | None) -> str:
    """A docstring or description on one line, Sphinx roles turned into code spans."""
    if not text:
        return ""
    text = _SPHINX_ROLE.sub(lambda match: f"`{match.group(1)}`", inspect.cleandoc(text))
    text = text.replace("``", "`")
    return " ".join(text.split())


def _escape(text: str) -> str:
    """Text safe inside a table cell: pipes escaped, and outside code spans a <tag> shown rather than taken for HTML."""
    pieces = text.replace("|", "\\|").split("`")
    return "`".join(piece if index % 2 else _TAG_START.sub("&lt;", piece) for index, piece in enumerate(pieces))


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def main() -> None:
    """Write the reference to standard output as UTF-8."""
    sys.stdout.buffer.write(spec_reference_markdown().encode("utf-8"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
