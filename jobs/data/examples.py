"""Turn data rows into training features: ``input_ids``, ``attention_mask`` and ``labels``.

Causal LM: ``labels`` are the ``input_ids`` with ``-100`` wherever the model should not be graded (system and
user turns, the instruction) unless ``train_on_prompt``; the model shifts them itself. Text rows are trained
whole, with EOS appended. Instruction rows go through the tokenizer's chat template when it has one
(``[system?, user=prompt(+input), assistant=response]``), else through the plain
``### Instruction: / ### Response:`` layout. Chat rows are rendered with the chat template and only the
assistant turns are graded: the characters each turn must write, its end-of-turn token included and its header
excluded (:func:`jobs.data.chat.render_chat`, with the ``data.thinking`` setting), and tokens are matched to them by
offsets. :func:`trained_token_spans` shows one row's tokens and whether each is trained (the Data tab's preview).

Text classification: ``labels`` is the index of the row's label in ``label_names``.

    data = load_training_data(spec, tokenizer)
    data.train[0]   # {"input_ids": [...], "attention_mask": [...], "labels": [...]}
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.data.chat import PLAIN_CHAT_TEMPLATE, render_chat, template_options, warn_once
from jobs.data.formats import FormatChoice, resolve_format
from jobs.data.hub_datasets import resolve_data_files
from jobs.data.readers import read_table
from jobs.data.rows import Problem, RowError, TooLongError, UsableRows, label_key, row_fields, usable_rows
from jobs.data.split import TOO_LONG, UNUSABLE, RecordedSplit, data_files, decide_split
from jobs.errors import DataError
from jobs.spec import DataFormat, JobSpec, Task

IGNORE_INDEX = -100
"""Label value that the loss ignores."""
PLAIN_INSTRUCTION = "### Instruction:\n{prompt}\n\n### Response:\n"
"""Layout of instruction rows for tokenizers without a chat template; the response and EOS follow."""
__all__ = ["IGNORE_INDEX", "PLAIN_CHAT_TEMPLATE", "PLAIN_INSTRUCTION", "BuiltExamples", "TrainingData", "build_examples",
           "build_label_map", "load_training_data", "pack_examples", "readable_input", "trained_token_spans"]


@dataclass
class BuiltExamples:
    """The result of :func:`build_examples`."""

    examples: list[dict[str, Any]]
    """Features, one dict per usable row."""
    skipped: list[Problem] = field(default_factory=list)
    """Rows left out and why (a problem in the row, or nothing left to learn after truncation)."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should know that concern the whole file (each said once)."""
    rows: list[int] = field(default_factory=list)
    """For each example, the row number it came from."""
    inputs: list[str] = field(default_factory=list)
    """For each example, its input as a person reads it (the prompt, the last user turn, the text): what reports show."""
    too_long: set[int] = field(default_factory=set)
    """The rows of ``skipped`` left out for ``max_length`` (nothing left to learn after truncation)."""


@dataclass
class TrainingData:
    """Everything a trainer needs from the data spec."""

    train: list[dict[str, Any]]
    """Training features (packed when ``training.packing``)."""
    eval: list[dict[str, Any]] | None
    """Validation features, or None without validation data."""
    label_names: list[str] | None
    """Class names in label-id order (classification), else None."""
    choice: FormatChoice
    """The format and column mapping that were used."""
    skipped: list[Problem] = field(default_factory=list)
    """Rows left out of training or validation, and why."""
    warnings: list[str] = field(default_factory=list)
    """Notes for the user about the data as a whole."""
    eval_rows: list[int] = field(default_factory=list)
    """For each validation example (before packing), the row number it came from in its file."""
    eval_source: str = ""
    """Where the validation rows come from, as a sentence fragment ("the validation file x.jsonl", "10% of the training rows ...")."""
    eval_inputs: list[str] = field(default_factory=list)
    """For each validation example (before packing), its input as a person reads it (see :func:`readable_input`)."""
    train_rows: list[int] = field(default_factory=list)
    """For each training example (before packing), the row number it came from."""
    split: RecordedSplit | None = None
    """The split (what ``runs/<job>/split.json`` records): the rows on each side and what was dropped and why."""
    eval_dropped: list[Problem] = field(default_factory=list)
    """Held-out rows of the split that could not be built with these settings (too long), so they are not scored."""


