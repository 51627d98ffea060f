"""The training-memory estimate: its documented rules, the measured anchors from bench/, the config reader and the budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.models import estimate_training_memory
from jobs.models.memory import (
    CPU_HEAP_SLACK,
    RUNTIME_OVERHEAD_BYTES,
    MemoryEstimate,
    estimate_for_config,
)
from jobs.models.memory_budget import budget_memory, cpu_training_budget, training_processes_rss
from jobs.models.memory_layers import guess_shape, lora_trainable_params
from jobs.spec import Method

ROOT = Path(__file__).resolve().parents[3]
MB = 1_000_000

SMOLLM2_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
    "num_hidden_layers": 30, "num_key_value_heads": 3, "head_dim": 64, "vocab_size": 49152, "tie_word_embeddings": True,
}
SMOLLM2_PARAMS = 134_515_008
QWEN05_SHAPE = {
    "model_type": "llama", "hidden_size": 896, "num_hidden_layers": 24, "intermediate_size": 4864, "num_attention_heads": 14,
    "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 151_936, "tie_word_embeddings": True,
}
QWEN05_PARAMS = 494_005_120


def test_full_needs_more_than_lora_more_than_qlora() -> None:
    for params in (135_000_000, 7_000_000_000):
        full, lora, qlora = (estimate_training_memory(params, method, dtype_bytes=2).total for method in (Method.FULL, Method.LORA, Method.QLORA))
        assert full > lora > qlora > 0


@pytest.mark.parametrize("method", list(Method))
def test_values_scale_with_parameters(method: Method) -> None:
    fraction = None if method is Method.FULL else 0.01
    small = estimate_training_memory(100_000_000, method, hidden_size=768, num_layers=12, trainable_fraction=fraction)
    large = estimate_training_memory(1_000_000_000, method, hidden_size=768, num_layers=12, trainable_fraction=fraction)
    assert large.weights > 5 * small.weights
    assert large.total > small.total
    assert large.logits == small.logits  # same vocabulary and tokens
    assert estimate_training_memory(100_000_000, method, batch_size=16).activations > estimate_training_memory(100_000_000, method).activations


def test_full_fine_tuning_keeps_fp32_weights_and_counts_autocast_copies() -> None:
    params = 1_000_000_000
    fp32 = estimate_training_memory(params, Method.FULL)
    assert (fp32.weights, fp32.gradients, fp32.optimizer) == (4 * params, 4 * params, 8 * params)
    mixed = estimate_training_memory(params, Method.FULL, dtype_bytes=2, hidden_size=2048, num_layers=16, vocab_size=32_000)
    assert (mixed.weights, mixed.gradients, mixed.optimizer) == (4 * params, 4 * params, 8 * params)  # Adapta loads fp32 and autocasts
    no_copies = estimate_training_memory(params, Method.FULL, dtype_bytes=2, hidden_size=2048, num_layers=16, vocab_size=32_000,
                                         batch_size=1, seq_len=1)
    assert no_copies.activations == pytest.approx(2 * params, rel=0.01)  # the bf16 copy of every weight, kept for the backward pass
    checkpointed = estimate_training_memory(params, Method.FULL, dtype_bytes=2, hidden_size=2048, num_layers=16, vocab_size=32_000,
                                            gradient_checkpointing=True)
    assert checkpointed.activations < mixed.activations / 4


def test_total_is_the_peak_of_the_step() -> None:
    estimate = MemoryEstimate(weights=100, gradients=50, optimizer=10, activations=30, logits=40, overhead=5)
    assert estimate.transient == 70 and estimate.total == 100 + 10 + 5 + 70  # gradients arrive as activations are freed
    late = MemoryEstimate(weights=100, gradients=500, optimizer=10, activations=30, logits=40, recompute=20)
    assert late.total == 100 + 10 + 500 + 20  # full fine-tuning of a big model on short sequences: the optimizer step is the peak


def test_lora_trainable_parameters_are_exact() -> None:
    # SmolLM2-135M, r=8 on q_proj (576→576) and v_proj (576→192): 8·(1152 + 768)·30, what PEFT counts
    assert lora_trainable_params(576, 30, 8, ["q_proj", "v_proj"], q_dim=576, kv_dim=192) == 460_800
    estimate = estimate_for_config(SMOLLM2_CONFIG, SMOLLM2_PARAMS, Method.LORA, batch_size=4, seq_len=256, lora_targets=["q_proj", "v_proj"])
    assert estimate.gradients == 4 * 460_800 and estimate.optimizer == 8 * 460_800
    all_linear = estimate_for_config(SMOLLM2_CONFIG, SMOLLM2_PARAMS, "lora", batch_size=4, seq_len=256, lora_targets="all-linear", lora_r=16)
    assert all_linear.gradients > 10 * estimate.gradients
    # auto is Adapta's default: every linear layer (jobs.trainers.methods.all_linear_modules)
    assert estimate_for_config(SMOLLM2_CONFIG, SMOLLM2_PARAMS, "lora", batch_size=4, seq_len=256) == estimate_for_config(
        SMOLLM2_CONFIG, SMOLLM2_PARAMS, "lora", batch_size=4, seq_len=256, lora_targets="all-linear")


def test_logits_and_gradient_checkpointing() -> None:
    tokens = 4 * 1024
    plain = estimate_for_config(SMOLLM2_CONFIG, SMOLLM2_PARAMS, "lora", batch_size=4, seq_len=1024, precision_bytes=4)
    assert plain.logits == 3 * 4 * tokens * 49152  # three fp32 tokens×vocab tensors: log-softmax output, its gradient, the logits' gradient
    checkpointed = estimate_for_config(SMOLLM2_CONFIG, SMOLLM2_PARAMS, "lora", batch_size=4, seq_len=1024, precision_bytes=4,
                                       gradient_checkpointing=True)
    assert checkpointed.logits == plain.logits
    assert checkpointed.activations < plain.activations / 10
    assert checkpointed.total < plain.total
    # a small model with a big vocabulary: the logits are the largest part
    assert plain.logits > plain.weights and checkpointed.logits > checkpointed.activations + checkpointed.recompute


# Measured by bench/memory_estimate.py (CPU, fp32, SmolLM2-135M, batch 4, Trainer, 3 steps: peak RSS minus the RSS after imports)
# and bench/gpu_memory_check.py (H200, bf16 autocast, Qwen2.5-0.5B-shaped Llama: max_memory_allocated). Bytes.
CPU_MEASURED = [
    ("lora", 256, False, 2_927 * MB), ("lora", 256, True, 1_657 * MB), ("lora", 1024, False, 9_839 * MB), ("lora", 1024, True, 5_007 * MB),
    ("full", 256, False, 4_090 * MB), ("full", 256, True, 2_943 * MB),
]
GPU_MEASURED = [
    ("lora", 512, False, 7_158 * MB), ("lora", 512, True, 4_902 * MB), ("lora", 1024, False, 13_045 * MB), ("lora", 1024, True, 8_728 * MB),
    ("full", 512, False, 14_078 * MB), ("full", 512, True, 10_311 * MB),
]


@pytest.mark.parametrize(("method", "seq_len", "checkpointing", "measured"), CPU_MEASURED)
def test_cpu_estimate_matches_the_benchmark(method: str, seq_len: int, checkpointing: bool, measured: int) -> None:
    estimate = estimate_for_config(SMOLLM2_CONFIG, SMOLLM2_PARAMS, method, batch_size=4, seq_len=seq_len, precision_bytes=4,
                                   gradient_checkpointing=checkpointing, lora_targets=["q_proj", "v_proj"])
    assert 0.8 <= estimate.total / measured <= 1.2


@pytest.mark.parametrize(("method", "seq_len", "checkpointing", "measured"), GPU_MEASURED)
def test_gpu_estimate_matches_the_benchmark(method: str, seq_len: int, checkpointing: bool, measured: int) -> None:
    estimate = estimate_for_config(QWEN05_SHAPE, QWEN05_PARAMS, method, batch_size=4, seq_len=seq_len, precision_bytes=2,
                                   gradient_checkpointing=checkpointing, lora_targets=["q_proj", "v_proj"])
    assert estimate.allocator_slack == 0 and estimate.overhead == RUNTIME_OVERHEAD_BYTES["cuda"]
    assert 0.95 <= estimate.total / measured <= 1.05


def test_cpu_heap_slack_is_a_share_of_the_transient_bytes() -> None:
    cpu = estimate_for_config(SMOLLM2_CONFIG, SMOLLM2_PARAMS, "lora", batch_size=4, seq_len=256, device="cpu")
    assert cpu.allocator_slack == int(CPU_HEAP_SLACK * cpu.transient)
    exact = estimate_for_config(SMOLLM2_CONFIG, SMOLLM2_PARAMS, "lora", batch_size=4, seq_len=256, device="cpu", heap_slack=0.0)
    assert exact.allocator_slack == 0 and exact.total == cpu.total - cpu.allocator_slack


def test_config_without_shape_falls_back_to_guessing() -> None:
    hub_config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
    from_config = estimate_for_config(hub_config, 1_000_000_000, "lora", batch_size=8, seq_len=512, precision_bytes=2,
                                      lora_targets=["q_proj", "v_proj"])
    hidden, layers = guess_shape(1_000_000_000)
    guessed = estimate_training_memory(1_000_000_000, "lora", batch_size=8, seq_len=512, dtype_bytes=2)
    assert from_config == guessed
    assert from_config.gradients == 4 * 10_000_000  # 1 % of P trains when the shape is unknown
    assert guessed == estimate_training_memory(1_000_000_000, "lora", batch_size=8, seq_len=512, dtype_bytes=2, hidden_size=hidden, num_layers=layers,
                                               trainable_fraction=0.01)
    gpt2 = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257}
    assert estimate_for_config(gpt2, 124_000_000, "lora", batch_size=4, seq_len=512,
                               lora_targets=["c_attn"]).gradients == 4 * 8 * (768 + 3 * 768) * 12


def test_qlora_keeps_embeddings_in_16_bit() -> None:
    params = 1_000_000_000
    qlora = estimate_training_memory(params, Method.QLORA, trainable_fraction=0.01)
    assert qlora.weights < 0.7 * params < 2 * params < estimate_training_memory(params, Method.LORA, trainable_fraction=0.01, dtype_bytes=2).weights
    big_vocab = estimate_training_memory(params, Method.QLORA, trainable_fraction=0.01, hidden_size=2048, num_layers=16, vocab_size=150_000)
    assert big_vocab.weights > qlora.weights


def test_human_string_and_errors() -> None:
    text = estimate_training_memory(1_000_000_000, Method.LORA, trainable_fraction=0.01).human()
    assert text.startswith("≈ ") and "GB" in text and "at the peak" in text and "logits" in text
    for bad in ({"num_params": 0}, {"batch_size": 0}, {"dtype_bytes": 3}, {"trainable_fraction": 2.0}):
        arguments = {"num_params": 1_000_000, "method": "lora", **bad}
        with pytest.raises(ValueError):
            estimate_training_memory(**arguments)
    with pytest.raises(ValueError, match="unknown method"):
        estimate_training_memory(1_000_000, "adapter")


def test_budget_memory() -> None:
    gb = 1_000_000_000
    assert budget_memory(24 * gb, 0) == 24 * gb - int(2.4 * gb)  # 10 % reserve
    assert budget_memory(8 * gb, 2 * gb) == 8 * gb - 2 * gb - gb  # at least 1 GB reserve
    assert budget_memory(8 * gb, 20 * gb) == 0
    assert budget_memory(8 * gb, gb, reserve_bytes=0) == 7 * gb
    with pytest.raises(ValueError):
        budget_memory(0, 0)


def test_training_processes_rss_counts_processes_by_command_line() -> None:
    marker = f"adapta-memory-test-{os.getpid()}"
    assert training_processes_rss(marker) == 0
    child = subprocess.Popen([sys.executable, "-c", "import time; data = bytearray(60_000_000); time.sleep(60)", marker])
    try:
        deadline, held = time.monotonic() + 20, 0
        while time.monotonic() < deadline and held < 60_000_000:
            held = training_processes_rss(marker)
            time.sleep(0.1)
        assert held >= 60_000_000
    finally:
        child.kill()
        child.wait()


def test_cpu_training_budget_is_total_ram_minus_running_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    from jobs.models import memory_budget

    total = psutil.virtual_memory().total
    monkeypatch.setattr(memory_budget, "training_processes_rss", lambda marker="jobs.queue.child": 0)
    description, idle = cpu_training_budget()
    assert description.startswith("CPU (") and idle == budget_memory(total, 0) > 0
    monkeypatch.setattr(memory_budget, "training_processes_rss", lambda marker="jobs.queue.child": 3_000_000_000)
    description, busy = cpu_training_budget()
    assert busy == idle - 3_000_000_000 and "held by running jobs" in description


def test_memory_module_loads_without_torch_or_pydantic() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "from gpu_memory_check import load_memory_module\n"
        "module = load_memory_module()\n"
        "assert module.estimate_for_config({}, 10**8, 'lora', batch_size=1, seq_len=8).total > 0\n"
        "heavy = [name for name in ('torch', 'transformers', 'pydantic', 'gradio', 'psutil') if name in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_gpu_check_dry_run_prints_estimates_without_cuda() -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_memory_check.py"), "--dry-run", "--full"], capture_output=True, text=True,
                               timeout=60, env=env, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
    rows = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert [row["label"] for row in rows][:2] == ["lora b4×s512 gc=off", "lora b4×s512 gc=on"] and len(rows) == 6
    assert all(row["estimate"] > 1e9 and "measured" not in row for row in rows)
    assert "| configuration |" in completed.stdout


def test_the_models_tab_table_follows_checkpointing_precision_and_the_vocabulary(tiny_llama) -> None:  # noqa: ANN001 - a fixture
    """The table the Models tab and the Train pre-flight show reads the model's config: logits scale with its vocabulary and
    gradient checkpointing shrinks the activations."""
    from jobs.hub.search import model_info

    plain = model_info(str(tiny_llama), batch_size=8, seq_len=512)
    checkpointed = model_info(str(tiny_llama), batch_size=8, seq_len=512, gradient_checkpointing=True)
    assert plain["shape"]["vocab_size"] == 400
    assert checkpointed["memory"]["lora"]["bytes"] < plain["memory"]["lora"]["bytes"]
    assert "logits" in plain["memory"]["lora"]["human"] and plain["memory"]["lora"]["fits"] is True
    assert plain["memory"]["lora"]["device"].startswith("CPU") and "for a new job" in plain["memory"]["lora"]["device"]
