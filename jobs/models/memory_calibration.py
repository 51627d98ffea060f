"""The memory estimate's calibration: each task and objective trained for real, its peak measured, its estimate beside it.

Each row is one run of ``bench/memory_calibration.py``: the real Adapta training (``launch.py train``'s code path) of a small
model for a few steps in a child process, the peak resident memory above the idle process after its imports, and the
estimate :mod:`jobs.models.memory_job` gives the same spec. A (device, task, objective, method) with a row here is
*calibrated*: Submit may refuse a job whose estimate is clearly over the budget. Without a row Submit only warns
(:func:`jobs.models.memory_job.calibration_note`). Re-run the bench after changing the estimate and paste the rows it prints.
The same table, with the machine and the load, is in docs/benchmarks.md ("Memory estimate").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CalibrationRow:
    """One measured configuration: where it ran, what it trained, and the estimate against the measured peak (decimal MB)."""

    device: str
    """cpu or cuda."""
    task: str
    objective: str
    """sft outside causal-lm."""
    method: str
    lora_targets: str
    """all-linear, or the adapted module names joined by "+" ("-" without LoRA)."""
    model: str
    """The model trained (the packaged smollm2 or minilm on CPU)."""
    batch_size: int
    max_length: int
    estimate_mb: int
    measured_mb: int
    """Peak resident memory of the training process above its idle baseline after imports (CPU)."""
    date: str

    @property
    def ratio(self) -> float:
        """Estimate ÷ measured."""
        return self.estimate_mb / self.measured_mb


CALIBRATION: tuple[CalibrationRow, ...] = (
    # bench/memory_calibration.py on the 2-core CPU VM (23.5 GB RAM, torch 2.13 CPU, fp32, 2 torch threads, 3 optimizer steps)
    CalibrationRow("cpu", "sentence-embedding", "sft", "lora", "query+value", "minilm", 32, 256, estimate_mb=8502, measured_mb=8313, date="2026-12-06"),
    CalibrationRow("cpu", "sentence-embedding", "sft", "lora", "all-linear", "minilm", 16, 256, estimate_mb=5814, measured_mb=6267,
                   date="2026-12-06"),  # 2 steps
    CalibrationRow("cpu", "text-classification", "sft", "lora", "query+value", "minilm", 32, 256, estimate_mb=4322, measured_mb=4259, date="2026-12-06"),
    CalibrationRow("cpu", "text-classification", "sft", "lora", "all-linear", "minilm", 32, 256, estimate_mb=5814, measured_mb=5822, date="2026-12-06"),
    CalibrationRow("cpu", "causal-lm", "sft", "lora", "q_proj+v_proj", "smollm2", 4, 256, estimate_mb=3098, measured_mb=2755, date="2026-12-06"),
    CalibrationRow("cpu", "causal-lm", "dpo", "lora", "q_proj+v_proj", "smollm2", 4, 256, estimate_mb=4664, measured_mb=5042, date="2026-12-06"),
    CalibrationRow("cpu", "causal-lm", "grpo", "lora", "q_proj+v_proj", "smollm2", 4, 128, estimate_mb=1866, measured_mb=1937,
                   date="2026-12-06"),  # 2 steps; 4 generations of at most 32 tokens, 4 completions per step
    CalibrationRow("cpu", "causal-lm", "dpo", "full", "-", "smollm2", 2, 256, estimate_mb=4763, measured_mb=5255, date="2026-12-06"),  # 2 steps
    # bench/gpu_memory_check.py on an H200 (bf16 autocast, a Qwen2.5-0.5B-shaped Llama, Trainer-like loop, max_memory_allocated):
    # the decoder SFT rules measured without Adapta's data path, the worst row of each method (docs/benchmarks.md, "Memory estimate")
    CalibrationRow("cuda", "causal-lm", "sft", "lora", "q_proj+v_proj", "qwen2.5-0.5b-shaped", 4, 512, estimate_mb=7093, measured_mb=7158,
                   date="2026-11-30"),
    CalibrationRow("cuda", "causal-lm", "sft", "full", "-", "qwen2.5-0.5b-shaped", 4, 512, estimate_mb=10229, measured_mb=10311, date="2026-11-30"),
)
"""Measured rows (see docs/benchmarks.md, "Memory estimate"). A kind of job without a row here is warned about, never refused."""
