"""The plain baseline for ``bench/train_overhead.py``: LoRA with transformers + PEFT and nothing of Adapta.

What a person would write by hand: chat-template rendering of question/answer rows, the prompt masked
out of the labels (the same objective Adapta trains, and the same compute either way), a Python list as
the dataset, ``DataCollatorForSeq2Seq`` for padding, ``Trainer`` with ``report_to="none"``. Training
arguments mirror what Adapta passes for the same spec. It writes one JSON file with the wall time of
each logged step, the Trainer's own ``train_runtime`` and this process's peak RSS.

    python bench/plain_lora.py --model MODEL_DIR --data rows.jsonl --steps 23 --result out.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path


def _max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss) if sys.platform == "darwin" else int(rss) * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder (safetensors)")
    parser.add_argument("--data", required=True, help="JSONL with question/answer rows")
    parser.add_argument("--steps", type=int, required=True, help="optimizer steps (max_steps)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2.0e-4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", required=True, help="folder for checkpoints and the adapter")
    parser.add_argument("--result", required=True, help="JSON file to write the measurements to")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments, set_seed

    set_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    rows = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines() if line.strip()]
    features = []
    for row in rows:
        user = [{"role": "user", "content": row["question"]}]
        prompt = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": row["answer"]}], tokenize=False)
        ids = tokenizer(full, add_special_tokens=False)["input_ids"][: args.max_length]
        prompt_length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        labels = [-100] * min(prompt_length, len(ids)) + ids[prompt_length:]
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    lora = LoraConfig(task_type=TaskType.CAUSAL_LM, r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(model, lora)

    log_times: list[tuple[int, float]] = []
    losses: list[float] = []

    class StepClock(TrainerCallback):
        """Wall time of each logged training step (the same clock Adapta's metrics.jsonl uses)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                log_times.append((state.global_step, time.time()))
                losses.append(float(logs["loss"]))

    training_args = TrainingArguments(
        output_dir=str(Path(args.output) / "checkpoints"),
        max_steps=args.steps,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size,
        lr_scheduler_type="cosine",
        warmup_steps=0,
        weight_decay=0.0,
        logging_steps=1,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=1_000_000,
        seed=args.seed,
        data_seed=args.seed,
        train_sampling_strategy="group_by_length",
        remove_unused_columns=False,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        report_to="none",
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=features,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, pad_to_multiple_of=8, label_pad_token_id=-100),
        processing_class=tokenizer,
        callbacks=[StepClock()],
    )
    setup_seconds = time.perf_counter() - started
    result = trainer.train()
    model.save_pretrained(Path(args.output) / "adapter")

    Path(args.result).write_text(
        json.dumps(
            {
                "log_times": log_times,
                "losses": losses,
                "global_step": trainer.state.global_step,
                "train_runtime": result.metrics.get("train_runtime"),
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
