"""The reward preview of the Train form: the base model answers the first data rows, and every reward term scores the
answers, before a GRPO job is submitted (so a user sees whether the terms reward what they meant).

The web server runs the whole preview in a process of its own (:func:`preview_in_worker`, ``python -m
jobs.evaluation.reward_preview``, at a lower priority, stopped after :data:`PREVIEW_PROCESS_SECONDS`): the base model's
generation would otherwise hold the server's interpreter lock token after token, and the user's patterns run there too. The
scoring itself runs in one more process with its own time limit (:func:`jobs.trainers.rewards.score_in_worker`), so a
catastrophic regex or JSON-schema pattern is stopped as in training (its matches are also bounded one by one).

    for item in preview_in_worker(spec):        # 5 rows by default
        item.completion, item.scores            # {"format": 1.0, "exact_match": 0.0, "reward": 1.0}
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any

from jobs.data.preference import first_rows, prompt_text
from jobs.errors import AdaptaError
from jobs.evaluation.text import greedy_answers
from jobs.inference.text import load_base
from jobs.spec import JobSpec, parse_spec
from jobs.trainers.rewards import SCORING_PROCESS_SECONDS, score_in_worker
from jobs.trainers.worker_process import run_module_in_worker

PREVIEW_ROWS = 5
"""Rows answered and scored by default."""
PREVIEW_MAX_NEW_TOKENS = 256
"""The preview's answers stop here even when grpo.max_completion_length is longer (it has to answer within seconds)."""
PREVIEW_PROCESS_SECONDS = 120.0 + SCORING_PROCESS_SECONDS
"""The preview process (loading the model, answering, scoring) is stopped after this long."""


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
    prompts = [tokenizer(prompt_text(fields, tokenizer, thinking=spec.data.thinking), add_special_tokens=False)["input_ids"]
               for fields, _ in items]
    limit = min(spec.grpo.max_completion_length, PREVIEW_MAX_NEW_TOKENS)
    completions = greedy_answers(loaded, prompts, limit, spec.evaluation.batch_size)
    scores = score_in_worker(spec.grpo.rewards, [(completion, fields.get("answer")) for (fields, _), completion in zip(items, completions,
                                                                                                                     strict=True)])
    return [RewardPreview(row=row, prompt=fields["prompt"], answer=fields.get("answer"), completion=completion, scores=row_scores)
            for (fields, row), completion, row_scores in zip(items, completions, scores, strict=True)]


def preview_in_worker(spec: JobSpec, rows: int = PREVIEW_ROWS, limit_s: float = PREVIEW_PROCESS_SECONDS) -> list[RewardPreview]:
    """:func:`preview_rewards` in a process of its own (never the web server's); its errors come back as one sentence
    (:class:`jobs.errors.AdaptaError`), a run past ``limit_s`` seconds is stopped."""
    request = json.dumps({"spec": spec.model_dump(mode="json"), "rows": rows})
    output = run_module_in_worker("jobs.evaluation.reward_preview", request, limit_s, what="the reward preview",
                                  too_slow="try a smaller model, fewer rows or a shorter grpo.max_completion_length")
    answer = json.loads(output)
    if "error" in answer:
        raise AdaptaError(answer["error"])
    return [RewardPreview(**item) for item in answer["items"]]


def _serve_one_request() -> None:
    """``python -m jobs.evaluation.reward_preview``: read {"spec": ..., "rows": N} on stdin, write {"items": [...]} (or
    {"error": sentence} for an error a user can fix)."""
    request = json.loads(sys.stdin.read())
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the answer
            items = preview_rewards(parse_spec(request["spec"]), int(request["rows"]))
    except AdaptaError as error:
        json.dump({"error": str(error)}, sys.stdout)
        return
    json.dump({"items": [item.to_dict() for item in items]}, sys.stdout)


if __name__ == "__main__":
    _serve_one_request()
