"""GPU benchmark: a FLUX.1-dev-shaped transformer LoRA with an NF4, 8-bit or fp8 base at 512 px, measured peak memory and
s/step beside Adapta's estimate (:mod:`jobs.models.memory_images`). Needs a CUDA GPU and bitsandbytes; nothing is downloaded.

    .venv/bin/python bench/gpu_images.py                       # nf4 then 8bit, 512 px, r=16, batch 1, 6 timed steps
    .venv/bin/python bench/gpu_images.py --quantize nf4 --steps 3 --quick-shape   # 4 double + 8 single blocks (smoke test)
    .venv/bin/python bench/gpu_images.py --quantize fp8       # float8 storage (diffusers' layerwise casting, no bitsandbytes)

What it does, in order:

1. builds ``FluxTransformer2DModel`` from FLUX.1-dev's config (19 double-stream and 38 single-stream blocks, width
   3072, guidance embedding) with random bf16 weights on the GPU and saves it as safetensors under a temporary folder
   (``--work``; 24 GB of disk), then frees the GPU;
2. for each ``--quantize``: loads it back with diffusers' bitsandbytes quantization (the path ``images.quantize_base``
   takes), adds the LoRA Adapta's FLUX default targets get (:func:`jobs.trainers.images.flow.flow_target_modules`),
   turns on gradient checkpointing, and trains with Adapta's own flow-matching step
   (:func:`jobs.trainers.images.flow_train.flow_step_loss`: logit-normal sigmas, packed latents, guidance 3.5) on random
   latents of a 512 px image and random cached T5/CLIP embeddings (512 tokens), as after captions are cached;
3. records ``torch.cuda.max_memory_allocated`` over the training steps, seconds per step after ``--warmup`` steps, and
   the estimate's training peak for the same settings (text encoders and VAE are not on the GPU here, so the estimate's
   encode peak is reported beside it from FLUX.1's T5-XXL + CLIP-L sizes, not measured).

Writes ``docs/measurements/gpu_images_<device>.json`` and prints one line per setting.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FLUX_DEV = {"patch_size": 1, "in_channels": 64, "num_layers": 19, "num_single_layers": 38, "attention_head_dim": 128, "num_attention_heads": 24,
            "joint_attention_dim": 4096, "pooled_projection_dim": 768, "guidance_embeds": True, "axes_dims_rope": [16, 56, 56]}
FLUX_SCHEDULER = {"num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True, "base_shift": 0.5, "max_shift": 1.15}
T5_XXL_PARAMS, CLIP_L_PARAMS = 4_762_310_656, 123_060_480
"""FLUX.1's text encoders (T5 v1.1 XXL encoder, CLIP ViT-L/14 text model), for the estimate's encode peak."""
TEXT_TOKENS, LATENT_CHANNELS = 512, 16


def build_random_transformer(folder: Path, config: dict) -> None:
    """FLUX-shaped transformer with random bf16 weights, saved as safetensors into ``folder/transformer``."""
    import torch
    from diffusers import FluxTransformer2DModel

    with torch.device("cuda"):
        model = FluxTransformer2DModel(**config).to(torch.bfloat16)
    model.save_pretrained(folder / "transformer", safe_serialization=True, max_shard_size="5GB")
    del model
    torch.cuda.empty_cache()


def measure(folder: Path, quantize: str, *, resolution: int, rank: int, steps: int, warmup: int) -> dict:
    """Train ``warmup + steps`` LoRA steps on the quantized transformer; the measured peak and s/step beside the estimate."""
    import torch
    from diffusers import BitsAndBytesConfig, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from peft import LoraConfig

    from jobs.models.memory_images import estimate_flow_memory, lora_params
    from jobs.spec import parse_spec
    from jobs.trainers.images.flow import FlowParts, flow_target_modules, store_in_fp8
    from jobs.trainers.images.flow_train import flow_step_loss

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    settings = ({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": torch.bfloat16} if quantize == "nf4"
                else {"load_in_8bit": True})
    quantization = {} if quantize == "fp8" else {"quantization_config": BitsAndBytesConfig(**settings)}  # fp8: bf16 on the CPU first
    transformer = FluxTransformer2DModel.from_pretrained(folder / "transformer", torch_dtype=torch.bfloat16, **quantization)
    transformer.requires_grad_(False)
    targets = flow_target_modules("flux", "auto")
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=targets))
    transformer.enable_gradient_checkpointing()
    if quantize == "fp8":  # Adapta's own path: stored in float8 once the LoRA is in place, then moved to the GPU
        store_in_fp8(SimpleNamespace(transformer=transformer, device=torch.device("cuda"), fp8_pending=True))
    trainable = [p for p in transformer.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.data = parameter.data.float()
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    device = torch.device("cuda")
    caption = "a photo of sks dog"
    generator = torch.Generator(device=device).manual_seed(0)
    parts = FlowParts(pipe=SimpleNamespace(vae_scale_factor=8), resolved=None, family="flux", transformer=transformer, vae=None, text_encoders=[],
                      noise_scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER), device=device, max_sequence_length=TEXT_TOKENS,
                      flux_guidance=3.5)
    parts.prompt_cache[caption] = {"prompt_embeds": torch.randn(TEXT_TOKENS, FLUX_DEV["joint_attention_dim"], device=device, dtype=torch.bfloat16),
                                   "pooled_prompt_embeds": torch.randn(FLUX_DEV["pooled_projection_dim"], device=device, dtype=torch.bfloat16)}
    spec = parse_spec({"task": "text-to-image", "base_model": str(folder), "data": {"train": str(folder)}, "method": "lora",
                       "images": {"resolution": resolution}})
    side = resolution // 8
    latents = torch.randn(1, LATENT_CHANNELS, side, side, device=device, dtype=torch.bfloat16)
    transformer.train()
    times = []
    for step in range(warmup + steps):
        torch.cuda.synchronize()
        started = time.perf_counter()
        loss = flow_step_loss(parts, spec, latents, [caption], generator, torch.bfloat16)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated()
    estimate = estimate_flow_memory(folder, "flux", resolution=resolution, batch_size=1, quantize=quantize, precision_bytes=2,
                                    gradient_checkpointing=True, lora_params=lora_params(folder, targets, rank))
    encode_peak = (T5_XXL_PARAMS + CLIP_L_PARAMS) * 2 + estimate.context  # before the transformer loads (plus the VAE, 0.2 GB)
    del transformer, optimizer, trainable
    torch.cuda.empty_cache()
    return {"quantize": quantize, "resolution": resolution, "lora_r": rank, "batch_size": 1, "gradient_checkpointing": True,
            "measured_peak_bytes": peak, "estimated_train_peak_bytes": estimate.train_peak - estimate.context,
            "estimated_train_peak_with_context_bytes": estimate.train_peak, "estimated_encode_peak_bytes": encode_peak,
            "estimate_over_measured": round((estimate.train_peak - estimate.context) / peak, 3),
            "seconds_per_step": round(sum(times) / len(times), 3), "steps_timed": len(times), "final_loss": float(loss.detach())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quantize", nargs="+", default=["nf4", "8bit"], choices=["nf4", "8bit", "fp8"])
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="where the random transformer is saved (default: a temporary folder)")
    parser.add_argument("--quick-shape", action="store_true", help="4 double + 8 single blocks instead of 19 + 38 (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "measurements")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu_images.py needs a CUDA GPU (bitsandbytes NF4/8-bit); run it on a GPU machine")
    config = {**FLUX_DEV, **({"num_layers": 4, "num_single_layers": 8} if args.quick_shape else {})}
    device = torch.cuda.get_device_name()
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        folder = Path(work)
        started = time.perf_counter()
        build_random_transformer(folder, config)
        built = time.perf_counter() - started
        rows = []
        for quantize in args.quantize:
            row = measure(folder, quantize, resolution=args.resolution, rank=args.rank, steps=args.steps, warmup=args.warmup)
            rows.append(row)
            print(f"{device} {quantize} {args.resolution}px r={args.rank}: peak {row['measured_peak_bytes'] / 1e9:.2f} GB measured, "
                  f"{row['estimated_train_peak_bytes'] / 1e9:.2f} GB estimated (x{row['estimate_over_measured']}), "
                  f"encode peak est. {row['estimated_encode_peak_bytes'] / 1e9:.2f} GB, {row['seconds_per_step']} s/step", flush=True)
    result = {"device": device, "torch": torch.__version__, "transformer_config": config, "build_seconds": round(built, 1), "rows": rows,
              "fits_24gb": all(max(row["measured_peak_bytes"], row["estimated_encode_peak_bytes"]) < 24e9 for row in rows)}
    args.out.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "_", device.lower()).strip("_")
    path = args.out / f"gpu_images_{name}{'_quick' if args.quick_shape else ''}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
