"""Before/after evaluation of text jobs: causal LM (answer loss, perplexity, generations) and classification.

Both models are scored on the same held-out rows, the ones training recorded in ``runs/<job>/split.json`` (the validation
file, the ``data.validation`` share, or the automatic hold-out; :mod:`jobs.data.split`), never trained on; a run without
that file, or whose data changed since, is not scored:

- **causal LM**: loss and perplexity on the answer tokens (the tokens training grades); then greedy answers to each
  prompt compared with the reference answer: exact match (case, spaces and punctuation ignored), ROUGE-L F1
  (``rouge-score`` over words in any script, characters in Chinese, Japanese, Korean and Thai:
  :mod:`jobs.evaluation.rouge`) and chrF (``sacrebleu``), each without a leading ``<think>`` block. An example's score is
  its ROUGE-L F1, so "better" means closer to the reference. A PEFT adapter gives the base model's answers with
  ``disable_adapter()`` (no second copy in memory).
- **classification**: accuracy, macro-F1 and the confusion matrix; "before" is the majority-class baseline of the
  training labels, since a new classification head has no meaningful base.

Costs are bounded by ``spec.evaluation``: at most ``max_rows`` rows, answers of at most ``max_new_tokens`` tokens
(and never much longer than the longest reference), ``batch_size`` rows at a time.
"""

from __future__ import annotations

import contextlib
import math
import re
import string
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.data.chat import split_thinking
from jobs.data.examples import IGNORE_INDEX, TrainingData, load_training_data
from jobs.data.split import AUTO_HOLDOUT_MIN_ROWS, RecordedSplit, measured_on_text, scored_summary, split_for_report
from jobs.evaluation.report import EvalReport, ExampleScore, MetricRow, change_of
from jobs.evaluation.rouge import rouge_l_f1
from jobs.inference.text import LoadedModel, load_base_model_only, open_run
from jobs.spec import JobSpec, Method, Task
from jobs.trainers.evaluation import classification_scores

if TYPE_CHECKING:
    import torch

NO_ROWS = ("there are no held-out rows: {rows} usable rows are fewer than the {minimum} needed to hold some out automatically. "
           "Give data.validation (a file, or a share such as 0.2) to get a before/after report.")
ANSWER_SLACK_TOKENS = 8
"""Generated answers may run this many tokens past the longest reference answer (they stop at EOS first)."""


def held_out_data(spec: JobSpec, tokenizer: Any, split: RecordedSplit) -> TrainingData:
    """The held-out rows of the recorded ``split``, built as training built them but unpacked and graded on the answers only (a row
    with no answer token left after ``max_length`` is listed in ``eval_dropped`` instead)."""
    training = spec.training.model_copy(update={"packing": False, "train_on_prompt": False})
    return load_training_data(spec.model_copy(update={"training": training}), tokenizer, recorded=split)


def no_rows_reason(split: RecordedSplit, dropped: list[Any]) -> str:
    """Why a recorded split gives nothing to score, as the report says it."""
    if not split.held:
        if split.share is None and split.automatic:
            return NO_ROWS.format(rows=len(split.train), minimum=AUTO_HOLDOUT_MIN_ROWS)
        return f"no rows were held out ({split.rule})."
    gone = "; ".join(str(problem) for problem in dropped[:3])
    return (f"none of the {len(split.held)} held-out rows recorded in split.json could be scored"
            + (f": {gone}" if gone else f" ({split.overlap_sentence() or 'every one was removed from scoring'})") + ".")


def evaluate_text_job(spec: JobSpec, run_dir: Path, outcome: Any, sink: Any) -> EvalReport:
    """Score the base and the adapted model of a finished text job on its held-out rows."""
    started = time.perf_counter()
    split = split_for_report(run_dir)
    adapted = open_run(run_dir)
    data = held_out_data(spec, adapted.tokenizer, split)
    if not data.eval:
        return EvalReport(task=spec.task.value, skipped=no_rows_reason(split, data.eval_dropped))
    cap = spec.evaluation.max_rows
    examples, rows = data.eval[:cap], data.eval_rows[:cap]
    inputs = (data.eval_inputs or [""] * len(data.eval))[:cap]
    measured_on = measured_on_text(split, rows, len(data.eval))
    if data.eval_dropped:
        measured_on += f"; {len(data.eval_dropped)} held-out row(s) not scored: nothing left to score after max_length"
    if spec.task is Task.TEXT_CLASSIFICATION:
        report = _evaluate_classification(spec, adapted, data, examples, rows, inputs, sink)
    else:
        base = None if adapted.is_adapter else load_base_model_only(spec.base_model, spec.task)
        report = _evaluate_causal(spec, adapted, base, examples, rows, inputs, sink)
    report.measured_on = measured_on
    report.split = scored_summary(split, rows, [(problem.row, problem.message) for problem in data.eval_dropped])
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------- causal LM


