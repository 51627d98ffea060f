"""The plain baseline for ``bench/train_overhead.py``: LoRA with transformers + PEFT and nothing of Adapta.

What a person would write by hand: chat-template rendering of question/answer rows, the prompt masked out of the
labels, a Python list as the dataset, ``DataCollatorForSeq2Seq`` for padding, ``Trainer`` with ``report_to="none"``.
Training arguments mirror what Adapta passes for the same spec. It writes one JSON file with the wall time and loss of
each logged step, the Trainer's own ``train_runtime`` and ``train_samples_per_second`` and this process's peak RSS.

The labels grade the answer and the end-of-turn token that closes it (``<|im_end|>``), and not the newline the chat
template writes after that token: the model never generates it (generation stops at the end-of-turn token), and Adapta
grades the same tokens (:mod:`jobs.data.examples`), so both sides train on identical batches. ``plain_features`` and
``plain_trainer`` are importable, so the test suite checks that Adapta's first batch equals this recipe's
(``tests/jobs/trainers/test_text_batches.py``).

    python bench/plain_lora.py --model MODEL_DIR --data rows.jsonl --epochs 4 --result out.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

IGNORE_INDEX = -100


def _max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss) if sys.platform == "darwin" else int(rss) * 1024


def plain_features(tokenizer: Any, rows: list[dict[str, str]], max_length: int) -> list[dict[str, list[int]]]:
    """Question/answer rows as chat-template features: the prompt (and what follows the end-of-turn token) masked."""
    features = []
    for row in rows:
        user = [{"role": "user", "content": row["question"]}]
        prompt = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": row["answer"]}], tokenize=False)
        ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        prompt_length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        answer = ids[prompt_length:]
        if tokenizer.eos_token_id in answer:  # grade through the end-of-turn token, not the template's newline after it
            answer = answer[: answer.index(tokenizer.eos_token_id) + 1]
        labels = [IGNORE_INDEX] * prompt_length + answer + [IGNORE_INDEX] * (len(ids) - prompt_length - len(answer))
        features.append({"input_ids": ids[:max_length], "attention_mask": [1] * len(ids[:max_length]), "labels": labels[:max_length]})
    return features


def plain_trainer(model_dir: str, rows: list[dict[str, str]], output: Path, *, target_modules: list[str], epochs: float = 1.0,
                  max_steps: int = -1, batch_size: int = 4, max_length: int = 128, learning_rate: float = 2.0e-4, seed: int = 42,
                  callbacks: list[Any] | None = None) -> Any:
    """The hand-written Trainer: the model in fp32, LoRA r=8 alpha=16 dropout 0.05 on ``target_modules``, the rows' features."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    features = plain_features(tokenizer, rows, max_length)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    lora = LoraConfig(task_type=TaskType.CAUSAL_LM, r=8, lora_alpha=16, lora_dropout=0.05, target_modules=target_modules)
    model = get_peft_model(model, lora)
    training_args = TrainingArguments(
        output_dir=str(output / "checkpoints"),
        num_train_epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        lr_scheduler_type="cosine",
        warmup_steps=0,
        weight_decay=0.0,
        logging_steps=1,
        logging_first_step=True,
        save_strategy="no",
        seed=seed,
        data_seed=seed,
        train_sampling_strategy="group_by_length",
        remove_unused_columns=False,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=True,
        report_to="none",
    )
    return Trainer(
        model=model,
        args=training_args,
        train_dataset=features,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, pad_to_multiple_of=8, label_pad_token_id=IGNORE_INDEX),
        processing_class=tokenizer,
        callbacks=callbacks,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder (safetensors)")
    parser.add_argument("--data", required=True, help="JSONL with question/answer rows")
    parser.add_argument("--epochs", type=float, default=1.0, help="passes over the rows")
    parser.add_argument("--steps", type=int, default=-1, help="optimizer steps (max_steps; overrides --epochs)")
    parser.add_argument("--target-modules", default="q_proj,k_proj,v_proj,o_proj", help="comma-separated LoRA target modules")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2.0e-4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", required=True, help="folder for the adapter")
    parser.add_argument("--result", required=True, help="JSON file to write the measurements to")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from transformers import TrainerCallback

    log_times: list[tuple[int, float]] = []
    losses: list[float] = []

    class StepClock(TrainerCallback):
        """Wall time and loss of each logged training step (the same clock Adapta's metrics.jsonl uses)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                log_times.append((state.global_step, time.time()))
                losses.append(float(logs["loss"]))

    rows = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines() if line.strip()]
    trainer = plain_trainer(args.model, rows, Path(args.output), target_modules=args.target_modules.split(","), epochs=args.epochs,
                            max_steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                            learning_rate=args.learning_rate, seed=args.seed, callbacks=[StepClock()])
    setup_seconds = time.perf_counter() - started
    result = trainer.train()
    trainer.model.save_pretrained(Path(args.output) / "adapter")

    import torch

    Path(args.result).write_text(
        json.dumps(
            {
                "log_times": log_times,
                "losses": losses,
                "global_step": trainer.state.global_step,
                "train_runtime": result.metrics.get("train_runtime"),
                "train_samples_per_second": result.metrics.get("train_samples_per_second"),
                "setup_seconds": setup_seconds,
                "max_rss_bytes": _max_rss_bytes(),
                "torch_threads": torch.get_num_threads(),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
