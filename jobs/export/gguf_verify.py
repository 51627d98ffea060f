"""Prove a written GGUF answers like the model it came from: load it back through transformers and compare.

    from jobs.export.gguf_verify import Reference, verify_file
    reference = Reference.load("data/models/job-7-merged", run_dir)
    result = verify_file(reference, Path("out/planets-Q8_0.gguf"), quant_type("q8_0"))

The reference is the merged (or fully fine-tuned) model in float32. The prompts come from the job's own data
(its held-out rows when it has them, else its first training rows), built exactly as training built them.
For each file: the share of positions whose top-1 next token agrees with the reference (teacher-forced over
prompt and answer), the largest logit difference, and whether greedy answers to the prompts are identical.
A file passes when the agreement reaches its type's tolerance (and, for F16, every greedy answer is identical).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.data.examples import load_training_data
from jobs.errors import AdaptaError
from jobs.export.gguf_convert import QuantType
from jobs.export.gguf_vocab import PROBE_TEXT
from jobs.spec import load_spec

if TYPE_CHECKING:
    import torch

MAX_PROMPTS = 8
GREEDY_TOKENS = 16
FALLBACK_PROMPTS = ("What is the capital of France?", "Write one sentence about the sea.", "List three colours.")
IGNORE_INDEX = -100


@dataclass
class Reference:
    """The model a GGUF must match, its tokenizer, and the token sequences it is compared on."""

    model: Any
    tokenizer: Any
    sequences: list[list[int]]
    """Whole examples (prompt and answer), for teacher-forced top-1 agreement."""
    prompts: list[list[int]]
    """The prompt part of each example, for greedy answers."""
    source: str
    greedy: list[list[int]] | None = None

    @classmethod
    def load(cls, folder: str | Path, run_dir: str | Path | None = None) -> Reference:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
        sequences, prompts, source = job_prompts(run_dir, tokenizer)
        return cls(model, tokenizer, sequences, prompts, source)

    def greedy_answers(self) -> list[list[int]]:
        if self.greedy is None:
            self.greedy = greedy_answers(self.model, self.prompts, self.tokenizer)
        return self.greedy


def job_prompts(run_dir: str | Path | None, tokenizer: Any) -> tuple[list[list[int]], list[list[int]], str]:
    """(whole examples, their prompts, where they came from): the job's held-out rows, else its first training rows, else fixed
    prompts when the job's data can no longer be read."""
    if run_dir is not None and (Path(run_dir) / "spec.yaml").is_file():
        try:
            spec = load_spec(Path(run_dir) / "spec.yaml")
            spec.training.packing = False
            data = load_training_data(spec, tokenizer)
            examples, source = (data.eval, data.eval_source or "the held-out rows") if data.eval else (data.train, "the training rows")
            picked = examples[:MAX_PROMPTS]
            sequences = [list(example["input_ids"]) for example in picked]
            prompts = [list(example["input_ids"][: _answer_start(example["labels"])]) for example in picked]
            if sequences and all(prompts):
                return sequences, prompts, f"{len(sequences)} of {source}"
        except (AdaptaError, OSError, KeyError, ValueError):
            pass
    prompts = [_chat_prompt(tokenizer, text) for text in FALLBACK_PROMPTS]
    return prompts, prompts, f"{len(prompts)} fixed prompts (the job's data could not be read)"


def _answer_start(labels: list[int]) -> int:
    return next((index for index, label in enumerate(labels) if label != IGNORE_INDEX), len(labels))


def _chat_prompt(tokenizer: Any, text: str) -> list[int]:
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
        return list(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    return list(tokenizer(text)["input_ids"])


def greedy_answers(model: Any, prompts: list[list[int]], tokenizer: Any) -> list[list[int]]:
    """The first :data:`GREEDY_TOKENS` tokens ``model`` answers to each prompt, decoding greedily."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    answers = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = torch.tensor([prompt])
            output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=GREEDY_TOKENS, do_sample=False,
                                    pad_token_id=pad)
            answers.append(output[0, len(prompt):].tolist())
    return answers


def _logits(model: Any, sequence: list[int]) -> torch.Tensor:
    import torch

    with torch.inference_mode():
        return model(input_ids=torch.tensor([sequence])).logits[0].float()


def load_gguf_model(path: Path) -> Any:
    """A GGUF file loaded back as a float32 transformers model."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()


def verify_file(reference: Reference, path: Path, quant: QuantType) -> dict[str, Any]:
    """Load ``path`` back and compare it with ``reference``; the numbers and the verdict as a JSON-ready dict."""
    started = time.perf_counter()
    model = load_gguf_model(path)
    load_seconds = time.perf_counter() - started
    agree = total = 0
    max_difference = 0.0
    for sequence in reference.sequences:
        expected, got = _logits(reference.model, sequence), _logits(model, sequence)
        agree += int((expected.argmax(-1) == got.argmax(-1)).sum())
        total += len(sequence)
        max_difference = max(max_difference, float((expected - got).abs().max()))
    answers = greedy_answers(model, reference.prompts, reference.tokenizer)
    identical = sum(answer == wanted for answer, wanted in zip(answers, reference.greedy_answers(), strict=True))
    top1 = agree / max(total, 1)
    passed = top1 >= quant.min_top1 and (not quant.exact_greedy or identical == len(answers))
    del model
    return {
        "type": quant.name, "file": path.name, "size_bytes": path.stat().st_size, "top1_agreement": round(top1, 4),
        "positions": total, "max_logit_difference": round(max_difference, 4), "greedy_identical": identical,
        "greedy_prompts": len(answers), "min_top1": quant.min_top1, "greedy_must_match": quant.exact_greedy,
        "load_seconds": round(load_seconds, 2), "passed": passed,
    }


def verify_tokenizer(reference: Reference, path: Path) -> dict[str, Any]:
    """Whether the tokenizer rebuilt from the GGUF's metadata encodes the prompts and llama.cpp's probe text as the original does."""
    from transformers import AutoTokenizer

    rebuilt = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    texts = [reference.tokenizer.decode(sequence) for sequence in reference.sequences] + [PROBE_TEXT]
    same = sum(rebuilt(text, add_special_tokens=False)["input_ids"] == reference.tokenizer(text, add_special_tokens=False)["input_ids"]
               for text in texts)
    return {"texts": len(texts), "identical": same, "passed": same == len(texts)}
