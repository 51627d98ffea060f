"""A transformers tokenizer written as GGUF tokenizer metadata (``tokenizer.ggml.*``), the way llama.cpp's converter does.

    from jobs.export.gguf_vocab import add_tokenizer, load_tokenizer
    folder = "data/models/job-7-merged"
    add_tokenizer(writer, load_tokenizer(folder), folder, vocab_size=49152)

Two kinds are written, read from the folder's ``tokenizer.json`` (:func:`tokenizer_kind`):

- **byte-level BPE** (Llama 3, Qwen2/3, SmolLM, Phi-4, GPT-2; llama.cpp's ``gpt2`` model): tokens in id order with their
  types, the merges as ``"a b"`` strings. ``tokenizer.ggml.pre`` names the pre-tokenizer llama.cpp must apply; like
  llama.cpp's converter it is recognised by hashing how the tokenizer splits a fixed probe text
  (:data:`KNOWN_PRE_TOKENIZERS`); a tokenizer whose only pre-tokenizer is GPT-2's byte-level split (no normalizer) is
  ``gpt-2`` whatever its vocabulary; any other is written as ``default`` and reported.
- **SentencePiece BPE with byte fallback** (Gemma 3, Llama 2, Mistral 7B v0.3, Phi-3; llama.cpp's ``llama`` model, as its
  ``_set_vocab_sentencepiece`` writes it): tokens with scores and types (``<0x..>`` byte tokens as BYTE, the unknown
  token as UNKNOWN), and whether a ``▁`` is put before the text (``add_space_prefix``: a legacy Llama, Mistral or Phi-3
  tokenizer yes, Gemma no, a non-legacy one with a chat template no: :func:`adds_space_prefix`). llama.cpp merges the
  adjacent pair whose joined token scores highest, so each token's score is minus the rank of the first merge that makes
  it: the order in which transformers' BPE merges.

Both kinds write the padding up to the model's vocabulary as UNUSED, special added tokens as CONTROL and other added
tokens as USER_DEFINED, the special token ids, whether a BOS token is prepended, and the chat template.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from jobs.errors import AdaptaError

PROBE_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 "
    "333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````"
    "\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL"
)
"""llama.cpp's ``chktxt``: the text whose token ids identify a BPE pre-tokenizer."""

KNOWN_PRE_TOKENIZERS: dict[str, str] = {
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
    "d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c": "qwen2",
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
    "63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e": "tekken",
    "a8594e3edff7c29c003940395316294b2c623e09894deebbc65f33f1515df79e": "dbrx",
}
"""sha256 of ``str(tokenizer.encode(PROBE_TEXT))`` → llama.cpp's pre-tokenizer name (values from llama.cpp's converter)."""

DEFAULT_PRE = "default"


