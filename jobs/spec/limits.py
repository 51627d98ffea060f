"""Limits on what a job spec may hold, checked at the door before anything is parsed, stored or queued.

A spec is small (a few hundred bytes); anything far larger is a mistake or an attack. Checked, in this order:

- the YAML text: at most :data:`MAX_SPEC_BYTES` bytes, before parsing;
- the YAML structure while it is composed: no aliases (``&a`` / ``*a``: a 100 KB string aliased 100 times would store
  10 MB), at most :data:`MAX_YAML_DEPTH` levels of nesting (2,000 levels used to raise ``RecursionError``) and
  :data:`MAX_YAML_NODES` nodes;
- every value of the parsed mapping (YAML or JSON alike): strings of at most :data:`MAX_STRING_CHARS` characters,
  lists of at most :data:`MAX_LIST_ITEMS` items, mappings of at most :data:`MAX_MAPPING_KEYS` keys.

Each refusal is one sentence naming the limit and the size seen, with the offending value cut to a few characters.

    check_spec_size(text, "spec.yaml")
    data = load_bounded_yaml(text, "spec.yaml")
    check_value_bounds(data)
"""

from __future__ import annotations

from typing import Any

import yaml

from jobs.errors import SpecError

MAX_SPEC_BYTES = 64 * 1024
MAX_YAML_DEPTH = 12
MAX_YAML_NODES = 2_000
MAX_STRING_CHARS = 4_096
MAX_LIST_ITEMS = 256
MAX_MAPPING_KEYS = 64
SHOWN_CHARS = 40


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr`` of a value cut to ``limit`` characters (a refusal never echoes a huge input back)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def check_spec_size(text: str, source: str = "spec") -> None:
    """Refuse spec text over :data:`MAX_SPEC_BYTES` before it is parsed."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_SPEC_BYTES:
        raise SpecError([f"{source} is {size:,} bytes; a job spec may be at most {MAX_SPEC_BYTES:,} bytes (is a data file pasted into it?)"])


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses aliases and counts nesting depth and nodes as it composes the document."""

    source = "spec"

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise SpecError([f"{self.source} uses a YAML alias at line {mark.line + 1}; aliases (&name / *name) are not allowed in a job "
                             "spec, write the value out"])
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise SpecError([f"{self.source} nests deeper than {MAX_YAML_DEPTH} levels; a job spec needs at most 3"])
            if self._nodes > MAX_YAML_NODES:
                raise SpecError([f"{self.source} has more than {MAX_YAML_NODES:,} YAML values; a job spec needs a few dozen"])
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_bounded_yaml(text: str, source: str = "spec") -> Any:
    """``yaml.safe_load`` within the limits above (raises :class:`SpecError`; YAML syntax errors stay ``yaml.YAMLError``)."""
    check_spec_size(text, source)
    loader = _BoundedLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def check_value_bounds(value: Any, path: str = "spec", depth: int = 0) -> None:
    """Refuse over-long strings, lists and mappings, and deep nesting, anywhere in a parsed spec (the field path names where)."""
    if depth > MAX_YAML_DEPTH:
        raise SpecError([f"{path} nests deeper than {MAX_YAML_DEPTH} levels; a job spec needs at most 3"])
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise SpecError([f"{path} is {len(value):,} characters long; the limit is {MAX_STRING_CHARS:,} (it starts {shown(value)})"])
    elif isinstance(value, dict):
        if len(value) > MAX_MAPPING_KEYS:
            raise SpecError([f"{path} has {len(value):,} keys; the limit is {MAX_MAPPING_KEYS}"])
        for key, item in value.items():
            name = key if isinstance(key, str) and len(key) <= 100 else shown(key)
            check_value_bounds(item, f"{path}.{name}" if path != "spec" else str(name), depth + 1)
    elif isinstance(value, (list, tuple)):
        if len(value) > MAX_LIST_ITEMS:
            raise SpecError([f"{path} has {len(value):,} items; the limit is {MAX_LIST_ITEMS}"])
        for index, item in enumerate(value):
            check_value_bounds(item, f"{path}[{index}]", depth + 1)