def build_label_map(records: list[dict[str, Any]], mapping: dict[str, str]) -> list[str]:
    """Label names in a stable order: numerically when every label is an integer, else alphabetically."""
    column = mapping["label"]
    names: set[str] = set()
    for record in records:
        try:
            key = label_key(record.get(column))
        except RowError:
            continue
        if key is not None:
            names.add(key)
    if names and all(_is_int(name) for name in names):
        return sorted(names, key=lambda name: int(name))
    return sorted(names)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def build_examples(
    records: list[dict[str, Any]],
    choice: FormatChoice,
    tokenizer: Any,
    task: Task,
    max_length: int,
    train_on_prompt: bool = False,
    label_names: list[str] | None = None,
    row_numbers: Sequence[int] | None = None,
    thinking: str = "auto",
) -> BuiltExamples:
    """Tokenize rows into features, skipping (and reporting) the rows that cannot be used.

    ``row_numbers`` gives each record's row number in the file for messages (default: 1, 2, 3 ...); ``thinking`` is
    ``data.thinking`` (auto, on, off: :func:`jobs.data.chat.template_options`).
    """
    numbers = list(row_numbers) if row_numbers is not None else list(range(1, len(records) + 1))
    built = BuiltExamples(examples=[])
    classify = Task(task) is Task.TEXT_CLASSIFICATION
    index: dict[str, int] = {}
    if classify:
        names = label_names if label_names is not None else build_label_map(records, choice.mapping)
        index = {name: position for position, name in enumerate(names)}
    for record, row in zip(records, numbers, strict=True):
        try:
            fields = row_fields(record, choice)
            if classify:
                example = _classification_example(fields, tokenizer, max_length, index, choice.mapping["label"])
            else:
                example = _causal_example(fields, choice.format, tokenizer, max_length, train_on_prompt, built.warnings, thinking)
        except RowError as error:
            built.skipped.append(error.problem(row))
            if isinstance(error, TooLongError):
                built.too_long.add(row)
            continue
        built.examples.append(example)
        built.rows.append(row)
        built.inputs.append(readable_input(fields))
    return built


def readable_input(fields: dict[str, Any]) -> str:
    """A row's input without any template: the prompt, the last user message, or the text (with its pair)."""
    if "messages" in fields:
        users = [message.get("content", "") for message in fields["messages"] if message.get("role") == "user"]
        return users[-1] if users else ""
    if "prompt" in fields:
        return str(fields["prompt"])
    pair = fields.get("text_pair")
    return f"{fields.get('text', '')}" + (f" ‖ {pair}" if pair else "")


def _classification_example(fields: dict[str, Any], tokenizer: Any, max_length: int, index: dict[str, int], column: str) -> dict[str, Any]:
    if fields["label"] not in index:
        known = ", ".join(index) or "none"
        raise RowError(column, f"label {fields['label']!r} is not one of the training labels ({known})")
    encoded = tokenizer(fields["text"], fields["text_pair"], truncation=True, max_length=max_length)
    example = {"input_ids": list(encoded["input_ids"]), "attention_mask": list(encoded["attention_mask"])}
    if "token_type_ids" in encoded:
        example["token_type_ids"] = list(encoded["token_type_ids"])
    example["labels"] = index[fields["label"]]
    return example


def trained_token_spans(fields: dict[str, Any], fmt: DataFormat, tokenizer: Any, max_length: int, train_on_prompt: bool = False,
                        thinking: str = "auto") -> list[tuple[str, bool]]:
    """One causal-LM row as training sees it: its text in runs of consecutive tokens, each with True where the loss grades
    those tokens, after truncation to ``max_length``. ``fields`` are the row's fields (:func:`jobs.data.rows.row_fields`),
    ``fmt`` its format (text, instruction or chat), ``thinking`` the ``data.thinking`` setting.

        trained_token_spans({"prompt": "Hi", "response": "Hello"}, DataFormat.INSTRUCTION, tokenizer, 512)
        # [("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False), ("Hello<|im_end|>", True), ("\n", False)]

    Raises :class:`jobs.data.rows.RowError` for a row training would skip (too long, refused by the template).
    """
    example = _causal_example(fields, DataFormat(fmt), tokenizer, max_length, train_on_prompt, [], thinking)
    runs: list[tuple[list[int], bool]] = []
    for token, label in zip(example["input_ids"], example["labels"], strict=True):
        trained = label != IGNORE_INDEX
        if runs and runs[-1][1] == trained:
            runs[-1][0].append(token)
        else:
            runs.append(([token], trained))
    return [(tokenizer.decode(ids, skip_special_tokens=False), trained) for ids, trained in runs]


