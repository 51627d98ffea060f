"""Holding rows of the training data out for validation and the before/after report: one rule for every task.

The share held out is ``data.validation`` when it is a fraction; when ``data.validation`` is empty it is
``evaluation.holdout``, provided evaluation is on and the data has at least ``minimum`` usable items
(:data:`AUTO_HOLDOUT_MIN_ROWS` rows unless the caller says otherwise); a validation file is read by the caller. Which items
are held out is a function of the items' order and ``training.seed`` alone (:func:`split_validation`), so a resumed run
holds out the same ones. Text rows (:mod:`jobs.data.examples`), preference rows (:mod:`jobs.data.preference`), embedding
queries (:mod:`jobs.data.pairs`, grouped so a query's rows stay together) and images (:mod:`jobs.data.images`) all go
through :func:`hold_out`.

    split = hold_out(rows, spec.data.validation, spec.evaluation, spec.training.seed)
    split.train, split.held, split.share   # the rows to train on, the held-out rows, the share (None: none was held out)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from jobs.spec import EvaluationSpec

AUTO_HOLDOUT_MIN_ROWS = 50
"""Without ``data.validation``, rows are held out for the before/after report only when at least this many are usable."""

T = TypeVar("T")


@dataclass
class HoldOut(Generic[T]):
    """The result of :func:`hold_out`."""

    train: list[T]
    """The items to train on, in their order."""
    held: list[T]
    """The held-out items, in their order (empty when none were held out, or too few items to hold any out)."""
    share: float | None
    """The share asked for; None when none is held out of the training data (a validation file, evaluation off, too few items)."""
    automatic: bool
    """True when ``data.validation`` is empty, so the share is (or would be) ``evaluation.holdout``."""


def split_validation(items: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Deterministically hold out ``fraction`` of ``items`` (at least one, never all); both parts keep their order."""
    count = len(items)
    if count < 2 or fraction <= 0:
        return list(items), []
    held = min(count - 1, max(1, round(count * fraction)))
    chosen = set(random.Random(seed).sample(range(count), held))
    train = [item for position, item in enumerate(items) if position not in chosen]
    held_out = [item for position, item in enumerate(items) if position in chosen]
    return train, held_out


def hold_out(
    items: Sequence[T],
    validation: float | str | None,
    evaluation: EvaluationSpec,
    seed: int,
    *,
    minimum: int = AUTO_HOLDOUT_MIN_ROWS,
    group: Callable[[T], Hashable] | None = None,
) -> HoldOut[T]:
    """Split ``items`` into training and held-out items by the rule above (``validation`` is ``data.validation``, or the
    validation file a Hub split became).

    With ``group``, the distinct groups (in first-seen order) are what is picked, and every item of a picked group is held
    out, so no item of a held-out group is trained on (embedding data: a query with all its rows); ``minimum`` still counts
    items."""
    share = validation if isinstance(validation, float) else None
    automatic = validation is None
    if automatic and evaluation.enabled and len(items) >= minimum:
        share = evaluation.holdout
    if share is None:
        return HoldOut(train=list(items), held=[], share=None, automatic=automatic)
    if group is None:
        train, held = split_validation(items, share, seed)
    else:
        _, held_groups = split_validation(list(dict.fromkeys(group(item) for item in items)), share, seed)
        chosen = set(held_groups)
        train = [item for item in items if group(item) not in chosen]
        held = [item for item in items if group(item) in chosen]
    return HoldOut(train=train, held=held, share=share, automatic=automatic)
