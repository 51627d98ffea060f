"""Data for the causal-lm objectives beyond sft: preference pairs (dpo, orpo, kto), unpaired feedback (kto) and prompts
with an optional reference answer (grpo), turned into the rows TRL's trainers read.

Rows are read with the same formats, mappings and row-numbered problems as every other task (:mod:`jobs.data.formats`,
:func:`jobs.data.rows.row_fields`, which calls :func:`objective_row_fields` here):

- preference: ``prompt``, ``chosen``, ``rejected`` as texts, or chat-style ``chosen``/``rejected`` message lists that share
  every turn but the last answer (the shared turns are the prompt). Chosen equal to rejected, an empty prompt or answer
  are problems of that row.
- feedback (kto): ``prompt``, ``completion``, ``label`` (true/false, 1/0, good/bad ...).
- prompts (grpo): ``prompt`` and an optional ``reference`` answer that reward terms compare with.

Every row becomes a prompt conversation (``prompt_messages``), rendered by the model's chat template when the tokenizer
has one (TRL's conversational format), else as the plain ``### User: / ### Assistant:`` layout sft uses. Held-out rows
follow :func:`jobs.data.examples.load_training_data`: ``data.validation`` (a share or a file), else
``evaluation.holdout`` when at least 50 rows are usable.

    data = load_objective_data(spec, tokenizer)
    data.train[0]    # {"prompt": [{"role": "user", ...}], "chosen": [{"role": "assistant", ...}], "rejected": [...]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.data.examples import AUTO_HOLDOUT_MIN_ROWS, PLAIN_CHAT_TEMPLATE, split_validation
from jobs.data.formats import FormatChoice, feedback_label, resolve_format
from jobs.data.readers import read_table
from jobs.data.rows import Problem, RowError, _named, _text, normalize_messages, row_fields
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
    """The held-out rows' fields (see :func:`objective_row_fields`), for the before/after report."""
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


def prompt_text(fields: dict[str, Any], tokenizer: Any, max_prompt_length: int | None = None) -> str:
    """The prompt exactly as the model reads it before its answer: chat template (or the plain layout) with the generation prompt."""
    messages = _truncate_prompt(fields["prompt_messages"], tokenizer, max_prompt_length)
    template = None if getattr(tokenizer, "chat_template", None) else PLAIN_CHAT_TEMPLATE
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True)


def trl_rows(fields: dict[str, Any], fmt: DataFormat, objective: Objective, tokenizer: Any, max_prompt_length: int | None = None) -> list[dict[str, Any]]:
    """One row's TRL rows: conversational when the tokenizer has a chat template, else plain text (TRL appends EOS to answers)."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    prompt: Any = _truncate_prompt(fields["prompt_messages"], tokenizer, max_prompt_length) if chat else prompt_text(
        fields, tokenizer, max_prompt_length)

    def answer(text: str) -> Any:
        return [{"role": "assistant", "content": text}] if chat else text

    if objective is Objective.GRPO:
        return [{"prompt": prompt, "answer": fields.get("answer")}]
    if fmt is DataFormat.FEEDBACK:
        return [{"prompt": prompt, "completion": answer(fields["completion"]), "label": fields["label"]}]
    if objective is Objective.KTO:  # a preference pair is two pieces of unpaired feedback
        return [{"prompt": prompt, "completion": answer(fields["chosen"]), "label": True},
                {"prompt": prompt, "completion": answer(fields["rejected"]), "label": False}]
    return [{"prompt": prompt, "chosen": answer(fields["chosen"]), "rejected": answer(fields["rejected"])}]


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
    from jobs.data.hub_datasets import resolve_data_files

    table = read_table(resolve_data_files(spec)[0])
    choice = _choice(spec, table.records, table.name)
    usable, skipped = _usable(table.records[: count * 20], table.row_numbers[: count * 20], choice)
    if not usable:
        reasons = "; ".join(str(problem) for problem in skipped[:3])
        raise DataError(f"no usable rows at the start of {table.name}: {reasons}.")
    return usable[:count]


def load_objective_data(spec: JobSpec, tokenizer: Any) -> ObjectiveData:
    """Read ``spec.data`` for objective dpo, orpo, kto or grpo; raise :class:`DataError` when no usable row remains."""
    from jobs.data.hub_datasets import resolve_data_files

    train_file, validation = resolve_data_files(spec)
    table = read_table(train_file)
    choice = _choice(spec, table.records, table.name)
    usable, skipped = _usable(table.records, table.row_numbers, choice)
    if not usable:
        reasons = "; ".join(str(problem) for problem in skipped[:3])
        raise DataError(f"no usable rows in {table.name}: {reasons}.")
    warnings: list[str] = []
    held: list[tuple[dict[str, Any], int]] = []
    eval_source = ""
    share = validation if isinstance(validation, float) else None
    if validation is None and spec.evaluation.enabled and len(usable) >= AUTO_HOLDOUT_MIN_ROWS:
        share = spec.evaluation.holdout
    if share is not None:
        usable, held = split_validation(usable, share, spec.training.seed)
        eval_source = f"{len(held)} rows ({share:.0%}) of {table.name} held out and not trained on"
        if validation is None:
            warnings.append(f"{eval_source} for the before/after report (set data.validation to choose them)")
    elif isinstance(validation, str):
        other = read_table(Path(validation))
        resolve_format(other.records, choice.format, choice.mapping, spec.task, source=other.name)  # the same columns must exist
        held, problems = _usable(other.records, other.row_numbers, choice)
        skipped += problems
        eval_source = f"{len(held)} rows of the validation file {other.name}"
    limit = spec.preference.max_prompt_length if spec.objective is not Objective.GRPO else None

    def convert(items: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
        return [row for fields, _ in items for row in trl_rows(fields, choice.format, spec.objective, tokenizer, limit)]

    return ObjectiveData(train=convert(usable), eval=convert(held), eval_fields=[fields for fields, _ in held],
                         eval_rows=[row for _, row in held], eval_source=eval_source, choice=choice, train_rows=len(usable),
                         skipped=skipped, warnings=warnings)


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
