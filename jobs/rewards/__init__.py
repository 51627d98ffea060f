"""GRPO rewards built in the form: the reward terms (:mod:`jobs.rewards.terms`) and a preview of them on a few data rows
with the base model's own completions (:mod:`jobs.rewards.preview`, which loads torch only when called).

    from jobs.rewards import score_completion
    score_completion(spec.grpo.rewards, "<answer>4</answer>", answer="4")
"""

from jobs.rewards.terms import (
    REGEX_TIMEOUT_SECONDS,
    check_term,
    completion_text,
    extract_tagged,
    normalize_answer,
    reward_functions,
    score_completion,
    score_term,
    term_names,
)

__all__ = [
    "REGEX_TIMEOUT_SECONDS",
    "check_term",
    "completion_text",
    "extract_tagged",
    "normalize_answer",
    "reward_functions",
    "score_completion",
    "score_term",
    "term_names",
]
