"""Prove a written GGUF answers like the model it came from: run it in llama.cpp itself (or, without it, load it back
through transformers) and compare with the merged model.

    from jobs.export.gguf_verify import Reference, verify_files_llamacpp, verify_file
    reference = Reference.load("data/models/job-7-merged", run_dir)
    [result] = verify_files_llamacpp(reference, [(Path("out/planets-Q8_0.gguf"), quant_type("q8_0"))])
    result = verify_file(reference, Path("out/planets-Q8_0.gguf"), quant_type("q8_0"))  # through transformers

The reference is the merged (or fully fine-tuned) model in float32. The prompts come from the job's own data
(its held-out rows when it has them, else its first training rows), built exactly as training built them.
In llama.cpp (:func:`verify_files_llamacpp`), per file: whether llama.cpp loads it at all (its own reason when not),
the share of answer positions whose greedy next token agrees with the merged model's, teacher-forced along the merged
model's own greedy continuations of the prompts, the file's greedy answers beside the merged model's, and whether
llama.cpp tokenizes the job's texts and its pre-tokenizer probe as the original tokenizer does. Through transformers
(:func:`verify_file`): the same agreement over the job's whole examples, the largest logit difference, and the greedy
answers. A file passes when it loads, the agreement reaches its type's tolerance and (F16) every greedy answer is
identical; in llama.cpp its tokenization must be identical too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.data.examples import load_training_data
from jobs.errors import AdaptaError
from jobs.export.gguf_convert import QuantType
from jobs.export.gguf_llamacpp import LlamaCppAnswer, LlamaCppRequest, run_llamacpp
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
    max_new_tokens: int = GREEDY_TOKENS
    """How long each greedy answer may grow."""
    greedy: list[list[int]] | None = None
    continued_top1: list[list[int]] | None = None

    @classmethod
    def load(cls, folder: str | Path, run_dir: str | Path | None = None, *, max_prompts: int = MAX_PROMPTS,
             max_new_tokens: int = GREEDY_TOKENS) -> Reference:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
        sequences, prompts, source = job_prompts(run_dir, tokenizer, max_prompts)
        return cls(model, tokenizer, sequences, prompts, source, max_new_tokens)

    def greedy_answers(self) -> list[list[int]]:
        if self.greedy is None:
            self.greedy = greedy_answers(self.model, self.prompts, self.tokenizer, self.max_new_tokens)
        return self.greedy

    def continuations(self) -> list[list[int]]:
        """Each prompt followed by the merged model's own greedy answer: the path teacher-forced agreement walks."""
        return [prompt + answer for prompt, answer in zip(self.prompts, self.greedy_answers(), strict=True)]

    def continuation_top1(self) -> list[list[int]]:
        """The merged model's top-1 next token at every position of :meth:`continuations`."""
        if self.continued_top1 is None:
            self.continued_top1 = [_logits(self.model, sequence).argmax(-1).tolist() for sequence in self.continuations()]
        return self.continued_top1

    def end_ids(self) -> set[int]:
        """The tokens that end a greedy answer in ``generate`` (the generation config's end-of-sequence ids)."""
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids = configured if isinstance(configured, list) else [configured]
        return {int(token) for token in [*ids, self.tokenizer.eos_token_id] if token is not None}


def job_prompts(run_dir: str | Path | None, tokenizer: Any, max_prompts: int = MAX_PROMPTS) -> tuple[list[list[int]], list[list[int]], str]:
    """(whole examples, their prompts, where they came from): the job's held-out rows, else its first training rows, else fixed
    prompts when the job's data can no longer be read."""
    if run_dir is not None and (Path(run_dir) / "spec.yaml").is_file():
        try:
            spec = load_spec(Path(run_dir) / "spec.yaml")
            spec.training.packing = False
            data = load_training_data(spec, tokenizer)
            examples, source = (data.eval, data.eval_source or "the held-out rows") if data.eval else (data.train, "the training rows")
            picked = examples[:max_prompts]
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


