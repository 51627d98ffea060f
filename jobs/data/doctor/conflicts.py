"""Conflicting labels and answers: the same input in several rows that say different things.

The input is normalised with :func:`jobs.data.split.content_key` (case, whitespace and punctuation ignored), as the
duplicate check normalises whole rows, and only rows the fix keeps are compared (a duplicate the fix removes is not a
second opinion). Per format:

- classification (the text, and its pair) and feedback (the prompt and completion): different labels,
  ``conflicting_label``: at most one label is right, so this is a real error in the data;
- instruction, chat (the conversation before the last answer), prompts with reference answers: different answers,
  ``conflicting_answer``: in sft this can be legitimate variety (several good answers to one question), so the finding
  says so; for reference answers (GRPO), one of the two is scored wrong;
- preference: the same prompt with chosen and rejected swapped in another row, ``conflicting_preference``: the two rows
  teach opposite preferences.

Every conflict is a warning, shown with each group's rows and what each row says (:class:`RowGroup`); the fix leaves the
rows as they are (which one is right needs a person), and says so. Cost: one ``normalise_text`` of each row's prompt (or
text); whole inputs and answers are compared only where a prompt is seen more than once.

    findings = conflict_findings(train, removed_rows)
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from jobs.data.doctor.findings import Finding, RowGroup
from jobs.data.doctor.reading import DataFile, DoctorRow
from jobs.data.doctor.sensitive import mask_sensitive
from jobs.data.split import content_key, normalise_text
from jobs.spec import DataFormat

SHOWN_CHARS = 60
"""How many characters of an input or an answer a conflict shows."""
LEFT_ALONE = "nothing: the fix leaves these rows as they are"
LABEL_FORMATS = (DataFormat.CLASSIFICATION, DataFormat.FEEDBACK)
ANSWER_FORMATS = (DataFormat.INSTRUCTION, DataFormat.CHAT, DataFormat.PROMPTS)


def _chat_split(fields: dict[str, Any]) -> tuple[str, Any, Any]:
    messages = fields["messages"]
    last = max((i for i, message in enumerate(messages) if message["role"] == "assistant"), default=None)
    if last is None:
        return "", None, None
    return (messages[last - 1]["content"] if last else ""), messages[:last], messages[last]["content"]


def _input_and_answer(fields: dict[str, Any], fmt: DataFormat) -> tuple[str, Any, Any]:
    """A text of the input, what a row is asked (the whole input), and what it says (a label, an answer, or the (chosen,
    rejected) pair); the answer None when the row has nothing to compare (a chat without an answer, a prompt without a
    reference answer). Equal inputs have equal texts once normalised: rows are grouped by that first, which is cheap."""
    if fmt is DataFormat.CLASSIFICATION:
        return fields["text"], {"text": fields["text"], "text_pair": fields.get("text_pair")}, fields["label"]
    if fmt is DataFormat.INSTRUCTION:
        return fields["prompt"], {"prompt": fields["prompt"], "system": fields.get("system")}, fields["response"]
    if fmt is DataFormat.CHAT:
        return _chat_split(fields)
    prompt = fields["prompt_messages"][-1]["content"]
    if fmt is DataFormat.FEEDBACK:
        return prompt, {"prompt": fields["prompt_messages"], "completion": fields["completion"]}, "good" if fields["label"] else "bad"
    if fmt is DataFormat.PROMPTS:
        return prompt, fields["prompt_messages"], fields["answer"] or None
    return prompt, fields["prompt_messages"], (fields["chosen"], fields["rejected"])


def _short(value: Any) -> str:
    text = " ".join(str(value).split())
    text = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
    return mask_sensitive(text)[0]


def _input_text(row: DoctorRow) -> str:
    return row.prompt if row.prompt is not None else row.content


Said = list[tuple[DoctorRow, Any]]
"""The rows of one input and what each says (a label, an answer, or a (chosen, rejected) pair)."""
Group = tuple[RowGroup, list[int]]
"""A conflict: its rows and what they say, and the first row that says each."""


def _answer_group(rows: Said, labels: bool) -> Group | None:
    """The rows sharing one input when they say two or more different things."""
    first: dict[str, tuple[int, str]] = {}
    for row, said in rows:
        first.setdefault(content_key(said), (row.row, str(said) if labels else _short(said)))
    if len(first) < 2:
        return None
    return RowGroup(rows=[row.row for row, _ in rows], seen=[shown for _, shown in first.values()]), [r for r, _ in first.values()]


def _preference_group(rows: Said) -> Group | None:
    """The rows of one prompt whose (chosen, rejected) pair appears swapped in another row of the same prompt."""
    keys = [(content_key(chosen), content_key(rejected)) for _, (chosen, rejected) in rows]
    pairs = set(keys)
    first: dict[tuple[str, str], tuple[int, str]] = {}
    swapped = []
    for (row, (chosen, rejected)), key in zip(rows, keys, strict=True):
        if (key[1], key[0]) in pairs:
            swapped.append(row.row)
            first.setdefault(key, (row.row, f"{_short(chosen)!r} over {_short(rejected)!r}"))
    if not swapped:
        return None
    return RowGroup(rows=swapped, seen=[shown for _, shown in first.values()]), [r for r, _ in first.values()]


def _example(group: RowGroup, firsts: list[int], asked: DoctorRow, verb: str, quoted: bool) -> str:
    said = ", ".join(f"{shown!r} (row {row})" if quoted else f"{shown} (row {row})" for shown, row in zip(group.seen, firsts, strict=True))
    return f"rows {', '.join(str(row) for row in group.rows)}: {_short(_input_text(asked))!r} {verb} {said}"


KINDS = {
    "conflicting_label": ("labelled", "the same text (case, whitespace and punctuation ignored) with different labels: the model "
                          "is taught both, and at most one is right",
                          "; decide which label is right and correct or remove the others"),
    "conflicting_answer": ("answered", "the same prompt (case, whitespace and punctuation ignored) with different answers: this "
                           "can be legitimate variety in sft (several good answers to one question); check that no answer "
                           "contradicts another", "; keep them if each answer is good, else correct or remove the wrong ones"),
    "conflicting_preference": ("prefers", "the same prompt with chosen and rejected swapped in another row: the two rows teach "
                               "opposite preferences and cancel out", "; decide which answer is better and remove the other row"),
}
REFERENCE_DETAIL = ("the same prompt with different reference answers: the reward scores every answer against one of them, so "
                    "a right answer is scored wrong in the other row")


def conflict_findings(data: DataFile, removed: Collection[int] = ()) -> list[Finding]:
    """Rows of ``data`` (those not in ``removed``: the rows the fix drops) that share an input but not its label, answer or
    preference; one finding, every group of rows in it."""
    fmt = data.choice.format
    if fmt in LABEL_FORMATS:
        kind = "conflicting_label"
    elif fmt in ANSWER_FORMATS:
        kind = "conflicting_answer"
    elif fmt is DataFormat.PREFERENCE:
        kind = "conflicting_preference"
    else:
        return []
    skipped = set(removed)
    by_text: dict[str, list[tuple[DoctorRow, Any, Any]]] = {}
    for row in data.rows:
        if row.fields is None or row.row in skipped:
            continue
        text, asked, said = _input_and_answer(row.fields, fmt)
        if said is not None:
            by_text.setdefault(normalise_text(text), []).append((row, asked, said))
    by_input: dict[str, Said] = {}
    for candidates in by_text.values():
        if len(candidates) > 1:  # nearly every row's text is unique: only the rest get their whole input's content_key
            for row, asked, said in candidates:
                by_input.setdefault(content_key(asked), []).append((row, said))
    groups: list[tuple[Group, DoctorRow]] = []
    for rows in by_input.values():
        if len(rows) < 2:
            continue
        found = _preference_group(rows) if kind == "conflicting_preference" else _answer_group(rows, kind == "conflicting_label")
        if found is not None:
            groups.append((found, rows[0][0]))
    if not groups:
        return []
    groups.sort(key=lambda entry: entry[0][0].rows[0])
    verb, detail, advice = KINDS[kind]
    return [Finding(kind=kind, severity="warn", file=data.file, rows=sorted(row for (group, _), _ in groups for row in group.rows),
                    examples=[_example(group, firsts, asked, verb, kind != "conflicting_preference") for (group, firsts), asked in groups[:3]],
                    action=LEFT_ALONE + advice, detail=REFERENCE_DETAIL if fmt is DataFormat.PROMPTS else detail,
                    groups=[group for (group, _), _ in groups])]
