"""From a mapping, YAML text or a YAML file to a validated :class:`jobs.spec.job.JobSpec`, every problem one sentence.

Bounds are checked at the door before anything is parsed (:mod:`jobs.spec.limits`); pydantic's errors become one
sentence per problem naming the field and what is allowed (:func:`format_validation_error`), raised as
:class:`jobs.errors.SpecError`.

    from jobs.spec import load_spec, parse_spec_yaml
    spec = parse_spec_yaml(text, source="upload.yaml")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from jobs.errors import SpecError
from jobs.spec.job import JobSpec
from jobs.spec.limits import check_value_bounds, load_bounded_yaml, shown


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith(("function-", "literal[", "str", "float", "list[")))


def _problem_sentence(error: dict[str, Any]) -> str:
    path = _field_path(error["loc"]) or "spec"
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    got_text = "" if isinstance(got, (dict, list)) or got is None else f" (got {shown(got)})"
    if kind == "missing":
        return f"{path} is required"
    if kind == "enum":
        return f"{path} must be one of: {ctx.get('expected', '')}{got_text}"
    if kind == "string_pattern_mismatch":
        return f"{path} may hold only letters, digits and . _ / -{got_text}"
    if kind == "literal_error":
        return f"{path} must be {ctx.get('expected', '')}{got_text}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "greater than", "greater_than_equal": "at least", "less_than": "less than", "less_than_equal": "at most"}
        bound = next(iter(ctx.values()), "")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"{path} must be {words[kind]} {bound}{got_text}"
    if kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error", error["msg"]))
        return message if path == "spec" or message.startswith(path) else f"{path} {message}"
    return f"{path}: {error['msg'].lower()}{got_text}"


def format_validation_error(error: ValidationError) -> list[str]:
    """One sentence per problem, naming the field and what is allowed; duplicates from unions removed."""
    sentences: list[str] = []
    for item in error.errors():
        sentence = _problem_sentence(item)
        if sentence not in sentences:
            sentences.append(sentence)
    return sentences


def parse_spec(data: dict[str, Any] | JobSpec) -> JobSpec:
    """Validate a mapping into a JobSpec, raising :class:`SpecError` with one sentence per problem."""
    if isinstance(data, JobSpec):
        return data
    if not isinstance(data, dict):
        raise SpecError([f"the spec must be a mapping of fields (task, base_model, method, data, ...), got {type(data).__name__}"])
    check_value_bounds(data)
    try:
        return JobSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(format_validation_error(error)) from None


def parse_spec_yaml(text: str, source: str = "spec") -> JobSpec:
    """Parse YAML text into a JobSpec within the limits of :mod:`jobs.spec.limits`; YAML syntax errors name the line."""
    try:
        data = load_bounded_yaml(text, source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise SpecError([f"{source} is not valid YAML{where}: {problem}"]) from None
    if data is None:
        raise SpecError([f"{source} is empty; it needs at least base_model and data.train"])
    return parse_spec(data)


def load_spec(path: str | Path) -> JobSpec:
    """Read a YAML spec file. Relative data paths stay relative to the current directory."""
    path = Path(path)
    if not path.is_file():
        raise SpecError([f"spec file {path} does not exist"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError([f"spec file {path} is not UTF-8 text"]) from None
    return parse_spec_yaml(text, source=str(path))
