"""Benchmark: training steps/s of an Adapta text-to-image LoRA job vs. a plain diffusers-style loop.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/diffusion_overhead.py            # ~1 minute on a 2-core CPU
    HF_HUB_OFFLINE=1 .venv/bin/python bench/diffusion_overhead.py --quick    # smoke test

Both sides train the same tiny SD-1.x-shaped pipeline (``tests/jobs/images/tiny_pipelines.py``) on the same
eight 64 px captioned images, batch 2, LoRA r=4 alpha=4 on the UNet attention, AdamW lr 1e-4, constant
schedule, fp32 on CPU, for ``--warmup`` + ``--steps`` steps:

- Adapta: ``jobs.queue.run.execute_run`` with a job row (the path of ``launch.py train`` and the worker): per-step
  metric rows in metrics.jsonl and the database, checkpoint-free, no samples;
- plain: a loop written like diffusers' ``examples/text_to_image/train_text_to_image_lora.py`` (components
  loaded one by one, a DataLoader with resize/center-crop/normalise transforms, the text encoder run every
  step, ``unet.add_adapter``, MSE on epsilon, gradient clipping).

Speed is steps/s over the ``--steps`` steps after the warm-up, from the wall-clock time each step finished
(Adapta: the ``time`` field of metrics.jsonl; plain: ``time.time()`` after ``optimizer.zero_grad``), so loading is
excluded. The order is Adapta, plain, plain, Adapta (``--repeats 2``) to cancel slow drift; torch runs on one
thread. Goal: Adapta / plain >= 0.95. Prints a markdown table and writes ``bench/results/diffusion_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
RESOLUTION, BATCH, RANK, LR, SEED = 64, 2, 4, 1e-4, 0


def make_images(folder: Path, count: int = 8) -> Path:
    """Eight captioned colour squares."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        colour = ((number * 37) % 256, (number * 91) % 256, (number * 53) % 256)
        Image.new("RGB", (RESOLUTION, RESOLUTION), colour).save(folder / f"img{number}.png")
        (folder / f"img{number}.txt").write_text(f"a {['red', 'blue', 'green', 'dark'][number % 4]} square picture")
    return folder


