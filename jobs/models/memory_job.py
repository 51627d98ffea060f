"""What a job's task and objective make of a training batch, for the memory estimate (:mod:`jobs.models.memory`).

:func:`workload_for` reads a :class:`~jobs.spec.JobSpec` and the model's config and says, as a
:class:`~jobs.models.memory.Workload`, what one training step holds beyond ``batch × max_length`` tokens:

- causal-lm sft: full vocabulary logits (transformers' loss); ORPO the same over chosen + rejected (2 sequences per row);
- dpo: chosen + rejected through TRL's fused LM head (tiles, never the whole logits); with full fine-tuning and
  ``preference.reference: auto`` a frozen copy of the model as reference (LoRA switches its adapter off instead);
- kto: one completion per row with a gradient (the KL batch runs without one), the fused head, the same reference rule;
- grpo: sequences of prompt + ``grpo.max_completion_length`` tokens (the prompt bounded by ``preference.max_prompt_length``
  or ``training.max_length``), the fused head, and sampling ``batch × gradient_accumulation`` completions at once with their
  key/value cache; full fine-tuning with ``grpo.beta`` > 0 keeps a reference copy;
- text-classification: a classification head (no vocabulary logits), for an encoder or a decoder;
- sentence-embedding: a pooling head; pairs and scored pairs are 2 sequences per row, triplets (or mined hard negatives)
  1 + negatives; cached-mnrl keeps the activations of one mini-batch at a time.

:func:`memory_verdict` decides what Submit does with an estimate over the budget: refuse only where the (device, task,
objective, method) was measured against a real peak (:data:`jobs.models.memory_calibration.CALIBRATION`) and the estimate
stays over after allowing for the measured error; warn otherwise.

    workload = workload_for(spec)
    estimate = estimate_for_config(config, params, spec.method, batch_size=8, seq_len=512, workload=workload)
    verdict = memory_verdict(estimate.total, budget, "cpu", spec)   # .refuse, .note
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.models.memory import Workload
from jobs.models.memory_calibration import CALIBRATION, CalibrationRow
from jobs.spec import DataFormat, EmbeddingLoss, JobSpec, Method, Objective, ReferenceModel, Task

UNCALIBRATED_ERROR = 2.0
"""How far off an uncalibrated estimate may be: one still over the budget after dividing by this is refused all the same."""
"""How far an uncalibrated estimate may be off, in the warning's words: the rules are per tensor, but nothing measured them."""


def workload_for(spec: JobSpec, method: Method | str | None = None) -> Workload:
    """What ``spec`` (trained with ``method``, default its own) makes of a batch (see the module docstring; an encoder's lack of
    vocabulary logits is :func:`jobs.models.memory.estimate_for_config`'s to see, from the model's config)."""
    method_name = str(getattr(method, "value", method) or spec.method.value)
    full = method_name == Method.FULL.value
    if spec.task is Task.SENTENCE_EMBEDDING:
        return _embedding_workload(spec)
    if spec.task is not Task.CAUSAL_LM:
        return Workload(head="none")
    objective = spec.objective
    reference_copy = full and spec.preference.reference is ReferenceModel.AUTO
    if objective is Objective.DPO:
        return Workload(head="chunked", sequences_per_row=2, reference_copy=reference_copy)
    if objective is Objective.ORPO:
        return Workload(head="vocabulary", sequences_per_row=2)
    if objective is Objective.KTO:
        return Workload(head="chunked", reference_copy=reference_copy)
    if objective is Objective.GRPO:
        settings = spec.grpo
        prompt = min(spec.preference.max_prompt_length or spec.training.max_length, spec.training.max_length)
        tokens = prompt + settings.max_completion_length
        return Workload(head="chunked", sequence_tokens=tokens, reference_copy=full and settings.beta > 0,
                        generated_sequences=spec.training.batch_size * spec.training.gradient_accumulation, generated_tokens=tokens)
    return Workload()


