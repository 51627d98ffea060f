"""The training-memory estimate: ordering between methods, scaling, and the documented rules."""

from __future__ import annotations

import pytest

from jobs.models import estimate_training_memory
from jobs.spec import Method


def test_full_needs_more_than_lora_more_than_qlora() -> None:
    for params in (135_000_000, 7_000_000_000):
        full, lora, qlora = (estimate_training_memory(params, method).total for method in (Method.FULL, Method.LORA, Method.QLORA))
        assert full > lora > qlora > 0


@pytest.mark.parametrize("method", list(Method))
def test_values_scale_with_parameters(method: Method) -> None:
    small = estimate_training_memory(100_000_000, method, hidden_size=768, num_layers=12)
    large = estimate_training_memory(1_000_000_000, method, hidden_size=768, num_layers=12)
    assert large.weights == pytest.approx(10 * small.weights, rel=0.01)
    assert large.total > small.total
    assert large.activations == small.activations  # same shape, same batch: same activations
    assert (
        estimate_training_memory(100_000_000, method, batch_size=16).activations > estimate_training_memory(100_000_000, method).activations
    )


def test_full_fine_tune_rule_of_sixteen_bytes() -> None:
    params = 1_000_000_000
    fp32 = estimate_training_memory(params, Method.FULL)
    assert (fp32.weights, fp32.gradients, fp32.optimizer) == (4 * params, 4 * params, 8 * params)
    mixed = estimate_training_memory(params, Method.FULL, dtype_bytes=2)
    assert mixed.weights + mixed.gradients + mixed.optimizer == 16 * params  # 2 + 2 + (4 master + 8 Adam)
    assert mixed.total == mixed.weights + mixed.gradients + mixed.optimizer + mixed.activations


def test_lora_and_qlora_details_and_human_string() -> None:
    params = 1_000_000_000
    lora = estimate_training_memory(params, Method.LORA, trainable_fraction=0.01)
    assert lora.gradients == 4 * 10_000_000 and lora.optimizer == 8 * 10_000_000
    qlora = estimate_training_memory(params, Method.QLORA, trainable_fraction=0.01)
    assert qlora.weights < 0.6 * params
    text = lora.human()
    assert text.startswith("≈ ") and "GB" in text and "optimizer" in text
    with pytest.raises(ValueError):
        estimate_training_memory(0, Method.LORA)
