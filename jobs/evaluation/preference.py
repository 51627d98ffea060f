"""Before/after evaluation of the objectives beyond sft, on the held-out rows training recorded in ``runs/<job>/split.json``
(:mod:`jobs.data.split`; never trained on):

- **dpo, orpo, kto on preference pairs**: preference accuracy, the share of pairs where the model gives the chosen answer a
  higher log-probability than the rejected one (summed over the answer's tokens, given the prompt), the mean margin
  between the two, and the accuracy per answer token (which a much longer chosen answer cannot lose by length alone).
  An example's score is its margin, so "better" means the adapted model prefers the chosen answer more.
- **kto on feedback rows**: the mean per-token log-probability of the good completions minus that of the bad ones.
- **grpo**: the mean reward of greedy completions of the held-out prompts, in total (weighted) and per term; an example's
  score is its total reward.

A PEFT adapter gives the base model's scores with ``disable_adapter()``; a full fine-tune loads the base separately. Costs
are bounded by ``evaluation.max_rows`` and ``evaluation.batch_size``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from jobs.data.preference import load_objective_data, prompt_text
from jobs.data.split import measured_on_text, scored_summary, split_for_report
from jobs.evaluation.report import EvalReport, ExampleScore, MetricRow, change_of
from jobs.evaluation.text import _as_base, _batches, _device, greedy_answers, no_rows_reason
from jobs.inference.text import LoadedModel, load_base_model_only, open_run
from jobs.spec import DataFormat, JobSpec, Objective
from jobs.trainers.rewards import score_completion, term_names


def evaluate_objective_job(spec: JobSpec, run_dir: Path, outcome: Any, sink: Any) -> EvalReport:
    """Score the base and the adapted model of a finished dpo, orpo, kto or grpo job on its held-out rows."""
    started = time.perf_counter()
    split = split_for_report(run_dir)
    adapted = open_run(run_dir)
    data = load_objective_data(spec, adapted.tokenizer, recorded=split)
    if not data.eval_fields:
        return EvalReport(task=spec.task.value, skipped=no_rows_reason(split, []))
    cap = spec.evaluation.max_rows
    fields, rows = data.eval_fields[:cap], data.eval_rows[:cap]
    base = None if adapted.is_adapter else load_base_model_only(spec.base_model, spec.task)
    if spec.objective is Objective.GRPO:
        report = _evaluate_rewards(spec, adapted, base, fields, rows)
    elif data.choice.format is DataFormat.FEEDBACK:
        report = _evaluate_feedback(spec, adapted, base, fields, rows)
    else:
        report = _evaluate_pairs(spec, adapted, base, fields, rows)
    report.measured_on = measured_on_text(split, rows, len(data.eval_fields))
    report.split = scored_summary(split, rows)
    report.seconds = time.perf_counter() - started
    return report


@torch.inference_mode()
def answer_log_probs(loaded: LoadedModel, prompts: Sequence[str], answers: Sequence[str], batch_size: int) -> list[tuple[float, int]]:
    """(summed log-probability, token count) of each answer (with EOS) following its rendered prompt."""
    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    pairs = [(tokenizer(prompt, add_special_tokens=False)["input_ids"], tokenizer(answer, add_special_tokens=False)["input_ids"] + eos)
             for prompt, answer in zip(prompts, answers, strict=True)]
    results: list[tuple[float, int]] = []
    for batch in _batches(pairs, batch_size):
        longest = max(len(prompt) + len(answer) for prompt, answer in batch)
        ids = torch.tensor([prompt + answer + [pad] * (longest - len(prompt) - len(answer)) for prompt, answer in batch])
        mask = torch.tensor([[1] * (len(prompt) + len(answer)) + [0] * (longest - len(prompt) - len(answer)) for prompt, answer in batch])
        device = _device(loaded)
        logits = loaded.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        log_probs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
        for row, (prompt, answer) in enumerate(batch):
            start = len(prompt) - 1  # the logit at position i predicts token i + 1
            results.append((float(log_probs[row, start:start + len(answer)].sum()), len(answer)))
    return results


def _pair_margins(spec: JobSpec, loaded: LoadedModel, fields: Sequence[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Per pair: the summed log-probability margin chosen - rejected, and the same per answer token (length-normalised)."""
    limit = spec.preference.max_prompt_length
    prompts = [prompt_text(item, loaded.tokenizer, limit, spec.data.thinking) for item in fields]
    size = spec.evaluation.batch_size
    chosen = answer_log_probs(loaded, prompts, [item["chosen"] for item in fields], size)
    rejected = answer_log_probs(loaded, prompts, [item["rejected"] for item in fields], size)
    summed = [good - bad for (good, _), (bad, _) in zip(chosen, rejected, strict=True)]
    per_token = [good / max(1, good_count) - bad / max(1, bad_count) for (good, good_count), (bad, bad_count) in zip(chosen, rejected, strict=True)]
    return summed, per_token


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _evaluate_pairs(spec: JobSpec, adapted: LoadedModel, base: LoadedModel | None, fields: Sequence[dict[str, Any]],
                    rows: Sequence[int]) -> EvalReport:
    with _as_base(adapted, base) as before:
        base_margins, base_per_token = _pair_margins(spec, before, fields)
    adapted_margins, adapted_per_token = _pair_margins(spec, adapted, fields)

    def accuracy(margins: list[float]) -> float:
        return sum(1 for margin in margins if margin > 0) / len(margins)

    metrics = [
        MetricRow("preference_accuracy", "Preference accuracy (chosen more likely than rejected)", accuracy(base_margins),
                  accuracy(adapted_margins), True),
        MetricRow("preference_margin", "Mean log-probability margin, chosen - rejected", _mean(base_margins), _mean(adapted_margins), True),
        MetricRow("preference_accuracy_per_token", "Preference accuracy per answer token (length-normalised)", accuracy(base_per_token),
                  accuracy(adapted_per_token), True),
    ]
    examples = [ExampleScore(row=row, input=item["prompt"], reference=f"chosen: {item['chosen']}", base_output=f"rejected: {item['rejected']}",
                             adapted_output="", base_score=before_margin, adapted_score=after_margin,
                             change=change_of(before_margin, after_margin))
                for item, row, before_margin, after_margin in zip(fields, rows, base_margins, adapted_margins, strict=True)]
    flipped = sum(1 for before_margin, after_margin in zip(base_margins, adapted_margins, strict=True) if before_margin <= 0 < after_margin)
    lost = sum(1 for before_margin, after_margin in zip(base_margins, adapted_margins, strict=True) if after_margin <= 0 < before_margin)
    notes = [f"{flipped} pairs the base model got wrong are now right, and {lost} it got right are now wrong."]
    return EvalReport(task=spec.task.value, main_metric="preference_accuracy", metrics=metrics, examples=examples,
                      score_name="log-probability margin of the chosen over the rejected answer", notes=notes,
                      extra={"objective": spec.objective.value})