@contextlib.contextmanager
def _as_base(adapted: LoadedModel, base: LoadedModel | None) -> Iterator[LoadedModel]:
    """The base model: the adapted model with its adapter disabled, or the separately loaded base of a full fine-tune."""
    if base is not None:
        yield base
        return
    with adapted.model.disable_adapter():
        yield adapted


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _device(loaded: LoadedModel) -> torch.device:
    return next(loaded.model.parameters()).device


def answer_losses(loaded: LoadedModel, examples: Sequence[dict[str, Any]], batch_size: int) -> list[tuple[float, int]]:
    """(summed negative log-likelihood, graded token count) of each example's answer tokens."""
    import torch

    pad = loaded.tokenizer.pad_token_id
    results: list[tuple[float, int]] = []
    with torch.inference_mode():
        for batch in _batches(examples, batch_size):
            longest = max(len(example["input_ids"]) for example in batch)
            ids = torch.tensor([list(e["input_ids"]) + [pad] * (longest - len(e["input_ids"])) for e in batch])
            mask = torch.tensor([[1] * len(e["input_ids"]) + [0] * (longest - len(e["input_ids"])) for e in batch])
            labels = torch.tensor([list(e["labels"]) + [IGNORE_INDEX] * (longest - len(e["labels"])) for e in batch])
            device = _device(loaded)
            logits = loaded.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            targets = labels[:, 1:].to(device)
            losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none")
            graded = targets != IGNORE_INDEX
            for row in range(len(batch)):
                results.append((float(losses[row][graded[row]].sum()), int(graded[row].sum())))
    return results


def split_prompt_and_answer(example: dict[str, Any]) -> tuple[list[int], list[int]]:
    """The prompt tokens (everything before the first graded token) and the first graded answer span."""
    labels = list(example["labels"])
    first = next((i for i, label in enumerate(labels) if label != IGNORE_INDEX), len(labels))
    end = next((i for i in range(first, len(labels)) if labels[i] == IGNORE_INDEX), len(labels))
    return list(example["input_ids"][:first]), list(example["input_ids"][first:end])


def greedy_answers(loaded: LoadedModel, prompts: Sequence[list[int]], max_new_tokens: int, batch_size: int, on_batch: Any = None) -> list[str]:
    """Greedy continuations of tokenized prompts (left-padded in batches), decoded without special tokens."""
    import torch

    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id
    answers: list[str] = []
    with torch.inference_mode():
        for batch in _batches(prompts, batch_size):
            longest = max(len(prompt) for prompt in batch)
            ids = torch.tensor([[pad] * (longest - len(p)) + list(p) for p in batch])
            mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in batch])
            device = _device(loaded)
            output = loaded.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                           max_new_tokens=max_new_tokens, pad_token_id=pad)
            answers += [text.strip() for text in tokenizer.batch_decode(output[:, longest:], skip_special_tokens=True)]
            if on_batch is not None:
                on_batch(len(batch))
    return answers


def visible_answer(text: str) -> str:
    """An answer without its leading ``<think>…</think>`` block (Qwen3, SmolLM3): what is compared with the reference."""
    return split_thinking(text)[1].strip()


def normalize_answer(text: str) -> str:
    """Lower case, punctuation and repeated spaces removed: what exact match compares."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return re.sub(r"\s+", " ", text).strip()


def text_similarity(predictions: Sequence[str], references: Sequence[str]) -> tuple[list[float], list[float], float]:
    """Per-example exact match and ROUGE-L F1, and the corpus chrF (0-100) of predictions against references."""
    import sacrebleu

    exact = [float(normalize_answer(p) == normalize_answer(r)) for p, r in zip(predictions, references, strict=True)]
    rouge = rouge_l_f1(predictions, references)
    chrf = sacrebleu.corpus_chrf(list(predictions), [list(references)]).score if predictions else 0.0
    return exact, rouge, chrf


def _mean_loss(losses: Sequence[tuple[float, int]]) -> float | None:
    tokens = sum(count for _, count in losses)
    return sum(total for total, _ in losses) / tokens if tokens else None


def _perplexity(loss: float | None) -> float | None:
    return math.exp(min(loss, 50.0)) if loss is not None else None


class _PhaseCounter:
    """Counts scored units into the job's ``evaluating`` phase (done of total)."""

    def __init__(self, sink: Any, total: int):
        self.sink, self.total, self.done = sink, total, 0
        sink.record_phase("evaluating", 0, total)

    def __call__(self, count: int) -> None:
        self.done += count
        self.sink.record_phase("evaluating", self.done, self.total)