def _causal_example(
    fields: dict[str, Any], fmt: DataFormat, tokenizer: Any, max_length: int, train_on_prompt: bool, warnings: list[str],
    thinking: str = "auto",
) -> dict[str, Any]:
    eos = tokenizer.eos_token_id
    if fmt is DataFormat.TEXT:
        text = fields["text"]
        ids, labels = _tokenize_spans(tokenizer, text, [(0, len(text))], add_special_tokens=True, train_all=True)
        if eos is not None and (not ids or ids[-1] != eos):
            ids, labels = ids + [eos], labels + [eos]
    elif fmt is DataFormat.INSTRUCTION and not getattr(tokenizer, "chat_template", None):
        prefix = PLAIN_INSTRUCTION.format(prompt=fields["prompt"])
        if fields.get("system"):
            prefix = f"{fields['system']}\n\n{prefix}"
        text = prefix + fields["response"]
        ids, labels = _tokenize_spans(tokenizer, text, [(len(prefix), len(text))], True, train_on_prompt)
        if eos is not None:
            ids, labels = ids + [eos], labels + [eos]
    else:
        if fmt is DataFormat.INSTRUCTION:
            messages = [{"role": "system", "content": fields["system"]}] if fields.get("system") else []
            answer = {"role": "assistant", "content": fields["response"]}
            if fields.get("reasoning"):
                answer["reasoning_content"] = fields["reasoning"]
            messages += [{"role": "user", "content": fields["prompt"]}, answer]
        else:
            messages = fields["messages"]
        text, spans, add_special = render_chat(tokenizer, messages, warnings, thinking)
        if spans is None:
            warn_once(warnings, "the chat template does not render conversations turn by turn, so the loss covers whole conversations")
            spans, train_on_prompt = [(0, len(text))], True
        ids, labels = _tokenize_spans(tokenizer, text, spans, add_special, train_on_prompt)
    full_length = len(ids)
    ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        raise TooLongError(
            None,
            f"nothing is left to learn after truncating to max_length {max_length} (the row has {full_length} tokens); "
            "raise max_length or shorten the prompt",
        )
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def _tokenize_spans(
    tokenizer: Any, text: str, spans: list[tuple[int, int]], add_special_tokens: bool, train_all: bool
) -> tuple[list[int], list[int]]:
    """Token ids of ``text`` and labels that keep only tokens overlapping ``spans`` (all of them if ``train_all``)."""
    if getattr(tokenizer, "is_fast", True):
        encoded = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        ids = list(encoded["input_ids"])
        if train_all:
            return ids, list(ids)
        labels = [
            token if start != end and any(start < span_end and end > span_start for span_start, span_end in spans) else IGNORE_INDEX
            for token, (start, end) in zip(ids, encoded["offset_mapping"], strict=True)
        ]
        return ids, labels
    # Slow tokenizers have no offsets: tokenize the pieces between span boundaries one by one.
    ids: list[int] = []
    labels: list[int] = []
    if add_special_tokens and getattr(tokenizer, "bos_token_id", None) is not None:
        ids.append(tokenizer.bos_token_id)
        labels.append(IGNORE_INDEX)
    cursor = 0
    for start, end in [*spans, (len(text), len(text))]:
        for piece, trained in ((text[cursor:start], train_all), (text[start:end], True)):
            if piece:
                piece_ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
                ids += piece_ids
                labels += piece_ids if trained else [IGNORE_INDEX] * len(piece_ids)
        cursor = end
    return ids, labels


def pack_examples(examples: list[dict[str, Any]], max_length: int) -> list[dict[str, Any]]:
    """Group whole causal-LM examples into sequences of at most ``max_length`` tokens, keeping each one apart.

    Examples are placed best-fit decreasing (longest first, each into the fullest sequence it still fits) and never
    split. Each packed sequence has ``input_ids``, ``labels`` and ``position_ids`` that restart at 0 for every
    example, and no attention mask: given position ids without a mask, transformers restricts attention to each
    example (``masking_utils.find_packed_sequence_indices``), so a packed example sees only itself. The first label
    of every example is -100: it would be predicted from the previous example's last token. Sequences with no graded
    token are dropped.
    """
    sequences: list[list[dict[str, Any]]] = []
    room: list[tuple[int, int]] = []  # (free tokens, sequence index), ascending
    for example in sorted(examples, key=lambda item: len(item["input_ids"]), reverse=True):
        size = len(example["input_ids"])
        slot = bisect.bisect_left(room, (size, -1))
        if slot < len(room):
            free, index = room.pop(slot)
        else:
            free, index = max(max_length, size), len(sequences)
            sequences.append([])
        sequences[index].append(example)
        if free > size:
            bisect.insort(room, (free - size, index))
    packed: list[dict[str, Any]] = []
    for members in sequences:
        ids = [token for example in members for token in example["input_ids"]]
        labels = [label for example in members for label in [IGNORE_INDEX, *example["labels"][1:]]]
        if all(label == IGNORE_INDEX for label in labels):
            continue
        positions = [position for example in members for position in range(len(example["input_ids"]))]
        packed.append({"input_ids": ids, "labels": labels, "position_ids": positions})
    return packed