def _evaluate_feedback(spec: JobSpec, adapted: LoadedModel, base: LoadedModel | None, fields: Sequence[dict[str, Any]],
                       rows: Sequence[int]) -> EvalReport:
    def per_token(loaded: LoadedModel) -> list[float]:
        prompts = [prompt_text(item, loaded.tokenizer, spec.preference.max_prompt_length, spec.data.thinking) for item in fields]
        scores = answer_log_probs(loaded, prompts, [item["completion"] for item in fields], spec.evaluation.batch_size)
        return [total / max(1, count) for total, count in scores]

    with _as_base(adapted, base) as before:
        base_scores = per_token(before)
    adapted_scores = per_token(adapted)

    def margin(scores: list[float]) -> float | None:
        good = _mean([score for score, item in zip(scores, fields, strict=True) if item["label"]])
        bad = _mean([score for score, item in zip(scores, fields, strict=True) if not item["label"]])
        return None if good is None or bad is None else good - bad

    metrics = [MetricRow("feedback_margin", "Per-token log-probability, good minus bad completions", margin(base_scores),
                         margin(adapted_scores), True)]
    examples = []
    for item, row, before_score, after_score in zip(fields, rows, base_scores, adapted_scores, strict=True):
        sign = 1.0 if item["label"] else -1.0  # a bad completion getting less likely is better
        examples.append(ExampleScore(row=row, input=item["prompt"], reference=("good: " if item["label"] else "bad: ") + item["completion"],
                                     base_output="", adapted_output="", base_score=sign * before_score, adapted_score=sign * after_score,
                                     change=change_of(sign * before_score, sign * after_score)))
    return EvalReport(task=spec.task.value, main_metric="feedback_margin", metrics=metrics, examples=examples,
                      score_name="per-token log-probability of a good completion (negated for a bad one)",
                      extra={"objective": spec.objective.value})


def _completions(spec: JobSpec, loaded: LoadedModel, fields: Sequence[dict[str, Any]]) -> list[str]:
    prompts = [loaded.tokenizer(prompt_text(item, loaded.tokenizer, thinking=spec.data.thinking), add_special_tokens=False)["input_ids"]
               for item in fields]
    return greedy_answers(loaded, prompts, spec.grpo.max_completion_length, spec.evaluation.batch_size)


def _evaluate_rewards(spec: JobSpec, adapted: LoadedModel, base: LoadedModel | None, fields: Sequence[dict[str, Any]],
                      rows: Sequence[int]) -> EvalReport:
    terms = list(spec.grpo.rewards)
    with _as_base(adapted, base) as before:
        base_outputs = _completions(spec, before, fields)
    adapted_outputs = _completions(spec, adapted, fields)
    base_scores = [score_completion(terms, text, item.get("answer")) for text, item in zip(base_outputs, fields, strict=True)]
    adapted_scores = [score_completion(terms, text, item.get("answer")) for text, item in zip(adapted_outputs, fields, strict=True)]
    metrics = [MetricRow("reward", "Mean reward (weighted sum of the terms)", _mean([s["reward"] for s in base_scores]),
                         _mean([s["reward"] for s in adapted_scores]), True)]
    for name, term in zip(term_names(terms), terms, strict=True):
        higher = term.weight >= 0
        metrics.append(MetricRow(f"reward/{name}", f"Mean {name} score (weight {term.weight:g})", _mean([s[name] for s in base_scores]),
                                 _mean([s[name] for s in adapted_scores]), higher))
    examples = [ExampleScore(row=row, input=item["prompt"], reference=item.get("answer") or "", base_output=before_text,
                             adapted_output=after_text, base_score=before["reward"], adapted_score=after["reward"],
                             change=change_of(before["reward"], after["reward"]))
                for item, row, before_text, after_text, before, after in zip(fields, rows, base_outputs, adapted_outputs, base_scores,
                                                                             adapted_scores, strict=True)]
    return EvalReport(task=spec.task.value, main_metric="reward", metrics=metrics, examples=examples,
                      score_name="reward of the greedy completion", extra={"objective": spec.objective.value})
