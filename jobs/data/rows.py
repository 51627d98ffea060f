"""Per-row reading shared by inspection and example building: a row's fields for its format, or its problems.

A row with a problem (an empty response, a chat with no assistant turn, a missing label) is reported by
:mod:`jobs.data.inspect` and skipped by :mod:`jobs.data.examples`, :mod:`jobs.data.pairs` and :mod:`jobs.data.preference`;
all use :func:`row_fields` so they agree (the rows of objectives dpo, orpo, kto and grpo through :func:`objective_row_fields`).
Row numbers follow :mod:`jobs.data.readers` (the line or position a person sees in the file).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from jobs.data.formats import FormatChoice, feedback_label
from jobs.data.split import UNUSABLE, Candidate, Dropped, content_key
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


class TooLongError(RowError):
    """A row with nothing left to learn or score after ``max_length``: dropped after the split, on its side."""


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


REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
"""Keys of an assistant message that hold its reasoning (kept as ``reasoning_content``)."""


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
        reasoning = next((message[key] for key in REASONING_KEYS if message.get(key)), None)
        if reasoning is not None and canonical == "assistant":  # a thinking model's reasoning (jobs.data.chat)
            messages[-1]["reasoning_content"] = str(reasoning)
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
        fields = {"prompt": prompt, "response": response, "system": _optional_text(record, mapping.get("system"))}
        reasoning = _optional_text(record, mapping.get("reasoning"))
        return {**fields, "reasoning": reasoning} if reasoning else fields
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
        return objective_row_fields(record, choice)
    raise ValueError(f"format {fmt} cannot be read row by row")  # pragma: no cover - auto is resolved before


def _is_conversation(value: Any) -> bool:
    if hasattr(value, "tolist"):
        value = value.tolist()
    return isinstance(value, list) or (isinstance(value, str) and value.lstrip().startswith("[{"))


def _with_system(messages: list[dict[str, str]], system: str | None) -> list[dict[str, str]]:
    if system and (not messages or messages[0]["role"] != "system"):
        return [{"role": "system", "content": system}, *messages]
    return messages


def _last_user(messages: list[dict[str, str]]) -> str:
    users = [message["content"] for message in messages if message["role"] == "user"]
    return users[-1] if users else ""


def _same_text(first: str, second: str) -> bool:
    return " ".join(first.split()) == " ".join(second.split())


def _preference_fields(record: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    chosen_column, rejected_column = mapping["chosen"], mapping["rejected"]
    system = record.get(mapping["system"]) if "system" in mapping else None
    system = str(system) if isinstance(system, str) and system.strip() else None
    if _is_conversation(record.get(chosen_column)) or _is_conversation(record.get(rejected_column)):
        chosen_messages = normalize_messages(record.get(chosen_column), chosen_column)
        rejected_messages = normalize_messages(record.get(rejected_column), rejected_column)
        for column, messages in ((chosen_column, chosen_messages), (rejected_column, rejected_messages)):
            if messages[-1]["role"] != "assistant":
                raise RowError(column, f"{column} must end with the assistant's answer; its last message is a {messages[-1]['role']} turn")
        prompt_messages = chosen_messages[:-1]
        if rejected_messages[:-1] != prompt_messages:
            raise RowError(rejected_column, f"the {rejected_column} conversation differs from the {chosen_column} one before the last "
                                            "answer; both must share every earlier turn")
        if "prompt" in mapping and isinstance(record.get(mapping["prompt"]), str) and record[mapping["prompt"]].strip():
            if not any(message["role"] == "user" for message in prompt_messages):
                prompt_messages = [*prompt_messages, {"role": "user", "content": record[mapping["prompt"]]}]
        if not any(message["role"] == "user" for message in prompt_messages):
            raise RowError(chosen_column, f"{chosen_column} has no user turn before the answer, so there is no prompt; add one or map a "
                                          "prompt column")
        chosen, rejected = chosen_messages[-1]["content"], rejected_messages[-1]["content"]
    else:
        if "prompt" not in mapping:
            raise RowError(None, "chosen and rejected are texts, so each row needs a prompt; add a prompt column or map one with "
                                 "columns: {prompt: <column>}")
        prompt_messages = [{"role": "user", "content": _text(record, mapping["prompt"], "prompt")}]
        chosen = _text(record, chosen_column, "chosen")
        rejected = _text(record, rejected_column, "rejected")
    if _same_text(chosen, rejected):
        raise RowError(rejected_column, f"{_named('rejected', rejected_column)} is the same answer as chosen, so there is nothing to "
                                        "prefer; fix one of them or remove the row")
    prompt_messages = _with_system(prompt_messages, system)
    return {"prompt": _last_user(prompt_messages), "prompt_messages": prompt_messages, "chosen": chosen, "rejected": rejected,
            "messages": [*prompt_messages, {"role": "assistant", "content": chosen}]}


def objective_row_fields(record: dict[str, Any], choice: FormatChoice) -> dict[str, Any]:
    """The fields of one preference, feedback or prompts row; raises :class:`RowError` naming the column when it cannot be used.

    Every format gives ``prompt`` (the last user text), ``prompt_messages`` and ``messages`` (the conversation sft would
    learn: the prompt and the chosen answer, the completion, or the reference answer); preference adds ``chosen`` and
    ``rejected``, feedback ``completion`` and ``label`` (True: good), prompts ``answer`` (or None)."""
    mapping = choice.mapping
    if choice.format is DataFormat.PREFERENCE:
        return _preference_fields(record, mapping)
    system_value = record.get(mapping["system"]) if "system" in mapping else None
    system = system_value if isinstance(system_value, str) and system_value.strip() else None
    prompt_messages = _with_system([{"role": "user", "content": _text(record, mapping["prompt"], "prompt")}], system)
    prompt = prompt_messages[-1]["content"]
    if choice.format is DataFormat.FEEDBACK:
        completion = _text(record, mapping["completion"], "completion")
        label = feedback_label(record.get(mapping["label"]))
        if label is None:
            shown = str(record.get(mapping["label"]))[:40]
            raise RowError(mapping["label"], f"{_named('label', mapping['label'])} is {shown!r}; use true or false (or 1/0, good/bad) to "
                                             "say whether the completion is good")
        return {"prompt": prompt, "prompt_messages": prompt_messages, "completion": completion, "label": label,
                "messages": [*prompt_messages, {"role": "assistant", "content": completion}]}
    answer_value = record.get(mapping["reference"]) if "reference" in mapping else None
    answer = None if answer_value is None or (isinstance(answer_value, float) and answer_value != answer_value) else str(answer_value)
    if answer is not None and not answer.strip():
        answer = None
    answer_turn = [{"role": "assistant", "content": answer}] if answer else []
    return {"prompt": prompt, "prompt_messages": prompt_messages, "answer": answer, "messages": [*prompt_messages, *answer_turn]}


@dataclass
class UsableRows:
    """A file's rows as the split sees them (:func:`usable_rows`)."""

    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Row number -> the record as read."""
    fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Row number -> its fields (:func:`row_fields`), for the usable rows."""
    candidates: list[Candidate] = field(default_factory=list)
    """The usable rows, in file order, with their content key (and group)."""
    unusable: list[Dropped] = field(default_factory=list)
    """The rows the format cannot read, for ``split.json``."""
    problems: list[Problem] = field(default_factory=list)
    """The same rows as problems (messages prefixed by ``source`` when given)."""


def usable_rows(records: list[dict[str, Any]], row_numbers: list[int], choice: FormatChoice, *, file: str = "train", source: str = "",
                group: Callable[[dict[str, Any]], str] | None = None) -> UsableRows:
    """Read every row with :func:`row_fields`: the usable ones become split candidates keyed by their content (case, whitespace and
    punctuation ignored; ``group(fields)`` when rows must stay together by something else), the others are listed as unusable."""
    result = UsableRows()
    for record, row in zip(records, row_numbers, strict=True):
        result.records[row] = record
        try:
            fields = row_fields(record, choice)
        except RowError as error:
            problem = error.problem(row)
            result.problems.append(Problem(problem.row, problem.column, f"{source}: {problem.message}" if source else problem.message))
            result.unusable.append(Dropped(row, file, "none", UNUSABLE, problem.message))
            continue
        result.fields[row] = fields
        result.candidates.append(Candidate(row, content_key(fields), group(fields) if group is not None else None))
    return result