def greedy_answers(model: Any, prompts: list[list[int]], tokenizer: Any, max_new_tokens: int = GREEDY_TOKENS) -> list[list[int]]:
    """The first ``max_new_tokens`` tokens ``model`` answers to each prompt, decoding greedily (stopping at end of sequence)."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    answers = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = torch.tensor([prompt])
            output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
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
    answers = greedy_answers(model, reference.prompts, reference.tokenizer, reference.max_new_tokens)
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
    texts = tokenizer_texts(reference)[: len(reference.sequences) + 1]  # the job's rows and the probe
    same = sum(rebuilt(text, add_special_tokens=False)["input_ids"] == reference.tokenizer(text, add_special_tokens=False)["input_ids"]
               for text in texts)
    return {"texts": len(texts), "identical": same, "passed": same == len(texts)}


def until_end(tokens: list[int], end_ids: set[int]) -> list[int]:
    """``tokens`` up to and including the first end-of-sequence token, as ``generate`` stops."""
    for index, token in enumerate(tokens):
        if token in end_ids:
            return tokens[: index + 1]
    return tokens


def _decoded_by_runs(tokenizer: Any, sequence: list[int], special: set[int]) -> str:
    parts: list[str] = []
    run: list[int] = []
    for token in [*sequence, None]:
        if token is None or token in special:
            parts.append(tokenizer.decode(run) if run else "")
            parts.append(tokenizer.convert_ids_to_tokens(token) if token is not None else "")
            run = []
        else:
            run.append(token)
    return "".join(parts)


def text_of(tokenizer: Any, sequence: list[int]) -> str:
    """``sequence`` as a text that the tokenizer splits back into exactly ``sequence``: special tokens written as they are and
    the text between them decoded run by run (a legacy SentencePiece tokenizer, decoded whole, puts a space after each
    special token that the text did not have), else the sequence decoded whole (a non-legacy one, decoded by runs, drops the
    space after a special token that the text had). The check then compares llama.cpp with the very ids training used."""
    special = {index for index, token in tokenizer.added_tokens_decoder.items() if token.special}
    candidates = [_decoded_by_runs(tokenizer, sequence, special), tokenizer.decode(sequence, clean_up_tokenization_spaces=False)]
    return next((text for text in candidates if tokenizer(text, add_special_tokens=False)["input_ids"] == list(sequence)), candidates[0])


def probe_text(reference: Reference) -> str:
    """llama.cpp's pre-tokenizer probe, after the special token the job's texts start with (a chat prompt's first token), so that
    it is split where the job's prompts put text."""
    first = reference.sequences[0][:1] if reference.sequences else []
    special = {index for index, token in reference.tokenizer.added_tokens_decoder.items() if token.special}
    return (reference.tokenizer.convert_ids_to_tokens(first[0]) if first and first[0] in special else "") + PROBE_TEXT


CHAT_PROBES: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Answer in one line."}, {"role": "user", "content": "Name a planet."}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, how can I help?"}, {"role": "user", "content": "Tell me a joke."}],
]
"""Conversations rendered by the chat template with its generation prompt: the text a chat runtime hands llama.cpp."""


def chat_prompt_texts(tokenizer: Any) -> list[str]:
    """:data:`CHAT_PROBES` as the chat template renders them for generation (those it accepts), or [] without a template."""
    if not getattr(tokenizer, "chat_template", None):
        return []
    texts = []
    for chat in CHAT_PROBES:
        try:
            texts.append(tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))
        except Exception:  # noqa: BLE001 - a template that refuses a system message: the other probes remain
            continue
    return texts


def tokenizer_texts(reference: Reference) -> list[str]:
    """What a file's tokenizer must split as the original does: the job's own examples as text and llama.cpp's pre-tokenizer
    probe (which decide the verdict), then the chat prompts of :func:`chat_prompt_texts` (a warning when they differ)."""
    return ([text_of(reference.tokenizer, sequence) for sequence in reference.sequences] + [probe_text(reference)]
            + chat_prompt_texts(reference.tokenizer))


def tokenization_counts(reference: Reference, tokenized: list[list[int]]) -> dict[str, int]:
    """How many of :func:`tokenizer_texts` the file's tokenizer split as the original does: ``tokenizer_identical`` of
    ``tokenizer_texts`` (the job's rows and the probe) and ``chat_prompts_identical`` of ``chat_prompts``."""
    texts = tokenizer_texts(reference)
    same = [got == reference.tokenizer(text, add_special_tokens=False)["input_ids"] for got, text in zip(tokenized, texts, strict=True)]
    rows = len(reference.sequences) + 1
    return {"tokenizer_identical": sum(same[:rows]), "tokenizer_texts": rows, "chat_prompts_identical": sum(same[rows:]),
            "chat_prompts": len(same) - rows}