def load_training_data(spec: JobSpec, tokenizer: Any, label_names: list[str] | None = None,
                       recorded: RecordedSplit | None = None) -> TrainingData:
    """Read ``spec.data``, split it (:func:`jobs.data.split.decide_split`, or the ``recorded`` split of a finished run), build
    train (and validation) features, and pack them when ``spec.training.packing``.

    Rows are split before they are tokenized, so a row too long for ``max_length`` is dropped on its side afterwards and never
    shifts the split. Raises :class:`DataError` when no usable training rows remain, when classification data has fewer than
    two classes, or when validation data uses a label that training never does.
    """
    task = spec.task
    training = spec.training
    train_file, validation = resolve_data_files(spec)
    table = read_table(train_file)
    choice = resolve_format(table.records, spec.data.format, spec.data.columns, task, source=table.name)
    warnings: list[str] = []
    max_length = _usable_max_length(tokenizer, training.max_length, task, warnings)
    label_names = _label_names(table.records, table.name, choice, task, label_names)

    thinking = spec.data.thinking if task is Task.CAUSAL_LM else "auto"
    template_options(tokenizer, thinking)  # refuses on/off for a template without the switch, before any row is built
    build = _builder(choice, tokenizer, task, max_length, training.train_on_prompt, label_names, thinking)
    rows = usable_rows(table.records, table.row_numbers, choice)
    if not rows.candidates:
        reasons = "; ".join(str(problem) for problem in rows.problems[:3])
        raise DataError(f"no usable rows in {table.name}: {reasons}.")
    skipped = list(rows.problems)
    held_rows, held_name = rows, table.name
    if isinstance(validation, str):
        held_rows, held_name = _validation_rows(Path(validation), choice, task, label_names, rows), Path(validation).name
        skipped += held_rows.problems
    split = recorded
    if split is None:
        split = decide_split(rows.candidates, validation=validation, evaluation=spec.evaluation, seed=spec.data.split_seed,
                             files=data_files(train_file, validation), held_items=held_rows.candidates if held_rows is not rows else (),
                             unusable=rows.unusable + (held_rows.unusable if held_rows is not rows else []))

    train_ids = _ids(split.train if recorded is None else split.trained_ids())
    built = build([rows.records[row] for row in train_ids], train_ids)
    _record_drops(split if recorded is None else None, built, "train", skipped)
    if not built.examples:
        reasons = "; ".join(str(problem) for problem in built.skipped[:3])
        raise DataError(f"no usable rows in {table.name}: {reasons}.")
    warnings += built.warnings
    held_ids = _ids(split.scoring_ids())
    held = build([held_rows.records[row] for row in held_ids], held_ids)
    eval_dropped = _record_drops(split if recorded is None else None, held, "held", skipped,
                                 prefix=held_name if held_rows is not rows else "")
    for message in held.warnings:
        warn_once(warnings, message)
    evaluation, eval_source = _describe_held_out(split, held, table.name, held_name, warnings)

    train = built.examples
    if training.packing and task is Task.CAUSAL_LM:
        train = pack_examples(train, max_length)
        evaluation = pack_examples(evaluation, max_length) if evaluation else evaluation
    return TrainingData(train=train, eval=evaluation, label_names=label_names, choice=choice, skipped=skipped, warnings=warnings,
                        eval_rows=held.rows if evaluation else [], eval_source=eval_source, eval_inputs=held.inputs if evaluation else [],
                        train_rows=built.rows, split=split, eval_dropped=eval_dropped)


def _ids(ids: list[int | str]) -> list[int]:
    return [int(item) for item in ids]


