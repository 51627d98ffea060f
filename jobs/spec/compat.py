"""Older and newer specs keep loading: settings that moved to another section, and the warnings that say so.

A spec written before a setting moved (``training.resolution`` before the ``images:`` section existed) still
loads: :func:`move_old_settings` carries each moved key to its new place and warns with a sentence naming both
places; when both are given, the new place wins and the warning says which value was ignored. Unknown keys
(from a newer version, or a typo) are ignored with a warning too (see :class:`jobs.spec.SpecModel`).

Spec warnings are ordinary Python warnings (:class:`SpecWarning`, a ``UserWarning``) unless a caller collects
them, as the web UI (one ``gr.Warning`` each) and the ``train`` command (one ``warning:`` line each) do:

    with collect_spec_warnings() as notes:
        spec = parse_spec_yaml(text)
    for note in notes:
        print(f"warning: {note}")
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jobs.spec.limits import shown

MOVED_SETTINGS: dict[str, str] = {
    "data.caption": "images.caption",
    "data.instance_prompt": "images.instance_prompt",
    "data.trigger_word": "images.trigger_word",
    "training.resolution": "images.resolution",
    "training.crop": "images.crop",
    "training.random_flip": "images.random_flip",
    "training.noise_offset": "images.noise_offset",
    "training.snr_gamma": "images.snr_gamma",
    "training.cache_latents": "images.cache_latents",
    "training.use_8bit_adam": "images.use_8bit_adam",
    "lora.train_text_encoder": "images.train_text_encoder",
}
"""Old place → new place of every setting that moved (issue 16: text-to-image settings got their own section)."""


class SpecWarning(UserWarning):
    """A spec loaded, but something in it needs its author's attention (an unknown key, a setting in its old place)."""


_shown_once: dict[Any, Any] = {}
_collected: ContextVar[list[str] | None] = ContextVar("spec_warnings", default=None)


def spec_warning(message: str) -> None:
    """Report ``message`` to the caller collecting spec warnings (:func:`collect_spec_warnings`), else as a SpecWarning."""
    collected = _collected.get()
    if collected is None:
        # "spec:0: SpecWarning: ..." rather than a line of pydantic's; the registry shows each message once per process
        warnings.warn_explicit(message, SpecWarning, filename="spec", lineno=0, registry=_shown_once)
    elif message not in collected:
        collected.append(message)


@contextmanager
def collect_spec_warnings() -> Iterator[list[str]]:
    """Inside the block, spec warnings are appended (once each) to the yielded list instead of being warned; per thread."""
    collected: list[str] = []
    token = _collected.set(collected)
    try:
        yield collected
    finally:
        _collected.reset(token)


def move_old_settings(values: Any) -> Any:
    """A copy of the raw spec mapping with every setting of :data:`MOVED_SETTINGS` in its new place, and one warning
    naming what moved; anything that is not a mapping, or has nothing to move, is returned as it is."""
    if not isinstance(values, dict):
        return values
    moved: dict[str, Any] = dict(values)
    notes: list[str] = []
    for old, new in MOVED_SETTINGS.items():
        old_section, old_key = old.split(".")
        new_section, new_key = new.split(".")
        source = moved.get(old_section)
        if not isinstance(source, dict) or old_key not in source:
            continue
        source = dict(source)
        value = source.pop(old_key)
        moved[old_section] = source
        target = moved.get(new_section)
        target = {} if target is None else target
        if not isinstance(target, dict) or new_key in target:
            kept = f" {shown(target[new_key])}" if isinstance(target, dict) else ""
            notes.append(f"{old} is now {new} (both were given: {new}{kept} is used, {old} {shown(value)} is ignored)")
            continue
        moved[new_section] = {**target, new_key: value}
        notes.append(f"{old} is now {new}")
    if notes:
        spec_warning("the spec has settings in their old place; they were read, but write them in the new one: " + "; ".join(notes))
    return moved