def _embedding_workload(spec: JobSpec) -> Workload:
    settings = spec.embedding
    if spec.data.format is DataFormat.TRIPLETS:
        sequences = 3
    elif settings.mine_hard_negatives:
        sequences = 2 + settings.num_negatives
    else:
        sequences = 2
    alive = settings.mini_batch_size if settings.loss is EmbeddingLoss.CACHED_MNRL else None
    return Workload(head="none", sequences_per_row=sequences, rows_with_gradients=alive)


def calibration_for(device: str, task: str, objective: str, method: str) -> CalibrationRow | None:
    """The measured row for this device, task, objective and method (the one whose estimate was furthest off), or None."""
    rows = [row for row in CALIBRATION if (row.device, row.task, row.objective, row.method) == (device, task, objective, method)]
    return max(rows, key=lambda row: abs(row.ratio - 1), default=None)


def job_key(spec: JobSpec) -> tuple[str, str, str]:
    """(task, objective, method) of a spec as the calibration table names them (objective "sft" outside causal-lm)."""
    objective = spec.objective.value if spec.task is Task.CAUSAL_LM else Objective.SFT.value
    return spec.task.value, objective, spec.method.value


def calibration_gap(device: str, spec: JobSpec) -> str | None:
    """None when the estimate for ``spec`` on ``device`` ("cpu" or "cuda") was calibrated; else what was not, e.g.
    "causal-lm grpo with full on a GPU"."""
    task, objective, method = job_key(spec)
    if calibration_for(device, task, objective, method) is not None:
        return None
    return f"{task}" + (f" {objective}" if task == Task.CAUSAL_LM.value else "") + f" with {method} on {'a GPU' if device == 'cuda' else 'CPU'}"


@dataclass(frozen=True)
class MemoryVerdict:
    """What Submit does with a job's memory estimate against the budget: go, warn, or refuse."""

    over_budget: bool
    """The estimate is above the bytes a new job may use here."""
    refuse: bool
    """Over the budget even allowing for the estimate's measured error: Submit refuses."""
    uncalibrated: str | None
    """What was never measured (see :func:`calibration_gap`), or None when a calibration row covers the job."""
    note: str | None
    """Over the budget but not refused: one sentence saying why Submit only warns."""
    ratio: float | None = None
    """The calibration's worst estimate ÷ measured for this job's kind, when there is one."""


def memory_verdict(estimate: int, budget: int, device: str, spec: JobSpec) -> MemoryVerdict:
    """Refuse a job when its estimate is calibrated for this device, task, objective and method and stays over the
    budget after dividing by the worst measured overestimate (estimate ÷ measured, at least 1), or when it is uncalibrated
    and stays over after dividing by :data:`UNCALIBRATED_ERROR`; warn when it is over but within that error; go otherwise."""
    task, objective, method = job_key(spec)
    row = calibration_for(device, task, objective, method)
    gap = calibration_gap(device, spec)
    ratio = row.ratio if row is not None else None
    if estimate <= budget:
        return MemoryVerdict(over_budget=False, refuse=False, uncalibrated=gap, note=None, ratio=ratio)
    if row is None:
        if estimate / UNCALIBRATED_ERROR > budget:
            return MemoryVerdict(over_budget=True, refuse=True, uncalibrated=gap, note=None)
        note = (f"the memory estimate is not calibrated for {gap} (no measured run on such a machine); it may be off by up to "
                f"{UNCALIBRATED_ERROR:g}×, so Submit only warns: watch the job's memory")
        return MemoryVerdict(over_budget=True, refuse=False, uncalibrated=gap, note=note)
    if estimate / max(row.ratio, 1.0) > budget:
        return MemoryVerdict(over_budget=True, refuse=True, uncalibrated=None, note=None, ratio=ratio)
    note = (f"the estimate is over the budget by less than its measured error ({row.model}, {task} {objective} {method}: estimate "
            f"÷ measured {row.ratio:.2f}), so Submit only warns: watch the job's memory")
    return MemoryVerdict(over_budget=True, refuse=False, uncalibrated=None, note=note, ratio=ratio)
