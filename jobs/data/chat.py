"""Conversations through a model's own chat template: the rendered text, the characters the loss grades, and the thinking switch.

The loss covers exactly what the model must write in each assistant turn of the family's template: the answer (and its
``<think>`` block when thinking is trained) and the end-of-turn token that closes it (``<|im_end|>``, ``<|eot_id|>``,
``<end_of_turn>``, ``<|end|>``, ``</s>``), never the header that opens the turn (``<|im_start|>assistant\\n``,
``<start_of_turn>model\\n``, ``[/INST]``) nor anything the generation prompt supplies (Qwen3's empty think block when
thinking is off).

Each assistant turn is found in the rendering of the whole conversation, in order:

1. what the template adds for that turn: ``render(turns[:i+1])`` minus ``render(turns[:i], add_generation_prompt=True)``,
   cut after the end-of-turn text (:func:`end_of_turn`: what the template writes after an assistant turn, before the next
   turn starts), searched for in the whole rendering;
2. where a template renders a turn differently once later turns follow (Qwen3 drops an earlier turn's think block,
   Mistral moves the system text to the last user turn, Phi-3 ends the last turn with EOS), the turn's visible answer
   as the whole rendering has it, plus the end-of-turn text right after it.

Templates without a system role (Gemma 2) get the system text at the start of the first user turn.

**Thinking** (``data.thinking``): Qwen3's and SmolLM3's templates take ``enable_thinking``. ``auto`` leaves the template's
default; ``on`` and ``off`` pass ``enable_thinking`` (True or False) at training, in the Playground and in the report alike
(:func:`template_options`). A turn's reasoning comes from a ``reasoning_content`` field (``reasoning`` and ``thinking``
are read as such) or a leading ``<think>…</think>`` in its answer; it is trained when thinking is not ``off``, and left
out when it is. Templates without the switch refuse ``on`` and ``off``.

    text, spans, add_special = render_chat(tokenizer, messages, warnings, thinking="off")
    text[spans[0][0]:spans[0][1]]   # "Paris.<|im_end|>"
"""

from __future__ import annotations

import re
from typing import Any

from jobs.data.rows import RowError
from jobs.errors import DataError

PLAIN_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '### ' + message['role'] | capitalize + ':\\n' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\\n' }}{% endif %}"
)
"""Chat layout for tokenizers without a chat template."""
THINKING_MODES = ("auto", "on", "off")
"""The values of ``data.thinking``."""
_THINK_BLOCK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)
_PROBE = "ADAPTAPROBETURN"
_end_of_turn_cache: dict[tuple[Any, ...], str] = {}


def has_thinking_switch(tokenizer: Any) -> bool:
    """True when the tokenizer's chat template takes ``enable_thinking`` (Qwen3, SmolLM3)."""
    return "enable_thinking" in str(getattr(tokenizer, "chat_template", None) or "")


def template_options(tokenizer: Any, thinking: str = "auto") -> dict[str, Any]:
    """The extra template variables of a ``data.thinking`` setting: ``{}`` for auto, ``{"enable_thinking": bool}`` for on/off.

    Raises :class:`DataError` when ``on`` or ``off`` is asked of a template that has no thinking switch.
    """
    if thinking not in THINKING_MODES:
        raise DataError(f"data.thinking is {thinking!r}; use auto, on or off")
    if thinking == "auto":
        return {}
    if not has_thinking_switch(tokenizer):
        raise DataError(f"data.thinking is {thinking!r}, but this model's chat template has no thinking switch (enable_thinking, "
                        "as in Qwen3 and SmolLM3); set data.thinking to auto")
    return {"enable_thinking": thinking == "on"}


def split_thinking(text: str) -> tuple[str | None, str]:
    """(the reasoning of a leading ``<think>…</think>`` block or None, the answer after it)."""
    match = _THINK_BLOCK.match(text)
    if match is None:
        return None, text
    return match.group(1).strip(), text[match.end():]