def _evaluate_causal(spec: JobSpec, adapted: LoadedModel, base: LoadedModel | None, examples: Sequence[dict[str, Any]],
                     rows: Sequence[int | None], inputs: Sequence[str], sink: Any) -> EvalReport:
    settings = spec.evaluation
    tokenizer = adapted.tokenizer
    pairs = [split_prompt_and_answer(example) for example in examples]
    generative = [index for index, (prompt, answer) in enumerate(pairs) if prompt and answer]
    progress = _PhaseCounter(sink, 2 * len(examples) + 2 * len(generative))
    with _as_base(adapted, base) as before:
        base_losses = answer_losses(before, examples, settings.batch_size)
    progress(len(examples))
    adapted_losses = answer_losses(adapted, examples, settings.batch_size)
    progress(len(examples))
    base_loss, adapted_loss = _mean_loss(base_losses), _mean_loss(adapted_losses)
    metrics = [
        MetricRow("answer_loss", "Answer loss", base_loss, adapted_loss, higher_is_better=False),
        MetricRow("perplexity", "Answer perplexity", _perplexity(base_loss), _perplexity(adapted_loss), higher_is_better=False),
    ]
    notes: list[str] = []
    scored: list[ExampleScore] = []
    main_metric, score_name = "answer_loss", "negative answer loss per token"
    if generative:
        prompts = [pairs[index][0] for index in generative]
        references = [visible_answer(tokenizer.decode(pairs[index][1], skip_special_tokens=True)) for index in generative]
        longest_reference = max(len(pairs[index][1]) for index in generative)
        budget = min(settings.max_new_tokens, longest_reference + ANSWER_SLACK_TOKENS)
        with _as_base(adapted, base) as before:
            base_answers = [visible_answer(text) for text in greedy_answers(before, prompts, budget, settings.batch_size, progress)]
        adapted_answers = [visible_answer(text) for text in greedy_answers(adapted, prompts, budget, settings.batch_size, progress)]
        base_exact, base_rouge, base_chrf = text_similarity(base_answers, references)
        adapted_exact, adapted_rouge, adapted_chrf = text_similarity(adapted_answers, references)
        count = len(generative)
        metrics += [
            MetricRow("exact_match", "Exact match", sum(base_exact) / count, sum(adapted_exact) / count, higher_is_better=True),
            MetricRow("rouge_l", "ROUGE-L F1", sum(base_rouge) / count, sum(adapted_rouge) / count, higher_is_better=True),
            MetricRow("chrf", "chrF", base_chrf, adapted_chrf, higher_is_better=True),
        ]
        main_metric, score_name = "rouge_l", "ROUGE-L F1 of the greedy answer with the reference"
        for position, index in enumerate(generative):
            base_score = base_rouge[position] + base_exact[position]
            adapted_score = adapted_rouge[position] + adapted_exact[position]
            scored.append(ExampleScore(
                row=rows[index], input=inputs[index][:600] or tokenizer.decode(pairs[index][0], skip_special_tokens=True).strip()[-600:],
                reference=references[position], base_output=base_answers[position], adapted_output=adapted_answers[position],
                base_score=round(base_rouge[position], 4), adapted_score=round(adapted_rouge[position], 4),
                change=change_of(base_score, adapted_score)))
        if budget < longest_reference:
            notes.append(f"Answers were cut at {budget} tokens (evaluation.max_new_tokens); longer references cannot match exactly.")
    else:
        notes.append("The rows have no prompt to answer (plain text data), so only the loss is compared.")
        for index, example in enumerate(examples):
            (base_total, count), (adapted_total, _) = base_losses[index], adapted_losses[index]
            if not count:
                continue
            base_score, adapted_score = -base_total / count, -adapted_total / count
            text = inputs[index] or tokenizer.decode(example["input_ids"], skip_special_tokens=True).strip()
            scored.append(ExampleScore(row=rows[index], input=text[:600], reference="", base_output=f"loss {-base_score:.3f}",
                                       adapted_output=f"loss {-adapted_score:.3f}", base_score=round(base_score, 4),
                                       adapted_score=round(adapted_score, 4), change=change_of(base_score, adapted_score, 0.01)))
    return EvalReport(task=spec.task.value, main_metric=main_metric, metrics=metrics, examples=scored, score_name=score_name, notes=notes)