def _label_names(records: list[dict[str, Any]], name: str, choice: FormatChoice, task: Task, label_names: list[str] | None) -> list[str] | None:
    """Classification: the class names (found in the data, or checked against the model's); None for other tasks."""
    if task is not Task.TEXT_CLASSIFICATION:
        return None
    found = build_label_map(records, choice.mapping)
    if label_names is None:
        if len(found) < 2:
            only = f"only {found[0]!r}" if found else "no labels"
            raise DataError(f"{name} has {only} in column {choice.mapping['label']!r}; classification needs at least two classes.")
        return found
    unknown = [label for label in found if label not in label_names]
    if unknown:
        raise DataError(f"{name} has label {unknown[0]!r}, which the model's labels ({', '.join(label_names)}) do not include.")
    return label_names


def _record_drops(split: RecordedSplit | None, built: BuiltExamples, side: str, skipped: list[Problem], prefix: str = "") -> list[Problem]:
    """Rows the builder left out (too long, or refused by the chat template) go into ``skipped`` and, at training time, into the split
    as dropped on their side; the problems are returned."""
    problems = [Problem(p.row, p.column, f"{prefix}: {p.message}" if prefix else p.message, p.level) for p in built.skipped]
    skipped += problems
    if split is not None:
        for problem in built.skipped:
            split.drop(problem.row, side, TOO_LONG if problem.row in built.too_long else UNUSABLE, problem.message)
    return problems


def _describe_held_out(split: RecordedSplit, held: BuiltExamples, train_name: str, held_name: str,
                       warnings: list[str]) -> tuple[list[dict[str, Any]] | None, str]:
    """(the validation features or None, where they come from as a sentence), adding the warnings the user should see."""
    count = len(held.examples)
    if split.held_file == "validation":
        if split.overlap_sentence():
            warnings.append(f"{split.overlap_sentence()} ({held_name})")
        if not count:
            warnings.append(f"no usable rows in validation file {held_name}; training without validation")
            return None, ""
        return held.examples, f"{count} rows of the validation file {held_name}"
    if split.share is None:
        return None, ""
    if not count:
        warnings.append(f"{train_name} has too few usable rows to hold out {split.share:.0%} for validation; training without it")
        return None, ""
    if split.automatic:
        source = (f"{count} rows ({split.share:.0%}) of {train_name} held out automatically and not trained on "
                  "(set data.validation to choose them)")
        warnings.append(f"{source} for the before/after report")
        return held.examples, source
    return held.examples, f"{count} rows ({split.share:.0%}) of {train_name} held out by data.validation"


def _builder(
    choice: FormatChoice, tokenizer: Any, task: Task, max_length: int, train_on_prompt: bool, label_names: list[str] | None,
    thinking: str,
) -> Callable[[list[dict[str, Any]], list[int]], BuiltExamples]:
    def build(records: list[dict[str, Any]], rows: list[int]) -> BuiltExamples:
        return build_examples(records, choice, tokenizer, task, max_length, train_on_prompt, label_names, rows, thinking)

    return build


def _validation_rows(path: Path, choice: FormatChoice, task: Task, label_names: list[str] | None, train: UsableRows) -> UsableRows:
    """The validation file's rows, read with the training file's format; refused when its labels are unknown to training or when
    every usable row of it is a training row (case, whitespace and punctuation ignored), since its eval loss would measure
    memorisation. Rows that are also training rows are removed from scoring by the split."""
    table = read_table(path)
    resolve_format(table.records, choice.format, choice.mapping, task, source=table.name)  # same columns must exist
    if task is Task.TEXT_CLASSIFICATION and label_names is not None:
        for record, row in zip(table.records, table.row_numbers, strict=True):
            try:
                key = label_key(record.get(choice.mapping["label"]))
            except RowError:
                continue
            if key is not None and key not in label_names:
                raise DataError(
                    f"{table.name} row {row} has label {key!r}, which the training data never uses "
                    f"(training labels: {', '.join(label_names)}); fix the label or add examples of it to the training data."
                )
    rows = usable_rows(table.records, table.row_numbers, choice, file="validation", source=table.name)
    seen = {candidate.key for candidate in train.candidates}
    validating = {candidate.key for candidate in rows.candidates}
    if validating and validating <= seen:
        raise DataError(f"every usable row of the validation file {table.name} ({len(validating)} distinct) is also a training row, so "
                        "the eval loss would measure what the model memorised; validate on rows the training data does not contain")
    return rows


def _usable_max_length(tokenizer: Any, requested: int, task: Task, warnings: list[str]) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    if task is Task.TEXT_CLASSIFICATION and isinstance(limit, int) and 0 < limit < requested:
        warnings.append(f"max_length {requested} is more than the model accepts; using {limit}")
        return limit
    return requested