def prepare_reasoning(messages: list[dict[str, str]], tokenizer: Any, thinking: str, warnings: list[str]) -> list[dict[str, str]]:
    """The messages with each assistant turn's reasoning placed where the template reads it (``reasoning_content`` when the
    template uses it, else a ``<think>`` block before the answer), or removed when thinking is off. Templates without a
    thinking switch get the turns as written (a reasoning field is left out, with a warning)."""
    switch = has_thinking_switch(tokenizer)
    reads_field = "reasoning_content" in str(getattr(tokenizer, "chat_template", None) or "")
    prepared: list[dict[str, str]] = []
    for message in messages:
        field = message.get("reasoning_content")
        if message["role"] != "assistant" or (field is None and "<think>" not in message["content"]):
            prepared.append({key: value for key, value in message.items() if key != "reasoning_content"})
            continue
        thought, answer = split_thinking(message["content"])
        reasoning = field if field is not None else thought
        if not switch:
            if field is not None:
                warn_once(warnings, "this model's chat template has no thinking block, so the reasoning field of the conversations is not trained")
            prepared.append({"role": "assistant", "content": message["content"]})
        elif thinking == "off":
            warn_once(warnings, "data.thinking is off, so the reasoning of the answers is not trained (the model learns to answer directly)")
            prepared.append({"role": "assistant", "content": answer if reasoning is not None else message["content"]})
        elif reads_field:
            prepared.append({"role": "assistant", "content": answer.lstrip("\n"), "reasoning_content": reasoning or ""})
        else:
            prepared.append({"role": "assistant", "content": f"<think>\n{reasoning or ''}\n</think>\n{answer.lstrip()}"})
    return prepared


def render_chat(tokenizer: Any, messages: list[dict[str, str]], warnings: list[str],
                thinking: str = "auto") -> tuple[str, list[tuple[int, int]] | None, bool]:
    """The rendered conversation, the character spans the loss grades (None when they cannot be found), and whether the
    text still needs the tokenizer's special tokens (only the plain layout of tokenizers without a template does).

    Raises :class:`RowError` when the template refuses the conversation, :class:`DataError` for a thinking setting the
    template cannot honour.
    """
    template = None
    options = template_options(tokenizer, thinking)
    if not getattr(tokenizer, "chat_template", None):
        template = PLAIN_CHAT_TEMPLATE
        warn_once(warnings, "the tokenizer has no chat template, so conversations use a plain '### User: / ### Assistant:' layout")
    messages = prepare_reasoning(messages, tokenizer, thinking, warnings)

    def render(turns: list[dict[str, str]], generation_prompt: bool = False) -> str:
        return tokenizer.apply_chat_template(turns, chat_template=template, tokenize=False,
                                             add_generation_prompt=generation_prompt, **options)

    try:
        full = render(messages)
    except Exception as error:  # jinja2 TemplateError, ValueError from templates that refuse a role order
        merged = merge_system(messages)
        try:
            full = render(merged) if merged else None
        except Exception:
            full = None
        if full is None:
            raise RowError(
                None, f"the model's chat template refuses this conversation ({error}); check its roles and their order"
            ) from None
        messages = merged
        warn_once(warnings, "the chat template does not accept system messages, so each one was put at the start of the first user message")
    marker = end_of_turn(tokenizer, template, options)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for position, message in enumerate(messages):
        if message["role"] == "user":
            found = full.find(message["content"].strip(), cursor)
            cursor = found + len(message["content"].strip()) if found >= 0 else cursor
        if message["role"] != "assistant":
            continue
        span = _turn_span(full, render, messages, position, marker, cursor)
        if span is None:
            return full, None, template is not None
        spans.append(span)
        cursor = span[1]
    if messages[0]["role"] == "system" and messages[0]["content"].strip() not in full:
        warn_once(warnings, "the chat template leaves the system message out of conversations that end with an answer (Mistral shows "
                            "it only with the last user message of a prompt), so training does not see it")
    return full, spans, template is not None


