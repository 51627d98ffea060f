"""Data for the causal-lm objectives beyond sft: preference pairs (dpo, orpo, kto), unpaired feedback (kto) and prompts
with an optional reference answer (grpo), turned into the rows TRL's trainers read.

Rows are read with the same formats, mappings and row-numbered problems as every other task (:mod:`jobs.data.formats`,
:func:`jobs.data.rows.row_fields`, which reads these formats with :func:`jobs.data.rows.objective_row_fields`):

- preference: ``prompt``, ``chosen``, ``rejected`` as texts, or chat-style ``chosen``/``rejected`` message lists that share
  every turn but the last answer (the shared turns are the prompt). Chosen equal to rejected, an empty prompt or answer
  are problems of that row.
- feedback (kto): ``prompt``, ``completion``, ``label`` (true/false, 1/0, good/bad ...).
- prompts (grpo): ``prompt`` and an optional ``reference`` answer that reward terms compare with.

Every row becomes a prompt conversation (``prompt_messages``), rendered by the model's chat template when the tokenizer
has one (TRL's conversational format), else as the plain ``### User: / ### Assistant:`` layout sft uses. ``data.thinking``
(:func:`jobs.data.chat.template_options`) reaches the template as it does for sft: each conversational row carries
``chat_template_kwargs`` (``{"enable_thinking": False}`` for off), which TRL passes to the template when it renders the
prompt, the chosen and the rejected answer, so a Qwen3 or SmolLM3 pair trained with thinking off has the empty think block
in its prompt, as sft's rendering has. Held-out rows
follow :func:`jobs.data.split.decide_split`: ``data.validation`` (a share or a file), else ``evaluation.holdout`` when at
least 50 rows are usable, picked by ``data.split_seed`` with duplicates kept on one side.

    data = load_objective_data(spec, tokenizer)
    data.train[0]    # {"prompt": [{"role": "user", ...}], "chosen": [{"role": "assistant", ...}], "rejected": [...]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.data.chat import template_options
from jobs.data.examples import PLAIN_CHAT_TEMPLATE
from jobs.data.formats import FormatChoice, resolve_format
from jobs.data.hub_datasets import resolve_data_files
from jobs.data.readers import read_table
from jobs.data.rows import Problem, RowError, row_fields, usable_rows
from jobs.data.split import RecordedSplit, data_files, decide_split
from jobs.errors import DataError
from jobs.spec import DataFormat, JobSpec, Objective, RewardKind

OBJECTIVE_DEFAULT_FORMAT = {Objective.DPO: DataFormat.PREFERENCE, Objective.ORPO: DataFormat.PREFERENCE, Objective.GRPO: DataFormat.PROMPTS}
"""The format read when data.format is auto (kto detects feedback or preference)."""


@dataclass
class ObjectiveData:
    """What a preference or GRPO trainer needs from the data spec."""

    train: list[dict[str, Any]]
    """TRL rows: prompt/chosen/rejected (dpo, orpo), prompt/completion/label (kto) or prompt/answer (grpo)."""
    eval: list[dict[str, Any]]
    """Held-out TRL rows (empty without held-out data)."""
    eval_fields: list[dict[str, Any]]
    """The held-out rows' fields (see :func:`jobs.data.rows.objective_row_fields`), for the before/after report."""
    eval_rows: list[int]
    """For each held-out row, its row number in its file."""
    eval_source: str
    """Where the held-out rows come from, as a sentence fragment."""
    choice: FormatChoice
    """The format and column mapping that were used."""
    train_rows: int = 0
    """Usable training rows (a kto preference pair gives two TRL rows)."""
    skipped: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    split: RecordedSplit | None = None
    """The split (what ``runs/<job>/split.json`` records)."""


def _truncate_prompt(messages: list[dict[str, str]], tokenizer: Any, max_prompt_length: int | None) -> list[dict[str, str]]:
    """Keep the last ``max_prompt_length`` tokens of the last user turn (the end of a prompt holds the question)."""
    if max_prompt_length is None:
        return messages
    position = max(index for index, message in enumerate(messages) if message["role"] == "user")
    ids = tokenizer(messages[position]["content"], add_special_tokens=False)["input_ids"]
    if len(ids) <= max_prompt_length:
        return messages
    shortened = {"role": "user", "content": tokenizer.decode(ids[-max_prompt_length:], skip_special_tokens=True)}
    return [*messages[:position], shortened, *messages[position + 1:]]


