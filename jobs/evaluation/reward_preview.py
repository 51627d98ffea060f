"""The reward preview of the Train form: the base model answers the first data rows, and every reward term scores the
answers, before a GRPO job is submitted (so a user sees whether the terms reward what they meant).

The scoring runs the user's patterns: it runs in a process of its own with a time limit
(:func:`jobs.trainers.rewards.score_in_worker`), never in the web server's, so a catastrophic regex or JSON-schema pattern
cannot freeze the server for other users (its matches are also bounded one by one, as in training).

    for item in preview_rewards(spec):          # 5 rows by default
        item.completion, item.scores            # {"format": 1.0, "exact_match": 0.0, "reward": 1.0}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from jobs.data.preference import first_rows, prompt_text
from jobs.evaluation.text import greedy_answers
from jobs.inference.text import load_base
from jobs.spec import JobSpec
from jobs.trainers.rewards import score_in_worker

PREVIEW_ROWS = 5
"""Rows answered and scored by default."""
PREVIEW_MAX_NEW_TOKENS = 256
"""The preview's answers stop here even when grpo.max_completion_length is longer (it has to answer within seconds)."""


@dataclass
class RewardPreview:
    """One data row: the base model's answer and every term's score of it."""

    row: int
    prompt: str
    answer: str | None
    completion: str
    scores: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


def preview_rewards(spec: JobSpec, rows: int = PREVIEW_ROWS) -> list[RewardPreview]:
    """Greedy answers of the base model (cached, as in the Playground) to the first ``rows`` usable rows, scored by
    ``spec.grpo.rewards``; raises :class:`jobs.errors.DataError` when the data has no usable row."""
    items = first_rows(spec, rows)
    loaded = load_base(spec.base_model, spec.task)
    tokenizer = loaded.tokenizer
    prompts = [tokenizer(prompt_text(fields, tokenizer), add_special_tokens=False)["input_ids"] for fields, _ in items]
    limit = min(spec.grpo.max_completion_length, PREVIEW_MAX_NEW_TOKENS)
    completions = greedy_answers(loaded, prompts, limit, spec.evaluation.batch_size)
    scores = score_in_worker(spec.grpo.rewards, [(completion, fields.get("answer")) for (fields, _), completion in zip(items, completions,
                                                                                                                     strict=True)])
    return [RewardPreview(row=row, prompt=fields["prompt"], answer=fields.get("answer"), completion=completion, scores=row_scores)
            for (fields, row), completion, row_scores in zip(items, completions, scores, strict=True)]
