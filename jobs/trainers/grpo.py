"""GRPO for causal LMs with TRL: the model samples ``grpo.num_generations`` completions per prompt, the reward terms built in
the form (:mod:`jobs.trainers.rewards`) score them, and completions better than their group's mean are reinforced.

``train_grpo_model(spec, run_dir, sink)`` shares loading, checkpoints, resume and the returned
:class:`~jobs.trainers.tail.TrainOutcome` with :mod:`jobs.trainers.preference`. Each reward term is one TRL reward function
(its weight in ``GRPOConfig.reward_weights``), so the metric rows hold ``reward`` (the weighted mean), ``reward_std``,
``rewards/<term>/mean`` per term, ``kl`` when ``grpo.beta`` > 0, and completion lengths. A few sampled completions with
their scores are printed to the job's log (``train.log``, the Jobs tab's log panel) once per logging step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.data.chat import template_options
from jobs.metrics import MetricsSink
from jobs.spec import JobSpec, RewardTerm
from jobs.trainers.preference import PreparedRun, callbacks, finish_run, prepare_run, trl_arguments
from jobs.trainers.rewards import completion_text, reward_functions, score_completion
from jobs.trainers.tail import TrainOutcome

SAMPLES_PER_LOG = 2
"""Completions printed to the job's log per logging step."""
SAMPLE_CHARS = 300
"""Printed prompts and completions are cut to this many characters."""


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, list):
        users = [str(message.get("content", "")) for message in prompt if isinstance(message, dict) and message.get("role") == "user"]
        return users[-1] if users else ""
    return str(prompt)


def with_sampled_completions(function: Callable[..., list[float]], terms: list[RewardTerm], every_calls: int,
                             stride: int) -> Callable[..., list[float]]:
    """Wrap one reward function so that every ``every_calls`` calls it also prints a few completions (one per prompt group
    of ``stride``) with every term's score: the job's log shows what the model writes while it learns."""
    calls = 0

    def reward(prompts: list[Any], completions: list[Any], answer: list[str | None] | None = None, **kwargs: Any) -> list[float]:
        nonlocal calls
        values = function(prompts, completions, answer=answer, **kwargs)
        if calls % every_calls == 0:
            for index in range(0, min(len(completions), SAMPLES_PER_LOG * stride), stride):
                text = completion_text(completions[index])
                scores = score_completion(terms, text, answer[index] if answer else None)
                shown = ", ".join(f"{name} {value:.2f}" for name, value in scores.items())
                print(f"[grpo sample] prompt: {_prompt_text(prompts[index])[:SAMPLE_CHARS]!r}\n"
                      f"[grpo sample] completion: {text[:SAMPLE_CHARS]!r}\n[grpo sample] {shown}", flush=True)
        calls += 1
        return values

    reward.__name__ = function.__name__
    return reward


def _trainer(spec: JobSpec, run_dir: Path, prepared: PreparedRun, callback_list: list[Any]) -> Any:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    settings = spec.grpo
    terms = list(settings.rewards)
    functions = reward_functions(terms)
    functions[0] = with_sampled_completions(functions[0], terms, every_calls=spec.training.logging_steps * spec.training.gradient_accumulation,
                                            stride=settings.num_generations)
    args = GRPOConfig(
        **trl_arguments(spec, run_dir, False, prepared.precision_flags),
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=settings.beta,
        reward_weights=[term.weight for term in terms],
        log_completions=False,
        chat_template_kwargs=template_options(prepared.tokenizer, spec.data.thinking) or None,  # data.thinking, as sft renders it
    )
    return GRPOTrainer(model=prepared.model, reward_funcs=functions, args=args, train_dataset=Dataset.from_list(prepared.data.train),
                       processing_class=prepared.tokenizer, callbacks=callback_list, peft_config=prepared.peft_config)


def train_grpo_model(
    spec: JobSpec,
    run_dir: Path,
    sink: MetricsSink,
    *,
    show_progress: bool = False,
    stop_file: Path | None = None,
) -> TrainOutcome:
    """Train one grpo spec into ``run_dir``; resumes from ``run_dir/checkpoints`` when it holds one. Held-out prompts are
    scored by the before/after report (:mod:`jobs.evaluation.preference`), not during training."""
    prepared = prepare_run(spec)
    trainer = _trainer(spec, run_dir, prepared, callbacks(spec, sink, show_progress, stop_file))
    return finish_run(trainer, spec, run_dir, sink, prepared)