def prompt_text(fields: dict[str, Any], tokenizer: Any, max_prompt_length: int | None = None, thinking: str = "auto") -> str:
    """The prompt exactly as the model reads it before its answer: chat template (or the plain layout) with the generation prompt;
    ``thinking`` is ``data.thinking``."""
    messages = _truncate_prompt(fields["prompt_messages"], tokenizer, max_prompt_length)
    chat = bool(getattr(tokenizer, "chat_template", None))
    options = template_options(tokenizer, thinking) if chat else {}
    return tokenizer.apply_chat_template(messages, chat_template=None if chat else PLAIN_CHAT_TEMPLATE, tokenize=False,
                                         add_generation_prompt=True, **options)


def trl_rows(fields: dict[str, Any], fmt: DataFormat, objective: Objective, tokenizer: Any, max_prompt_length: int | None = None,
             thinking: str = "auto") -> list[dict[str, Any]]:
    """One row's TRL rows: conversational when the tokenizer has a chat template (dpo, orpo and kto rows with
    ``chat_template_kwargs`` for a ``thinking`` of on or off), else plain text (TRL appends EOS to answers)."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    prompt: Any = _truncate_prompt(fields["prompt_messages"], tokenizer, max_prompt_length) if chat else prompt_text(
        fields, tokenizer, max_prompt_length)
    options = template_options(tokenizer, thinking) if chat else {}
    extra: dict[str, Any] = {"chat_template_kwargs": options} if options else {}

    def answer(text: str) -> Any:
        return [{"role": "assistant", "content": text}] if chat else text

    if objective is Objective.GRPO:
        return [{"prompt": prompt, "answer": fields.get("answer")}]  # GRPO takes the options once, in GRPOConfig
    if fmt is DataFormat.FEEDBACK:
        return [{"prompt": prompt, "completion": answer(fields["completion"]), "label": fields["label"], **extra}]
    if objective is Objective.KTO:  # a preference pair is two pieces of unpaired feedback
        return [{"prompt": prompt, "completion": answer(fields["chosen"]), "label": True, **extra},
                {"prompt": prompt, "completion": answer(fields["rejected"]), "label": False, **extra}]
    return [{"prompt": prompt, "chosen": answer(fields["chosen"]), "rejected": answer(fields["rejected"]), **extra}]


def _choice(spec: JobSpec, records: list[dict[str, Any]], source: str) -> FormatChoice:
    requested = spec.data.format
    if requested is DataFormat.AUTO and spec.objective in OBJECTIVE_DEFAULT_FORMAT:
        requested = OBJECTIVE_DEFAULT_FORMAT[spec.objective]
    choice = resolve_format(records, requested, spec.data.columns, spec.task, source=source)
    if spec.objective is Objective.KTO and choice.format not in (DataFormat.FEEDBACK, DataFormat.PREFERENCE):
        raise DataError(f"objective kto needs feedback rows (prompt, completion, label true/false) or preference pairs (prompt, chosen, "
                        f"rejected), but {source} reads as {choice.format.value}; rename the columns or map them in data.columns.")
    if spec.objective is Objective.GRPO and "reference" not in choice.mapping:
        needs = [term.kind.value for term in spec.grpo.rewards
                 if term.kind is RewardKind.EXACT_MATCH or (term.kind is RewardKind.CONTAINS and not term.pattern)]
        if needs:
            raise DataError(f"grpo.rewards {needs[0]} compares with a reference answer, but {source} has no answer column; add one "
                            "(answer, reference or solution) or map it with columns: {reference: <column>}.")
    return choice


def _usable(records: list[dict[str, Any]], rows: list[int], choice: FormatChoice) -> tuple[list[tuple[dict[str, Any], int]], list[Problem]]:
    usable, problems = [], []
    for record, row in zip(records, rows, strict=True):
        try:
            usable.append((row_fields(record, choice), row))
        except RowError as error:
            problems.append(error.problem(row))
    return usable, problems


def first_rows(spec: JobSpec, count: int) -> list[tuple[dict[str, Any], int]]:
    """The fields and row numbers of the first ``count`` usable training rows (the reward preview's rows)."""
    table = read_table(resolve_data_files(spec)[0])
    choice = _choice(spec, table.records, table.name)
    usable, skipped = _usable(table.records[: count * 20], table.row_numbers[: count * 20], choice)
    if not usable:
        reasons = "; ".join(str(problem) for problem in skipped[:3])
        raise DataError(f"no usable rows at the start of {table.name}: {reasons}.")
    return usable[:count]


def load_objective_data(spec: JobSpec, tokenizer: Any, recorded: RecordedSplit | None = None) -> ObjectiveData:
    """Read ``spec.data`` for objective dpo, orpo, kto or grpo, split by :func:`jobs.data.split.decide_split` (or as the
    ``recorded`` split of a finished run says); raise :class:`DataError` when no usable row remains."""
    train_file, validation = resolve_data_files(spec)
    table = read_table(train_file)
    choice = _choice(spec, table.records, table.name)
    rows = usable_rows(table.records, table.row_numbers, choice)
    if not rows.candidates:
        reasons = "; ".join(str(problem) for problem in rows.problems[:3])
        raise DataError(f"no usable rows in {table.name}: {reasons}.")
    skipped, warnings = list(rows.problems), []
    held_rows = rows
    if isinstance(validation, str):
        other = read_table(Path(validation))
        resolve_format(other.records, choice.format, choice.mapping, spec.task, source=other.name)  # the same columns must exist
        held_rows = usable_rows(other.records, other.row_numbers, choice, file="validation")
        skipped += held_rows.problems
    split = recorded or decide_split(rows.candidates, validation=validation, evaluation=spec.evaluation, seed=spec.data.split_seed,
                                     files=data_files(train_file, validation),
                                     held_items=held_rows.candidates if held_rows is not rows else (),
                                     unusable=rows.unusable + (held_rows.unusable if held_rows is not rows else []))
    usable = [(rows.fields[int(row)], int(row)) for row in split.train]
    held = [(held_rows.fields[int(row)], int(row)) for row in split.scoring_ids()]
    eval_source = ""
    if split.held_file == "validation":
        eval_source = f"{len(held)} rows of the validation file {Path(validation).name}"
        if split.overlap_sentence():
            warnings.append(f"{split.overlap_sentence()} ({Path(validation).name})")
    elif held:
        eval_source = f"{len(held)} rows ({split.share:.0%}) of {table.name} held out and not trained on"
        if split.automatic:
            warnings.append(f"{eval_source} for the before/after report (set data.validation to choose them)")
    limit = spec.preference.max_prompt_length if spec.objective is not Objective.GRPO else None

    def convert(items: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
        return [row for fields, _ in items for row in trl_rows(fields, choice.format, spec.objective, tokenizer, limit, spec.data.thinking)]

    return ObjectiveData(train=convert(usable), eval=convert(held), eval_fields=[fields for fields, _ in held],
                         eval_rows=[row for _, row in held], eval_source=eval_source, choice=choice, train_rows=len(usable),
                         skipped=skipped, warnings=warnings, split=split)


def text_token_lengths(records: list[dict[str, Any]], choice: FormatChoice, tokenizer: Any) -> list[int]:
    """Per usable row, the tokens of the prompt and its longest answer (chosen, rejected, completion or reference): the Data tab's
    length histogram."""
    lengths = []
    for record in records:
        try:
            fields = row_fields(record, choice)
        except RowError:
            continue
        answers = [fields.get(key) for key in ("chosen", "rejected", "completion", "answer") if fields.get(key)]
        longest = max((len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in answers), default=0)
        lengths.append(len(tokenizer(prompt_text(fields, tokenizer), add_special_tokens=False)["input_ids"]) + longest)
    return lengths