def load_tokenizer(folder: str | Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def _backend_state(tokenizer: Any) -> dict[str, Any]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return json.loads(backend.to_str()) if backend is not None else {}


def splits_like_gpt2(tokenizer: Any) -> bool:
    """Whether the tokenizer's only pre-tokenization is GPT-2's byte-level regex split (llama.cpp's ``gpt-2``), no normalizer."""
    state = _backend_state(tokenizer)
    pre = state.get("pre_tokenizer") or {}
    return (state.get("normalizer") is None and pre.get("type") == "ByteLevel" and pre.get("use_regex", True)
            and not pre.get("add_prefix_space", False))


def pre_tokenizer_name(tokenizer: Any) -> str:
    """llama.cpp's name for this tokenizer's pre-tokenizer: known by the probe's hash, ``gpt-2`` for a plain GPT-2 byte-level
    split, else ``default``."""
    digest = sha256(str(tokenizer.encode(PROBE_TEXT)).encode()).hexdigest()
    if digest in KNOWN_PRE_TOKENIZERS:
        return KNOWN_PRE_TOKENIZERS[digest]
    return "gpt-2" if splits_like_gpt2(tokenizer) else DEFAULT_PRE


SPIECE_UNDERLINE = "\u2581"
BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")
SUPPORTED_TOKENIZERS = ("byte-level BPE tokenizers (Llama 3, Qwen2/3, SmolLM, Phi-4 and GPT-2 style) and SentencePiece BPE tokenizers "
                        "with byte fallback (Gemma, Llama 2, Mistral 7B, Phi-3)")


def _uses_metaspace(state: dict[str, Any]) -> bool:
    """Whether spaces become ``▁`` (a Metaspace pre-tokenizer, or a normalizer replacing " " by "▁"): SentencePiece's layout."""
    text = json.dumps([state.get("normalizer"), state.get("pre_tokenizer")], ensure_ascii=False)
    return '"Metaspace"' in text or f'"content": "{SPIECE_UNDERLINE}"' in text


def tokenizer_kind(state: dict[str, Any]) -> str | None:
    """llama.cpp's tokenizer model for the tokenizer whose ``tokenizer.json`` content is ``state``: ``gpt2`` (byte-level BPE),
    ``llama`` (SentencePiece BPE with byte fallback), or None when it is neither."""
    model = state.get("model") or {}
    if model.get("type") != "BPE":
        return None
    if "ByteLevel" in json.dumps(state.get("pre_tokenizer") or {}):
        return "gpt2"
    if model.get("byte_fallback") and _uses_metaspace(state):
        return "llama"
    return None


def tokenizer_refusal(state: dict[str, Any], name: str) -> str | None:
    """Why the tokenizer whose ``tokenizer.json`` content is ``state`` cannot be written as GGUF metadata, or None."""
    if tokenizer_kind(state) is None:
        model = state.get("model") or {}
        detail = "without byte fallback" if model.get("type") == "BPE" else "not BPE"
        return (f"the tokenizer of {name} is {model.get('type') or 'unknown'} ({detail}); GGUF export supports {SUPPORTED_TOKENIZERS} "
                "only")
    return None


def _bpe_model(tokenizer: Any, folder: Path) -> tuple[str, dict[str, Any]]:
    """(llama.cpp's tokenizer model, the ``tokenizer.json`` state) of a tokenizer that can be written; AdaptaError otherwise."""
    state = _backend_state(tokenizer)
    reason = tokenizer_refusal(state, folder.name)
    if reason:
        raise AdaptaError(reason)
    return str(tokenizer_kind(state)), state


PHI3_NAMES = ("phi-3", "phi3")
PHI3_TOKENS = ("</s>", "<unk>", "<s>", "<|endoftext|>")


def model_name(name: str, tokenizer: Any) -> str:
    """``general.name`` as written: llama.cpp gives the tokens of :data:`PHI3_TOKENS` Phi-3's attributes in any model whose
    name contains "phi3" and refuses the file when one is missing, so such a name loses that spelling ("Phi 3")."""
    vocabulary = tokenizer.get_vocab()
    if any(part in name.lower() for part in PHI3_NAMES) and not all(token in vocabulary for token in PHI3_TOKENS):
        for spelling in ("-3", "3"):
            name = re.sub(f"phi{spelling}", "Phi 3", name, flags=re.IGNORECASE)
    return name


@dataclass
class Vocabulary:
    """What llama.cpp reads of a tokenizer: its kind, the tokens in id order with their types, and merges or scores."""

    kind: str
    """``gpt2`` or ``llama``."""
    tokens: list[str]
    types: list[int]
    merges: list[str]
    """Byte-level BPE only: the merges as ``"a b"``."""
    scores: list[float]
    """SentencePiece only: what llama.cpp ranks merges by."""
    add_space_prefix: bool = False
    """SentencePiece only: whether llama.cpp puts a ``▁`` before the text (and after each special token):
    :func:`adds_space_prefix`."""


def merge_scores(merges: list[str]) -> dict[str, float]:
    """Each token a merge makes → minus the rank of the first merge that makes it (llama.cpp merges the highest score first)."""
    scores: dict[str, float] = {}
    for rank, merge in enumerate(merges):
        scores.setdefault(merge.replace(" ", ""), -float(rank))
    return scores


def prepend_scheme(state: dict[str, Any]) -> str:
    """Where the tokenizer puts a ``▁`` before text: ``always`` (before the text after every special token too: a ``Prepend``
    normalizer, or a legacy Metaspace), ``first`` (at the start of the text only: transformers' non-legacy Llama, Mistral and
    Phi-3 tokenizers) or ``never`` (Gemma)."""
    if '"Prepend"' in json.dumps(state.get("normalizer") or {}):
        return "always"
    pre = state.get("pre_tokenizer") or {}
    metaspaces = [pre] if pre.get("type") == "Metaspace" else [item for item in pre.get("pretokenizers") or [] if item.get("type") == "Metaspace"]
    schemes = [item.get("prepend_scheme", "always") if item.get("add_prefix_space", True) else "never" for item in metaspaces]
    return next((scheme for scheme in schemes if scheme != "never"), "never")


def adds_space_prefix(state: dict[str, Any], chat_template: bool = False) -> bool:
    """Whether llama.cpp must put a ``▁`` before text (``tokenizer.ggml.add_space_prefix``). llama.cpp puts it at the start
    and after every special token, as a legacy tokenizer does. A non-legacy tokenizer (``first``) puts it only at the start,
    so for one with a chat template, whose prompts start with a special token, llama.cpp is told not to (measured: then
    llama.cpp splits every chat prompt as transformers does, otherwise none; docs/export.md)."""
    scheme = prepend_scheme(state)
    return scheme == "always" or (scheme == "first" and not chat_template)


def space_prefix_note(tokenizer: Any) -> str | None:
    """What llama.cpp still splits differently from transformers for this tokenizer, in one sentence, or None."""
    state = _backend_state(tokenizer)
    if tokenizer_kind(state) != "llama" or prepend_scheme(state) != "first" or not getattr(tokenizer, "chat_template", None):
        return None
    return ("this SentencePiece tokenizer is non-legacy (a ▁ only at the start of the text), so the GGUF tells llama.cpp to put no ▁ "
            "before text: chat prompts, which start with a special token, split exactly as in training, but a raw prompt that starts "
            "with plain text loses the ▁ of its first word in llama.cpp")


def vocabulary(tokenizer: Any, folder: Path, vocab_size: int) -> Vocabulary:
    """The tokenizer as llama.cpp reads it, padded to ``vocab_size``."""
    import gguf

    kind, state = _bpe_model(tokenizer, folder)
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in state["model"].get("merges", [])]
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    scores_by_token = merge_scores(merges) if kind == "llama" else {}
    size = max(vocab_size, max(by_id) + 1)
    vocab = Vocabulary(kind, [], [], merges if kind == "gpt2" else [], [],
                       kind == "llama" and adds_space_prefix(state, bool(getattr(tokenizer, "chat_template", None))))
    for index in range(size):
        token = by_id.get(index, f"[PAD{index}]")
        score = scores_by_token.get(token, 0.0)
        if index not in by_id:
            token_type, score = gguf.TokenType.UNUSED, -1000.0
        elif kind == "llama" and index == tokenizer.unk_token_id:
            token_type = gguf.TokenType.UNKNOWN
        elif index in added:
            token_type, score = (gguf.TokenType.CONTROL if added[index].special else gguf.TokenType.USER_DEFINED), -1000.0
        elif kind == "llama" and BYTE_TOKEN.fullmatch(token):
            token_type = gguf.TokenType.BYTE
        else:
            token_type = gguf.TokenType.NORMAL
        vocab.tokens.append(token)
        vocab.types.append(int(token_type))
        vocab.scores.append(score)
    if kind == "gpt2":
        vocab.scores = []
    return vocab