def tokenization_warning(counts: dict[str, int]) -> str | None:
    """The sentence the export shows when llama.cpp splits chat prompts differently from transformers, or None."""
    differ = counts["chat_prompts"] - counts["chat_prompts_identical"]
    if not differ:
        return None
    return (f"llama.cpp splits {differ} of {counts['chat_prompts']} chat prompts rendered by the model's template into other tokens than "
            "transformers does (a SentencePiece tokenizer whose template writes a space after a special token, see docs/export.md): "
            "answers through a chat runtime may differ slightly from the Playground's")


def _side_by_side(reference: Reference, prompt: list[int], merged: list[int], gguf: list[int]) -> dict[str, Any]:
    decode = reference.tokenizer.decode
    return {"prompt": decode(prompt, skip_special_tokens=True)[-200:], "merged": decode(merged, skip_special_tokens=True),
            "gguf": decode(gguf, skip_special_tokens=True), "identical": merged == gguf}


def judge_llamacpp(reference: Reference, path: Path, quant: QuantType, answer: LlamaCppAnswer) -> dict[str, Any]:
    """One file's verdict from what llama.cpp answered: loaded, top-1 agreement, greedy answers, tokenization."""
    head = {"type": quant.name, "file": path.name, "size_bytes": path.stat().st_size, "verifier": "llama.cpp",
            "min_top1": quant.min_top1, "greedy_must_match": quant.exact_greedy}
    if not answer.loaded:
        return {**head, "loaded": False, "error": f"llama.cpp refused the file: {answer.error}", "passed": False}
    starts = [len(prompt) - 1 for prompt in reference.prompts]  # from the prediction of the answer's first token on
    expected = [row[start:] for row, start in zip(reference.continuation_top1(), starts, strict=True)]
    got = [row[start:] for row, start in zip(answer.teacher_forced, starts, strict=True)]
    agree = sum(int(want == have) for wanted, had in zip(expected, got, strict=True) for want, have in zip(wanted, had, strict=True))
    total = sum(len(row) for row in expected)
    end_ids = reference.end_ids()
    answers = [until_end(tokens, end_ids) for tokens in answer.greedy]
    identical = sum(got == wanted for got, wanted in zip(answers, reference.greedy_answers(), strict=True))
    counts = tokenization_counts(reference, answer.tokenized)
    top1 = agree / max(total, 1)
    passed = (top1 >= quant.min_top1 and (not quant.exact_greedy or identical == len(answers))
              and counts["tokenizer_identical"] == counts["tokenizer_texts"])
    warning = tokenization_warning(counts)
    return {
        **head, "loaded": True, "top1_agreement": round(top1, 4), "positions": total, "greedy_identical": identical,
        "greedy_prompts": len(answers), **counts, **({"warning": warning} if warning else {}),
        "load_seconds": round(answer.load_seconds or 0.0, 2), "passed": passed,
        "answers": [_side_by_side(reference, prompt, merged, got)
                    for prompt, merged, got in zip(reference.prompts, reference.greedy_answers(), answers, strict=True)],
    }


def llamacpp_request(reference: Reference, path: Path) -> LlamaCppRequest:
    """What llama.cpp is asked about ``path``: the merged model's continuations, its prompts, and the texts to tokenize."""
    return LlamaCppRequest(path, sequences=reference.continuations(), prompts=reference.prompts, texts=tokenizer_texts(reference),
                           max_new_tokens=reference.max_new_tokens)


def verify_files_llamacpp(reference: Reference, files: list[tuple[Path, QuantType]]) -> list[dict[str, Any]]:
    """Run every file in llama.cpp (one process) and judge each against ``reference``; JSON-ready dicts, in order.
    Raises AdaptaError when llama.cpp is not installed or does not answer."""
    answers = run_llamacpp([llamacpp_request(reference, path) for path, _ in files])
    return [judge_llamacpp(reference, path, quant, answer) for (path, quant), answer in zip(files, answers, strict=True)]
