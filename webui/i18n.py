"""Every label and message of the web UI in English and Brazilian Portuguese, switchable in the page.

``t(lang, key, **values)`` formats one string. Widgets are created through a :class:`Registry`, which
remembers which attribute (label, info, value) of which component shows which key, so switching the
language is one event that updates them all. The form's field labels and help come from the JobSpec
schema in English (``field.<path>`` and ``field.<path>.info``) and are translated here; a test checks
that both languages have exactly the same keys, so a new spec field fails CI until it is translated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import gradio as gr

from webui.spec_form import schema_fields
from webui.strings import EN_UI, FIELDS_PT, PT_UI

LANGUAGES: dict[str, str] = {"English": "en", "Português (Brasil)": "pt-BR"}
DEFAULT_LANGUAGE = "en"


def _field_strings_en() -> dict[str, str]:
    strings: dict[str, str] = {}
    for field in schema_fields():
        strings[f"field.{field.path}"] = field.name.replace("_", " ").capitalize()
        strings[f"field.{field.path}.info"] = field.description
    return strings


STRINGS: dict[str, dict[str, str]] = {
    "en": {**EN_UI, **_field_strings_en()},
    "pt-BR": {**PT_UI, **FIELDS_PT},
}


def t(lang: str | None, key: str, **values: Any) -> str:
    """The string ``key`` in ``lang`` (English when missing), formatted with ``values``."""
    table = STRINGS.get(lang or DEFAULT_LANGUAGE, STRINGS[DEFAULT_LANGUAGE])
    text = table.get(key) or STRINGS[DEFAULT_LANGUAGE].get(key) or key
    return text.format(**values) if values else text


def labels(lang: str | None, prefix: str, keys: Iterable[str]) -> list[str]:
    """The strings ``<prefix><key>`` in ``lang``, in the order of ``keys`` (a table's column headers, say)."""
    return [t(lang, f"{prefix}{key}") for key in keys]


def string_table(lang: str | None, prefix: str, english: dict[str, str]) -> dict[str, str]:
    """``english`` (a sentence's words kept in jobs/, e.g. :data:`jobs.data.doctor_notes.DATA_LINE_EN`) in ``lang``: each key
    looked up as ``<prefix><key>``, so one function in jobs/ words its sentence in the page's language."""
    return {key: t(lang, f"{prefix}{key}") for key in english}


def keyed(cls: type, key: str, **kwargs: Any) -> Callable[..., Any]:
    """``cls`` with a render ``key`` (Gradio keeps a keyed widget's value across re-renders of a ``gr.render`` body) and
    ``kwargs``, for :meth:`Registry.make`, whose own second argument is called ``key``."""
    return functools.partial(cls, key=key, **kwargs)


class Registry:
    """Creates translated widgets and, on a language switch, gives one update per registered widget."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self._items: list[tuple[Any, dict[str, str | Callable[[str], str]]]] = []
        self.language = language  # what new widgets show; a part built later (gr.render) is built in the page's language

    def register(self, component: Any, **attrs: str | Callable[[str], str]) -> Any:
        """Remember that ``component``'s attributes (label=..., info=..., value=...) show these keys (or the text a function
        of the language gives: a sentence with numbers, like the Models tab's machine line)."""
        self._items.append((component, attrs))
        return component

    def make(self, cls: type, key: str, *, info: str | None = None, attr: str = "label", **kwargs: Any) -> Any:
        """``cls(**kwargs)`` with its ``attr`` (and ``info``) set from keys, registered for switching."""
        attrs = {attr: key}
        kwargs[attr] = t(self.language, key)
        if info:
            attrs["info"] = info
            kwargs["info"] = t(self.language, info)
        return self.register(cls(**kwargs), **attrs)

    def button(self, key: str, **kwargs: Any) -> gr.Button:
        return self.make(gr.Button, key, attr="value", **kwargs)

    def markdown(self, key: str, **kwargs: Any) -> gr.Markdown:
        return self.make(gr.Markdown, key, attr="value", **kwargs)

    @property
    def components(self) -> list[Any]:
        return [component for component, _ in self._items]

    def updates(self, lang: str) -> list[Any]:
        """One ``gr.update`` per registered component, in registration order."""
        return [gr.update(**{attr: key(lang) if callable(key) else t(lang, key) for attr, key in attrs.items()}) for _, attrs in self._items]
