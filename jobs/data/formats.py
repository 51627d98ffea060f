"""Decide how a data file's columns become training examples: the format and the role -> column mapping.

Formats and their roles (optional roles in brackets):

- text: ``text``
- instruction: ``prompt``, ``response`` [``system``, ``input``]
- chat: ``messages`` (a list of ``{role, content}``, or ShareGPT ``{from, value}``) [``system``]
- classification: ``text``, ``label`` [``text_pair``]
- pairs / triplets / scored-pairs (task sentence-embedding): ``anchor``, ``positive`` [+ ``negative``], or
  ``sentence1``, ``sentence2``, ``score``
- preference (objectives dpo, orpo, kto): ``chosen``, ``rejected`` [``prompt``, ``system``]; chosen and rejected are texts
  (then a prompt is required) or chat-style message lists that share every turn but the last answer
- feedback (objective kto): ``prompt``, ``completion``, ``label`` (true/false, 1/0, good/bad) [``system``]
- prompts (objective grpo): ``prompt`` [``reference`` (the reference answer), ``system``]

``format: auto`` looks for common column names (``question``/``answer``, ``instruction``/``output``,
``messages``/``conversations``, ``review``/``sentiment`` ...); a mapping the user gives always wins.

    choice = resolve_format(records, DataFormat.AUTO, {"prompt": "q"}, Task.CAUSAL_LM)
    choice.format, choice.mapping   # DataFormat.INSTRUCTION, {"prompt": "q", "response": "answer"}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobs.errors import DataError
from jobs.spec import EMBEDDING_FORMATS, DataFormat, Task

OBJECTIVE_DATA_FORMATS = (DataFormat.PREFERENCE, DataFormat.FEEDBACK, DataFormat.PROMPTS)
"""Formats of the causal-lm objectives beyond sft (see :mod:`jobs.data.preference`)."""

REQUIRED_ROLES: dict[DataFormat, tuple[str, ...]] = {
    DataFormat.TEXT: ("text",),
    DataFormat.INSTRUCTION: ("prompt", "response"),
    DataFormat.CHAT: ("messages",),
    DataFormat.CLASSIFICATION: ("text", "label"),
    DataFormat.PAIRS: ("anchor", "positive"),
    DataFormat.TRIPLETS: ("anchor", "positive", "negative"),
    DataFormat.SCORED_PAIRS: ("sentence1", "sentence2", "score"),
    DataFormat.PREFERENCE: ("chosen", "rejected"),
    DataFormat.FEEDBACK: ("prompt", "completion", "label"),
    DataFormat.PROMPTS: ("prompt",),
}
OPTIONAL_ROLES: dict[DataFormat, tuple[str, ...]] = {
    DataFormat.TEXT: (),
    DataFormat.INSTRUCTION: ("system", "input", "reasoning"),
    DataFormat.CHAT: ("system",),
    DataFormat.CLASSIFICATION: ("text_pair",),
    DataFormat.PAIRS: (),
    DataFormat.TRIPLETS: (),
    DataFormat.SCORED_PAIRS: (),
    DataFormat.PREFERENCE: ("prompt", "system"),
    DataFormat.FEEDBACK: ("system",),
    DataFormat.PROMPTS: ("reference", "system"),
}
ALL_ROLES = ("text", "prompt", "response", "system", "input", "messages", "label", "text_pair", "anchor", "positive", "negative",
             "sentence1", "sentence2", "score", "chosen", "rejected", "completion", "reference", "reasoning")

COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "instruction", "question", "query", "input", "user", "human"),
    "response": ("response", "output", "answer", "completion", "target", "assistant", "reply", "chosen"),
    "text": ("text", "sentence", "content", "document", "review", "sentence1", "text1", "premise", "body", "comment", "tweet"),
    "label": ("label", "labels", "class", "category", "sentiment", "target", "y"),
    "messages": ("messages", "conversations", "conversation", "chat", "dialog", "dialogue"),
    "system": ("system", "system_prompt"),
    "input": ("input", "context"),
    "reasoning": ("reasoning", "reasoning_content", "thinking"),
    "text_pair": ("text_pair", "sentence2", "text2", "hypothesis"),
    "anchor": ("anchor", "query", "question", "sentence1", "text1", "sentence_a"),
    "positive": ("positive", "passage", "pos", "document", "answer", "sentence2", "text2", "context", "sentence_b"),
    "negative": ("negative", "neg", "hard_negative", "negative_passage"),
    "sentence1": ("sentence1", "text1", "sentence_a", "anchor", "query"),
    "sentence2": ("sentence2", "text2", "sentence_b", "positive", "passage"),
    "score": ("score", "similarity", "relevance", "label"),
    "chosen": ("chosen", "preferred", "better", "winner", "accepted"),
    "rejected": ("rejected", "dispreferred", "worse", "loser"),
    "completion": ("completion", "response", "output", "answer"),
    "reference": ("answer", "reference", "solution", "ground_truth", "expected", "target", "response", "output"),
}
"""Column names recognised for each role, best first (matched ignoring case and surrounding spaces)."""


@dataclass
class FormatChoice:
    """How the rows are read: the format and which column plays each role."""

    format: DataFormat
    """text, instruction, chat or classification (never auto)."""
    mapping: dict[str, str] = field(default_factory=dict)
    """Role -> column name, e.g. ``{"prompt": "question", "response": "answer"}``."""

    def describe(self) -> str:
        """One line for people, e.g. ``instruction (prompt <- question, response <- answer)``."""
        pairs = ", ".join(f"{role} <- {column}" for role, column in self.mapping.items())
        return f"{self.format.value} ({pairs})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"format": self.format.value, "mapping": dict(self.mapping)}


def available_columns(records: list[dict[str, Any]], sample: int = 1000) -> list[str]:
    """Column names in the order first seen (over the first ``sample`` rows)."""
    seen: dict[str, None] = {}
    for record in records[:sample]:
        for key in record:
            seen.setdefault(str(key), None)
    return list(seen)


def find_column(role: str, columns: list[str], taken: set[str] | None = None) -> str | None:
    """The first column whose name is a known name for ``role`` (ignoring case), not already taken."""
    taken = taken or set()
    by_name = {column.strip().lower(): column for column in columns if column not in taken}
    for candidate in COLUMN_NAMES.get(role, ()):
        if candidate in by_name:
            return by_name[candidate]
    return None


def resolve_format(
    records: list[dict[str, Any]],
    requested: DataFormat = DataFormat.AUTO,
    columns: dict[str, str] | None = None,
    task: Task = Task.CAUSAL_LM,
    source: str = "the data",
) -> FormatChoice:
    """Pick the format and role -> column mapping; raise :class:`DataError` naming the columns when nothing fits.

    ``columns`` is the user's mapping (role -> column); it always wins over detection. ``source`` names the file
    in messages.
    """
    requested = DataFormat(requested)
    found = available_columns(records)
    user = _check_user_mapping(dict(columns or {}), found, source)
    task = Task(task)

    if requested is DataFormat.AUTO:
        fmt = _detect(records, found, user, task, source)
    else:
        fmt = requested
    if task is Task.TEXT_CLASSIFICATION and fmt is not DataFormat.CLASSIFICATION:
        raise DataError(
            f"task text-classification needs the classification format, not {fmt.value}; set data.format to classification or auto."
        )
    if task is Task.CAUSAL_LM and fmt is DataFormat.CLASSIFICATION:
        raise DataError("the classification format needs task text-classification; change the task or pick another format.")
    if (task is Task.SENTENCE_EMBEDDING) != (fmt in EMBEDDING_FORMATS):
        raise DataError(f"the {fmt.value} format does not fit task {task.value}; pairs, triplets and scored-pairs are for task "
                        "sentence-embedding, the other formats for the other tasks.")

    mapping = _fill_mapping(fmt, found, user)
    if fmt is DataFormat.TEXT and "text" not in mapping and len(found) == 1:
        mapping["text"] = found[0]  # a single column is the text, whatever its name
    missing = [role for role in REQUIRED_ROLES[fmt] if role not in mapping]
    if missing:
        role = missing[0]
        hint = ", ".join(COLUMN_NAMES[role][:4])
        raise DataError(
            f"{source} has no {role} column for the {fmt.value} format (columns found: {', '.join(found)}); "
            f"rename one to {hint}, or map it with columns: {{{role}: <column>}}."
        )
    return FormatChoice(format=fmt, mapping=mapping)


def _check_user_mapping(user: dict[str, str], found: list[str], source: str) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for role, column in user.items():
        if role not in ALL_ROLES:
            raise DataError(f"columns has an unknown role {role!r}; use one of {', '.join(ALL_ROLES)}.")
        if column is None or not str(column).strip():
            continue
        column = str(column)
        if column not in found:
            matches = [name for name in found if name.strip().lower() == column.strip().lower()]
            if len(matches) == 1:
                column = matches[0]
            else:
                raise DataError(f"column {column!r} (mapped to {role}) is not in {source}; the columns are: {', '.join(found)}.")
        cleaned[role] = column
    return cleaned


def _detect(records: list[dict[str, Any]], found: list[str], user: dict[str, str], task: Task, source: str) -> DataFormat:
    if task is Task.TEXT_CLASSIFICATION:
        return DataFormat.CLASSIFICATION
    if task is Task.SENTENCE_EMBEDDING:
        return _detect_embedding(found, user, source)
    objective_format = _detect_objective_format(records, found, user)
    if objective_format is not None:
        return objective_format
    if "messages" in user:
        return DataFormat.CHAT
    if "prompt" in user or "response" in user:
        return DataFormat.INSTRUCTION
    if "text" in user:
        return DataFormat.TEXT
    messages = find_column("messages", found)
    if messages is not None and _looks_like_conversation(records, messages):
        return DataFormat.CHAT
    prompt = find_column("prompt", found)
    response = find_column("response", found, {prompt} if prompt else set())
    if prompt and response:
        return DataFormat.INSTRUCTION
    if find_column("text", found) or len(found) == 1:
        return DataFormat.TEXT
    raise DataError(
        f"cannot tell how to use the columns of {source} ({', '.join(found)}); map them, e.g. columns: {{text: <column>}} "
        "for plain text, {prompt: <column>, response: <column>} for instructions, or {messages: <column>} for chats."
    )


def _detect_embedding(found: list[str], user: dict[str, str], source: str) -> DataFormat:
    """Scored pairs when a score column is mapped or found next to two texts; triplets with a negative column; else pairs."""
    if user.keys() & {"sentence1", "sentence2", "score"}:
        return DataFormat.SCORED_PAIRS
    if "negative" in user:
        return DataFormat.TRIPLETS
    anchor = user.get("anchor") or find_column("anchor", found)
    positive = user.get("positive") or find_column("positive", found, {anchor} if anchor else set())
    if find_column("score", found, {anchor, positive}) and anchor and positive:
        return DataFormat.SCORED_PAIRS
    if anchor and positive:
        return DataFormat.TRIPLETS if find_column("negative", found, {anchor, positive}) else DataFormat.PAIRS
    raise DataError(
        f"cannot tell which columns of {source} ({', '.join(found)}) hold the query and its passage; name them query and passage "
        "(or anchor, positive[, negative], or sentence1, sentence2, score), or map them, e.g. columns: {anchor: <column>, positive: <column>}."
    )


FEEDBACK_LABELS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "good": True, "bad": False,
                   "desirable": True, "undesirable": False, "thumbs_up": True, "thumbs_down": False, "👍": True, "👎": False}
"""Feedback labels accepted for kto (compared in lower case); the first of each pair means the completion is good."""


def _detect_objective_format(records: list[dict[str, Any]], found: list[str], user: dict[str, str]) -> DataFormat | None:
    """preference when chosen and rejected columns are mapped or found; feedback for prompt, completion and a yes/no label; else None.

    The prompts format (grpo) is never guessed: a prompt and an answer column also fit instruction data, so the grpo trainer asks
    for it."""
    if user.keys() & {"chosen", "rejected"}:
        return DataFormat.PREFERENCE
    if "completion" in user:
        return DataFormat.FEEDBACK
    if "reference" in user:
        return DataFormat.PROMPTS
    chosen = find_column("chosen", found)
    if chosen and find_column("rejected", found, {chosen}):
        return DataFormat.PREFERENCE
    label = user.get("label") or find_column("label", found)
    if label and find_column("prompt", found, {label}) and find_column("completion", found, {label}) and _looks_like_feedback(records, label):
        return DataFormat.FEEDBACK
    return None


def feedback_label(value: Any) -> bool | None:
    """A kto feedback label as True (good) or False (bad); None when it is not one of :data:`FEEDBACK_LABELS`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return FEEDBACK_LABELS.get(str(value).strip().lower()) if value is not None else None


def _looks_like_feedback(records: list[dict[str, Any]], column: str) -> bool:
    values = [record.get(column) for record in records[:200] if record.get(column) not in (None, "")]
    return bool(values) and all(feedback_label(value) is not None for value in values)


def _looks_like_conversation(records: list[dict[str, Any]], column: str) -> bool:
    for record in records[:50]:
        value = record.get(column)
        if isinstance(value, list):
            return True
        if isinstance(value, str) and value.lstrip().startswith("["):
            return True
    return False


def _fill_mapping(fmt: DataFormat, found: list[str], user: dict[str, str]) -> dict[str, str]:
    roles = REQUIRED_ROLES[fmt] + OPTIONAL_ROLES[fmt]
    mapping = {role: column for role, column in user.items() if role in roles}
    taken = set(mapping.values())
    for role in roles:
        if role in mapping:
            continue
        column = find_column(role, found, taken)
        if column is not None:
            mapping[role] = column
            taken.add(column)
    return {role: mapping[role] for role in roles if role in mapping}