def adapta_run(pipeline: Path, images: Path, home: Path, total: int, warmup: int) -> float:
    """Steps/s of an Adapta job after ``warmup`` steps."""
    os.environ["ADAPTA_HOME"] = str(home)
    from jobs.metrics import read_metrics_jsonl
    from jobs.queue.run import create_running_job_row, execute_run
    from jobs.spec import parse_spec

    spec = parse_spec({
        "task": "text-to-image", "base_model": str(pipeline), "method": "lora", "data": {"train": str(images)},
        "training": {"max_steps": total, "learning_rate": LR, "batch_size": BATCH, "seed": SEED, "scheduler": "constant", "warmup_ratio": 0.0},
        "lora": {"r": RANK, "alpha": RANK, "dropout": 0.0},
        "images": {"resolution": RESOLUTION},
    })
    job_id = create_running_job_row(spec)
    run_dir = home / "runs" / f"bench-{job_id}"
    execute_run(spec, run_dir, job_id=job_id, attempt=1)
    times = [row["time"] for row in read_metrics_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    return (total - warmup) / (times[-1] - times[warmup - 1])


def plain_run(pipeline: Path, images: Path, total: int, warmup: int) -> float:
    """Steps/s of a loop written like diffusers' train_text_to_image_lora.py, after ``warmup`` steps."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from diffusers.optimization import get_scheduler
    from peft import LoraConfig
    from PIL import Image
    from transformers import CLIPTextModel, CLIPTokenizer

    torch.manual_seed(SEED)
    noise_scheduler = DDPMScheduler.from_pretrained(pipeline, subfolder="scheduler")
    tokenizer = CLIPTokenizer.from_pretrained(pipeline, subfolder="tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(pipeline, subfolder="text_encoder")
    vae = AutoencoderKL.from_pretrained(pipeline, subfolder="vae")
    unet = UNet2DConditionModel.from_pretrained(pipeline, subfolder="unet")
    for module in (unet, vae, text_encoder):
        module.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=RANK, lora_alpha=RANK, init_lora_weights="gaussian", target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    lora_layers = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(lora_layers, lr=LR)
    lr_scheduler = get_scheduler("constant", optimizer=optimizer, num_warmup_steps=0, num_training_steps=total)

    files = sorted(images.glob("*.png"))

    class Captioned(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(files)

        def __getitem__(self, index: int) -> dict:
            image = Image.open(files[index]).convert("RGB")
            scale = RESOLUTION / min(image.size)
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
            left, top = (image.width - RESOLUTION) // 2, (image.height - RESOLUTION) // 2
            image = image.crop((left, top, left + RESOLUTION, top + RESOLUTION))
            pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
            caption = files[index].with_suffix(".txt").read_text()
            ids = tokenizer(caption, max_length=tokenizer.model_max_length, padding="max_length", truncation=True, return_tensors="pt").input_ids[0]
            return {"pixel_values": pixels, "input_ids": ids}

    loader = torch.utils.data.DataLoader(Captioned(), shuffle=True, batch_size=BATCH, num_workers=0, drop_last=True)
    unet.train()
    finished: list[float] = []
    while len(finished) < total:
        for batch in loader:
            latents = vae.encode(batch["pixel_values"]).latent_dist.sample() * vae.config.scaling_factor
            noise = torch.randn_like(latents)
            timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],)).long()
            noisy_latents = noise_scheduler.add_noise(latents, noise, timesteps)
            encoder_hidden_states = text_encoder(batch["input_ids"], return_dict=False)[0]
            target = noise if noise_scheduler.config.prediction_type == "epsilon" else noise_scheduler.get_velocity(latents, noise, timesteps)
            model_pred = unet(noisy_latents, timesteps, encoder_hidden_states, return_dict=False)[0]
            loss = F.mse_loss(model_pred.float(), target.float(), reduction="mean")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lora_layers, 1.0)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad()
            finished.append(time.time())
            if len(finished) == total:
                break
    return (total - warmup) / (finished[-1] - finished[warmup - 1])


def main(argv: list[str] | None = None) -> int:
    """Run both sides, print the markdown table, write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a few steps each, to check the script runs")
    parser.add_argument("--output", type=Path, default=RESULTS / "diffusion_overhead.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 6, 2, 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from tests.jobs.images.tiny_pipelines import build_tiny_sd

    if args.threads:
        torch.set_num_threads(args.threads)
    total = args.steps + args.warmup
    with tempfile.TemporaryDirectory(prefix="adapta-diffusion-bench-") as temp:
        root = Path(temp)
        pipeline = build_tiny_sd(root / "tiny-sd")
        images = make_images(root / "images")
        adapta, plain = [], []
        for repeat in range(args.repeats):
            order = ("adapta", "plain") if repeat % 2 == 0 else ("plain", "adapta")
            for side in order:
                if side == "adapta":
                    adapta.append(adapta_run(pipeline, images, root / "home", total, args.warmup))
                else:
                    plain.append(plain_run(pipeline, images, total, args.warmup))
    a, p = statistics.median(adapta), statistics.median(plain)
    result = {"adapta_steps_per_second": adapta, "plain_steps_per_second": plain, "ratio": a / p, "steps": args.steps,
              "warmup": args.warmup, "threads": args.threads, "torch": torch.__version__, "batch": BATCH, "resolution": RESOLUTION}
    print("| path | steps/s (median) | runs |\n|---|---|---|")
    print(f"| Adapta `execute_run` (job row, metrics rows) | {a:.2f} | {', '.join(f'{v:.2f}' for v in adapta)} |")
    print(f"| plain diffusers-style loop | {p:.2f} | {', '.join(f'{v:.2f}' for v in plain)} |")
    print(f"| **ratio Adapta / plain** (goal >= 0.95) | **{a / p:.2f}** | |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
