"""Where the Playground runs an image pipeline: the pure decision for faked GPUs and CPUs, and the sizes it reads from the
safetensors headers of a real (tiny) pipeline folder."""

from __future__ import annotations

from pathlib import Path

from jobs.inference.images import choose_placement, component_params
from jobs.models.pipelines import resolve_pipeline

GB = 1000**3
FLUX_DEV = {"transformer": 11_901_408_320, "text_encoder_2": 4_762_310_656, "text_encoder": 123_060_480, "vae": 83_819_683}
"""FLUX.1-dev's parameters per component (its safetensors headers): 33.7 GB in bfloat16, the transformer 23.8 GB of it."""


def test_cpu_computes_in_float32_unless_it_has_native_bfloat16() -> None:
    plain = choose_placement("flux", FLUX_DEV, cuda=False, bf16_supported=False, free_bytes=0, resolution=1024)
    assert (plain.device, plain.dtype, plain.offload) == ("cpu", "float32", "none") and "no native bfloat16" in plain.reason
    amx = choose_placement("flux", FLUX_DEV, cuda=False, bf16_supported=True, free_bytes=0, resolution=1024)
    assert (amx.device, amx.dtype) == ("cpu", "bfloat16") and "natively" in amx.reason


def test_flux_on_an_80_gb_gpu_runs_whole_in_bfloat16() -> None:
    placement = choose_placement("flux", FLUX_DEV, cuda=True, bf16_supported=True, free_bytes=80 * GB, resolution=1024)
    assert (placement.device, placement.dtype, placement.offload) == ("cuda", "bfloat16", "none")
    assert placement.reason.startswith("all on the GPU in bfloat16: the pipeline needs about 36.0 GB")


def test_flux_on_a_32_gb_gpu_offloads_by_component_and_on_a_24_gb_gpu_layer_by_layer() -> None:
    thirty_two = choose_placement("flux", FLUX_DEV, cuda=True, bf16_supported=True, free_bytes=32 * GB, resolution=1024)
    assert thirty_two.offload == "model" and "36.0 GB in bfloat16 and the GPU has 32.0 GB free" in thirty_two.reason
    assert "model CPU offload" in thirty_two.reason
    small = choose_placement("flux", FLUX_DEV, cuda=True, bf16_supported=True, free_bytes=24 * GB, resolution=1024)
    assert small.offload == "sequential" and "less than its transformer alone (23.8 GB)" in small.reason


def test_a_gpu_without_bfloat16_keeps_flow_models_in_float32_and_sd_in_float16() -> None:
    sd = {"unet": 859_520_964, "text_encoder": 123_060_480, "vae": 83_653_863}
    assert choose_placement("sd", sd, cuda=True, bf16_supported=False, free_bytes=16 * GB, resolution=512).dtype == "float16"
    flux = choose_placement("flux", FLUX_DEV, cuda=True, bf16_supported=False, free_bytes=16 * GB, resolution=1024)
    assert flux.dtype == "float32" and flux.offload == "sequential"


def test_component_sizes_come_from_the_safetensors_headers(tiny_sd: Path) -> None:
    params = component_params(resolve_pipeline(str(tiny_sd)))
    assert set(params) == {"unet", "text_encoder", "vae"} and all(count > 1000 for count in params.values())
