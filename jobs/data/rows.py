"""Per-row reading shared by inspection and example building: a row's fields for its format, or its problems.

A row with a problem (an empty response, a chat with no assistant turn, a missing label) is reported by
:mod:`jobs.data.inspect` and skipped by :mod:`jobs.data.examples`; both use :func:`row_fields` so they agree.
Row numbers follow :mod:`jobs.data.readers` (the line or position a person sees in the file).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from jobs.data.formats import FormatChoice
from jobs.spec import DataFormat

ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "tool": "tool",
}
"""Message roles accepted in chat data (ShareGPT's human/gpt included) and what they become."""


@dataclass
class Problem:
    """Something wrong with the data, located as precisely as possible."""

    row: int | None
    """Row number as seen in the file (see :mod:`jobs.data.readers`), or None for the whole file."""
    column: str | None
    """The column concerned, or None."""
    message: str
    """One sentence saying what is wrong and what to do."""
    level: Literal["error", "warning"] = "error"
    """error: the row is skipped in training; warning: the row is used but worth a look."""

    def __str__(self) -> str:
        where = f"row {self.row}: " if self.row is not None else ""
        return f"{where}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


class RowError(ValueError):
    """A row cannot be used; carries the column and a sentence (turned into a :class:`Problem`)."""

    def __init__(self, column: str | None, message: str):
        super().__init__(message)
        self.column = column
        self.message = message

    def problem(self, row: int | None) -> Problem:
        return Problem(row=row, column=self.column, message=self.message)


def is_missing(value: Any) -> bool:
    """None, NaN or an empty / whitespace-only string."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def label_key(value: Any) -> str | None:
    """A label as its name: ``1``, ``1.0`` and ``"1"`` all become ``"1"``; missing values give None."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple, dict)):
        raise RowError(None, f"is a {type(value).__name__}; give one label per row")
    return str(value).strip()


def _named(role: str, column: str) -> str:
    """``response`` when the column is called response, else ``response (column answer)``."""
    return role if role == column else f"{role} (column {column})"


def _text(record: dict[str, Any], column: str, what: str) -> str:
    if column not in record or record[column] is None or (isinstance(record[column], float) and math.isnan(record[column])):
        raise RowError(column, f"{_named(what, column)} is missing")
    value = record[column]
    if isinstance(value, (dict, list)):
        raise RowError(column, f"{_named(what, column)} is a {type(value).__name__}, not text")
    text = str(value)
    if not text.strip():
        raise RowError(column, f"{_named(what, column)} is empty")
    return text


def _optional_text(record: dict[str, Any], column: str | None) -> str | None:
    if column is None or is_missing(record.get(column)):
        return None
    return str(record[column])


def normalize_messages(value: Any, column: str) -> list[dict[str, str]]:
    """A conversation as ``[{role, content}]`` with roles system/user/assistant/tool; raises :class:`RowError`."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RowError(
                column, f'{column} is text, not a list of messages; write it as JSON [{{"role": ..., "content": ...}}]'
            ) from None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not value:
        raise RowError(column, f"{column} must be a non-empty list of messages with role and content")
    messages: list[dict[str, str]] = []
    for position, message in enumerate(value, start=1):
        if not isinstance(message, dict):
            raise RowError(column, f"message {position} in {column} is not an object with role and content")
        role = message.get("role", message.get("from"))
        content = message.get("content", message.get("value"))
        if role is None or content is None:
            raise RowError(column, f"message {position} in {column} needs a role and a content (or ShareGPT from and value)")
        canonical = ROLE_ALIASES.get(str(role).strip().lower())
        if canonical is None:
            raise RowError(column, f"message {position} in {column} has unknown role {role!r}; use system, user or assistant")
        if isinstance(content, list):  # [{"type": "text", "text": ...}] parts
            content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        messages.append({"role": canonical, "content": str(content)})
    if not any(message["role"] == "assistant" for message in messages):
        raise RowError(column, f"{column} has no assistant turn, so there is nothing to learn from")
    for position, message in enumerate(messages, start=1):
        if message["role"] == "assistant" and not message["content"].strip():
            raise RowError(column, f"message {position} in {column} is an empty assistant turn")
    return messages


def similarity_score(value: Any, column: str) -> float:
    """A scored pair's similarity as a float in 0..1; raises :class:`RowError` naming the column otherwise."""
    if is_missing(value):
        raise RowError(column, f"{_named('score', column)} is missing; give a similarity between 0 and 1")
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise RowError(column, f"{_named('score', column)} is {str(value)[:40]!r}, not a number; give a similarity between 0 and 1") from None
    if not 0.0 <= score <= 1.0:  # NaN fails this too
        raise RowError(column, f"{_named('score', column)} is {score:g}, outside 0 to 1; rescale the scores (e.g. divide 0-5 ratings by 5)")
    return score


def row_fields(record: dict[str, Any], choice: FormatChoice) -> dict[str, Any]:
    """The fields one row contributes, by format; raises :class:`RowError` when the row cannot be used.

    text: ``{text}``; instruction: ``{prompt, response, system?}`` (``input`` is appended to the prompt);
    chat: ``{messages}`` (a system column, if mapped, is prepended); classification: ``{text, text_pair?, label}``.
    """
    mapping = choice.mapping
    fmt = choice.format
    if fmt is DataFormat.TEXT:
        return {"text": _text(record, mapping["text"], "text")}
    if fmt is DataFormat.INSTRUCTION:
        prompt = _text(record, mapping["prompt"], "prompt")
        response = _text(record, mapping["response"], "response")
        extra = _optional_text(record, mapping.get("input"))
        if extra:
            prompt = f"{prompt}\n\n{extra}"
        return {"prompt": prompt, "response": response, "system": _optional_text(record, mapping.get("system"))}
    if fmt is DataFormat.CHAT:
        column = mapping["messages"]
        if column not in record or record[column] is None:
            raise RowError(column, f"{_named('messages', column)} is missing")
        messages = normalize_messages(record[column], column)
        system = _optional_text(record, mapping.get("system"))
        if system and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": system})
        return {"messages": messages}
    if fmt is DataFormat.CLASSIFICATION:
        text = _text(record, mapping["text"], "text")
        label_column = mapping["label"]
        try:
            label = label_key(record.get(label_column))
        except RowError as error:
            raise RowError(label_column, f"{_named('label', label_column)} {error.message}") from None
        if label is None:
            raise RowError(label_column, f"{_named('label', label_column)} is missing")
        return {"text": text, "text_pair": _optional_text(record, mapping.get("text_pair")), "label": label}
    if fmt in (DataFormat.PAIRS, DataFormat.TRIPLETS):
        fields = {role: _text(record, mapping[role], role) for role in ("anchor", "positive", "negative") if role in mapping}
        if " ".join(fields.get("negative", "").split()) == " ".join(fields["positive"].split()):
            raise RowError(mapping["negative"], f"{_named('negative', mapping['negative'])} is the same text as the positive; "
                                                "give a passage that does not answer the query, or remove the row")
        return fields
    if fmt is DataFormat.SCORED_PAIRS:
        fields = {role: _text(record, mapping[role], role) for role in ("sentence1", "sentence2")}
        return {**fields, "score": similarity_score(record.get(mapping["score"]), mapping["score"])}
    if fmt in (DataFormat.PREFERENCE, DataFormat.FEEDBACK, DataFormat.PROMPTS):
        from jobs.data.preference import objective_row_fields

        return objective_row_fields(record, choice)
    raise ValueError(f"format {fmt} cannot be read row by row")  # pragma: no cover - auto is resolved before