def adds_bos(tokenizer: Any) -> bool:
    """Whether encoding plain text prepends the BOS token (what llama.cpp's ``add_bos_token`` must say)."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a")["input_ids"][:1] == [bos]


def add_tokenizer(writer: Any, tokenizer: Any, folder: str | Path, vocab_size: int) -> str:
    """Write ``tokenizer`` (saved in ``folder``) into ``writer``; returns the pre-tokenizer name written."""
    folder = Path(folder)
    vocab = vocabulary(tokenizer, folder, vocab_size)
    pre = pre_tokenizer_name(tokenizer) if vocab.kind == "gpt2" else DEFAULT_PRE
    writer.add_tokenizer_model(vocab.kind)
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(vocab.tokens)
    if vocab.kind == "llama":
        writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    if vocab.kind == "gpt2":
        writer.add_token_merges(vocab.merges)
    else:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    for token_id, add in ((tokenizer.bos_token_id, writer.add_bos_token_id), (tokenizer.eos_token_id, writer.add_eos_token_id),
                          (tokenizer.unk_token_id, writer.add_unk_token_id), (tokenizer.pad_token_id, writer.add_pad_token_id)):
        if token_id is not None:
            add(int(token_id))
    writer.add_add_bos_token(adds_bos(tokenizer))
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, str) and template:
        writer.add_chat_template(template)
    return pre