# ---------------------------------------------------------------- classification


def class_probabilities(loaded: LoadedModel, examples: Sequence[dict[str, Any]], batch_size: int) -> torch.Tensor:
    """Softmax probabilities of every class for each example (rows in order)."""
    import torch

    pad = loaded.tokenizer.pad_token_id
    device = _device(loaded)
    chunks = []
    with torch.inference_mode():
        for batch in _batches(examples, batch_size):
            longest = max(len(e["input_ids"]) for e in batch)
            inputs = {
                "input_ids": torch.tensor([list(e["input_ids"]) + [pad] * (longest - len(e["input_ids"])) for e in batch]),
                "attention_mask": torch.tensor([[1] * len(e["input_ids"]) + [0] * (longest - len(e["input_ids"])) for e in batch]),
            }
            if all("token_type_ids" in e for e in batch):
                inputs["token_type_ids"] = torch.tensor([list(e["token_type_ids"]) + [0] * (longest - len(e["token_type_ids"])) for e in batch])
            logits = loaded.model(**{name: value.to(device) for name, value in inputs.items()}).logits.float()
            chunks.append(torch.softmax(logits, dim=-1).cpu())
        return torch.cat(chunks)


def confusion_matrix(predictions: Sequence[int], labels: Sequence[int], classes: int) -> list[list[int]]:
    """``matrix[true][predicted]`` counts."""
    matrix = [[0] * classes for _ in range(classes)]
    for predicted, true in zip(predictions, labels, strict=True):
        matrix[true][predicted] += 1
    return matrix


def _evaluate_classification(spec: JobSpec, adapted: LoadedModel, data: TrainingData, examples: Sequence[dict[str, Any]],
                             rows: Sequence[int | None], inputs: Sequence[str], sink: Any) -> EvalReport:
    names = data.label_names or adapted.label_names or []
    classes = len(names)
    progress = _PhaseCounter(sink, len(examples))
    probabilities = class_probabilities(adapted, examples, spec.evaluation.batch_size)
    progress(len(examples))
    gold = [int(example["labels"]) for example in examples]
    predicted = probabilities.argmax(dim=-1).tolist()
    train_labels = [int(example["labels"]) for example in data.train]
    majority = max(range(classes), key=lambda label: (train_labels.count(label), -label))
    baseline = [majority] * len(gold)
    before = classification_scores(np.array(baseline), np.array(gold), classes)
    after = classification_scores(np.array(predicted), np.array(gold), classes)
    metrics = [
        MetricRow("accuracy", "Accuracy", before["accuracy"], after["accuracy"], higher_is_better=True),
        MetricRow("macro_f1", "Macro-F1", before["macro_f1"], after["macro_f1"], higher_is_better=True),
    ]
    tokenizer = adapted.tokenizer
    scored = []
    for index, example in enumerate(examples):
        right, base_right = float(predicted[index] == gold[index]), float(majority == gold[index])
        confidence = float(probabilities[index][predicted[index]])
        scored.append(ExampleScore(
            row=rows[index], input=(inputs[index] or tokenizer.decode(example["input_ids"], skip_special_tokens=True).strip())[:600],
            reference=names[gold[index]], base_output=names[majority], adapted_output=f"{names[predicted[index]]} ({confidence:.0%})",
            base_score=base_right, adapted_score=right + (confidence if right else -confidence) * 1e-3,
            change=change_of(base_right, right)))
    extra = {
        "labels": names,
        "majority_label": names[majority],
        "confusion_matrix": {"base": confusion_matrix(baseline, gold, classes), "adapted": confusion_matrix(predicted, gold, classes)},
    }
    notes = [f"Before is the majority-class baseline (always {names[majority]!r}, the commonest training label): "
             f"a new classification head has no meaningful base model."]
    if spec.method is Method.FULL:
        notes.append("A full fine-tune replaces the head too; the baseline is still the majority class.")
    return EvalReport(task=spec.task.value, main_metric="macro_f1", base_label="majority-class baseline", metrics=metrics,
                      examples=scored, score_name="1 when the predicted label is right", notes=notes, extra=extra)