def _turn_span(full: str, render: Any, messages: list[dict[str, str]], position: int, marker: str,
               cursor: int) -> tuple[int, int] | None:
    """The characters of ``full`` that assistant turn ``position`` must write, searched from ``cursor``."""
    piece = ""
    if position:
        try:
            prefix, upto = render(messages[:position], True), render(messages[: position + 1])
        except Exception:  # a template that refuses a partial conversation: find the answer instead
            prefix, upto = "", ""
        if prefix and upto.startswith(prefix):
            piece = _cut_after(upto[len(prefix):].rstrip(), marker)
    if piece.strip():
        start = full.find(piece, cursor)
        if start >= 0:
            return start, start + len(piece)
    answer = split_thinking(messages[position]["content"])[1].strip()
    start = full.find(answer, cursor) if answer else -1
    if start < 0:
        return None
    end = start + len(answer)
    if marker and full.startswith(marker, end):
        end += len(marker)
    return start, end


def _cut_after(piece: str, marker: str) -> str:
    """``piece`` up to and including its last end-of-turn text (Phi-3 writes EOS after the last turn's ``<|end|>``)."""
    if marker and marker in piece:
        return piece[: piece.rfind(marker) + len(marker)]
    return piece


def end_of_turn(tokenizer: Any, template: str | None = None, options: dict[str, Any] | None = None) -> str:
    """What the template writes after an assistant's answer to close the turn, without trailing whitespace: the tokens
    common to that turn's ending when the conversation stops there and when another user turn follows (``<|im_end|>``,
    ``<|eot_id|>``, ``<end_of_turn>``, ``<|end|>``, ``</s>``); the EOS text when the template cannot be probed."""
    options = options or {}
    key = (template or tokenizer.chat_template, tuple(sorted(options.items())), type(tokenizer).__name__, len(tokenizer),
           tuple(getattr(tokenizer, "all_special_tokens", ())))
    if key not in _end_of_turn_cache:
        _end_of_turn_cache[key] = _probe_end_of_turn(tokenizer, template, options)
    return _end_of_turn_cache[key]


def _probe_end_of_turn(tokenizer: Any, template: str | None, options: dict[str, Any]) -> str:
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _PROBE}]
    try:
        ended = tokenizer.apply_chat_template(turns, chat_template=template, tokenize=False, **options)
        followed = tokenizer.apply_chat_template([*turns, {"role": "user", "content": "Bye"}], chat_template=template,
                                                 tokenize=False, **options)
    except Exception:  # a template that refuses the probe: the EOS text is the best guess
        return tokenizer.eos_token or ""
    if _PROBE not in ended or _PROBE not in followed:
        return tokenizer.eos_token or ""
    tails = [text[text.index(_PROBE) + len(_PROBE):] for text in (ended, followed)]
    ids = [tokenizer(tail, add_special_tokens=False)["input_ids"] for tail in tails]
    common = 0
    while common < min(map(len, ids)) and ids[0][common] == ids[1][common]:
        common += 1
    return tokenizer.decode(ids[0][:common], skip_special_tokens=False).rstrip()


def merge_system(messages: list[dict[str, str]]) -> list[dict[str, str]] | None:
    """For templates without a system role (Gemma 2): the system text joined to the first user turn, or None."""
    if len(messages) < 2 or messages[0]["role"] != "system" or messages[1]["role"] != "user":
        return None
    first = {"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}
    return [first, *messages[2:]]


def generation_prompt(tokenizer: Any, messages: list[dict[str, str]], thinking: str = "auto") -> str:
    """The text a model answers from: the conversation so far with the template's generation prompt and the same thinking
    setting as training (the Playground's prompt); system text goes into the first user turn where the template has no
    system role."""
    options = template_options(tokenizer, thinking)
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **options)
    except Exception:
        merged = merge_system(messages)
        if merged is None:
            raise
        return tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True, **options)


def warn_once(warnings: list[str], message: str) -> None:
    if message not in warnings:
        warnings.append(message)
