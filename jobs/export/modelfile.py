"""An Ollama ``Modelfile`` for an exported GGUF: the tokenizer's chat template translated to Go template syntax, and stop tokens.

    from jobs.export.modelfile import write_modelfile
    write_modelfile(tokenizer, "out/Modelfile", "planets-Q8_0.gguf", thinking="off")
    # then: ollama create planets -f out/Modelfile && ollama run planets

A Jinja chat template cannot be translated in general, so the template is *measured*: it is rendered with marker contents
to find, for each role, the text before and after a message, the default system block a template adds when no system
message is given, and the generation prompt. Those pieces become a small Go template (:func:`go_template`) whose subset
:func:`jobs.export.go_template_render.render_go_template` renders exactly, so the result is checked against the
tokenizer's own rendering of :data:`SAMPLE_CHATS` (with and without a system message, one and two turns, with the
generation prompt) before it is written. Three places of the system prompt are measured: a message of its own (ChatML,
Llama 3, Phi-3, SmolLM), folded into the first user turn (Gemma), or into the last user turn (Mistral v3/v7, which shows
it only there). A template that fits none of them gets a Modelfile without ``TEMPLATE`` (Ollama then falls back to the
template it detects from the GGUF's ``tokenizer.chat_template``) and the reason is returned.

An assistant message is measured with a user turn after it, as a conversation's history has it (Qwen3 gives the last
answer an empty think block); what closes a turn is cut where the turn ending alone and the turn followed by another stop
agreeing, never inside a special token (Phi-3 ends the conversation with EOS only without a generation prompt). The stop
tokens always include the template's end-of-turn token (:func:`jobs.data.chat.end_of_turn`: ``<end_of_turn>`` for Gemma,
whose EOS is another token; ``<|end|>`` for Phi-3).

``thinking`` is the job's ``data.thinking`` (:func:`jobs.data.chat.template_options`): a Qwen3 or SmolLM3 job trained
with thinking off is served with the empty think block the template writes for ``enable_thinking=False`` at the end of
its generation prompt, as training and the Playground render it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.data.chat import end_of_turn, template_options
from jobs.export.go_template_render import ollama_messages, render_go_template

MARK = {"system": "\x01SYS\x01", "user": "\x01USR\x01", "assistant": "\x01AST\x01"}
NEXT = "\x01NEXT\x01"
ROLES = ("system", "user", "assistant")
SYSTEM_LAYOUTS = ("message", "first_user", "last_user")
"""Where a template puts the system prompt: a message of its own, or inside the first or the last user turn."""
SAMPLE_CHATS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "What colour is the sky on Zorvath?"}, {"role": "assistant", "content": "Teal."},
     {"role": "user", "content": "And who rules it?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
     {"role": "user", "content": "Name a planet."}],
    [{"role": "user", "content": "Name a moon."}],
    [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Name a star."}],
]
"""Conversations the translated template must render exactly as the tokenizer does (one and two turns, with and without a
system message, each with the generation prompt)."""


@dataclass
class ChatPieces:
    """A chat template measured as text around each message."""

    head: str
    """Text before everything (e.g. a BOS token the template writes)."""
    default_system: str
    """What the template writes when the first message is not a system message (a default system block), else ''."""
    prefix: dict[str, str]
    suffix: dict[str, str]
    generation: str
    """Text added by ``add_generation_prompt=True``."""
    system_layout: str = "message"
    """One of :data:`SYSTEM_LAYOUTS`; for the folded layouts the system text goes before the user's, then :attr:`system_join`."""
    system_join: str = ""


def _render(tokenizer: Any, messages: list[dict[str, str]], generation: bool = False, options: dict[str, Any] | None = None) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation, **(options or {}))


def _chat(*roles: str) -> list[dict[str, str]]:
    return [{"role": role, "content": MARK[role]} for role in roles]


def _between(text: str, start: str, end: str | None) -> str:
    left = text.index(start) + len(start)
    return text[left:] if end is None else text[left:text.index(end, left)]


def _special_texts(tokenizer: Any) -> list[str]:
    special = [str(token) for token in getattr(tokenizer, "all_special_tokens", [])]
    special += [str(token) for token in tokenizer.added_tokens_decoder.values() if token.special]
    return [token for token in dict.fromkeys(special) if token]


def _shared_start(first: str, second: str, specials: list[str]) -> str:
    """The text both strings start with, cut back so that it never ends inside a special token of either
    (``<|end|>\\n<|endoftext|>`` and ``<|end|>\\n<|user|>`` share ``<|end|>\\n``, not ``<|end|>\\n<|``)."""
    cut = 0
    while cut < min(len(first), len(second)) and first[cut] == second[cut]:
        cut += 1
    for text in (first, second):
        for token in specials:
            at = text.find(token)
            while 0 <= at < cut:
                if at + len(token) > cut:
                    cut = at
                    break
                at = text.find(token, at + 1)
    return first[:cut]


def _closing(ended: str, followed: str, specials: list[str]) -> str:
    """What closes a message: the text after it when the chat ends there, cut to what it shares with the text after it when
    another message follows, when that share is not blank (Phi-3 writes EOS only after the last message)."""
    shared = _shared_start(ended, followed, specials)
    return shared if shared.strip() and shared != ended and ended[len(shared):].strip() else ended


def measure_template(tokenizer: Any, thinking: str = "auto") -> ChatPieces | None:
    """The template's pieces (rendered with ``data.thinking`` = ``thinking``), or None when it does not render messages as
    prefix + content + suffix with the system prompt in one of the :data:`SYSTEM_LAYOUTS`."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    options = template_options(tokenizer, thinking)
    specials = _special_texts(tokenizer)
    try:
        answered = _render(tokenizer, [*_chat("user", "assistant"), {"role": "user", "content": NEXT}], options=options)
        ended = _render(tokenizer, _chat("user", "assistant"), options=options)
        user_ended = _render(tokenizer, _chat("user"), options=options)
        generation = _render(tokenizer, _chat("user"), generation=True, options=options)
        with_system = _render(tokenizer, _chat("system", "user"), generation=True, options=options)
        system_later = _render(tokenizer, [*_chat("system", "user", "assistant"), {"role": "user", "content": NEXT}], generation=True,
                               options=options)
    except Exception:  # noqa: BLE001 - a template that raises for these chats cannot be measured
        return None
    try:
        user_to_assistant = _between(answered, MARK["user"], MARK["assistant"])
        suffix_user = _closing(_between(user_ended, MARK["user"], None), user_to_assistant, specials)
        assistant_to_next = _between(answered, MARK["assistant"], NEXT)
        suffix_assistant = _closing(_between(ended, MARK["assistant"], None), assistant_to_next, specials)
        after_user = _between(generation, MARK["user"], None)
        before_user = generation[: generation.index(MARK["user"])]
        before_system = with_system[: with_system.index(MARK["system"])]
    except ValueError:
        return None
    if not (user_to_assistant.startswith(suffix_user) and assistant_to_next.startswith(suffix_assistant)
            and after_user.startswith(suffix_user)):
        return None
    prefix_user = assistant_to_next[len(suffix_assistant):]
    prefix = {"user": prefix_user, "assistant": user_to_assistant[len(suffix_user):], "system": ""}
    suffix = {"user": suffix_user, "assistant": suffix_assistant, "system": ""}
    if not before_user.endswith(prefix_user):
        return None
    head_and_default = before_user[: len(before_user) - len(prefix_user)]
    system_to_user = _between(with_system, MARK["system"], MARK["user"]) if MARK["user"] in with_system.split(MARK["system"], 1)[-1] else None
    layout, join = "message", ""
    if system_to_user is not None and prefix_user and prefix_user not in system_to_user and before_system.endswith(prefix_user):
        head = before_system[: len(before_system) - len(prefix_user)]
        in_last_turn = MARK["system"] in system_later.split(MARK["assistant"], 1)[-1]  # shown with the last user turn only
        try:
            layout, join = ("last_user", _between(system_later, MARK["system"], NEXT)) if in_last_turn else ("first_user", system_to_user)
        except ValueError:
            return None
    elif system_to_user is not None:
        suffix["system"], joined_prefix = _split_junction(system_to_user, suffix_user, suffix_assistant)
        if joined_prefix != prefix_user:
            return None
        head, prefix["system"] = _split_head(before_system, prefix_user)
    else:
        return None
    if not head_and_default.startswith(head):
        return None
    return ChatPieces(head, head_and_default[len(head):], prefix, suffix, after_user[len(suffix_user):], layout, join)


def _split_junction(junction: str, *known_suffixes: str) -> tuple[str, str]:
    """Split the text between a system message and a user message into (system suffix, user prefix); the system suffix may
    start with whitespace the template writes after the system text (SmolLM3)."""
    for suffix in known_suffixes:
        at = junction.find(suffix) if suffix else -1
        if at >= 0 and not junction[:at].strip():
            return junction[: at + len(suffix)], junction[at + len(suffix):]
    return "", junction


def _split_head(before_system: str, prefix_user: str) -> tuple[str, str]:
    """Split the text before the system message into (head, system prefix), reading the system prefix as the user
    prefix with its role name swapped (``<|im_start|>user\\n`` → ``<|im_start|>system\\n``)."""
    guess = prefix_user.replace("user", "system")
    if guess != prefix_user and before_system.endswith(guess):
        return before_system[: len(before_system) - len(guess)], guess
    return "", before_system


def _literal(text: str) -> str:
    if "{{" in text:
        raise ValueError("template text contains '{{'")
    return text


FOLDED_SYSTEM = {
    "first_user": '{{ if and (eq $i 1) (eq (index $.Messages 0).Role "system") }}',
    "last_user": '{{ if and (eq (len (slice $.Messages $i)) 1) (eq (index $.Messages 0).Role "system") }}',
}
"""When a folded system prompt is written into a user turn: the first one after it (Gemma), or the last message (Mistral)."""


def go_template(pieces: ChatPieces) -> str:
    """The Go template (Ollama's ``TEMPLATE``) for ``pieces``; no whitespace trimming, so every literal is kept as written."""
    lines = [_literal(pieces.head)]
    if pieces.default_system:
        lines.append(f'{{{{ if .Messages }}}}{{{{ if ne (index .Messages 0).Role "system" }}}}{_literal(pieces.default_system)}'
                     "{{ end }}{{ end }}")
    lines.append("{{ range $i, $m := .Messages }}")
    for position, role in enumerate(ROLES):
        keyword = "if" if position == 0 else "else if"
        if role == "system" and pieces.system_layout != "message":
            lines.append(f'{{{{ {keyword} eq $m.Role "system" }}}}')
            continue
        folded = ""
        if role == "user" and pieces.system_layout != "message":
            folded = f"{FOLDED_SYSTEM[pieces.system_layout]}{{{{ (index $.Messages 0).Content }}}}{_literal(pieces.system_join)}{{{{ end }}}}"
        lines.append(f'{{{{ {keyword} eq $m.Role "{role}" }}}}{_literal(pieces.prefix[role])}{folded}{{{{ $m.Content }}}}'
                     f"{_literal(pieces.suffix[role])}")
    lines.append("{{ end }}")
    lines.append(f'{{{{ if and (eq (len (slice $.Messages $i)) 1) (ne $m.Role "assistant") }}}}{_literal(pieces.generation)}{{{{ end }}}}')
    lines.append("{{ end }}")
    return "".join(lines)


def stop_tokens(tokenizer: Any, pieces: ChatPieces | None) -> list[str]:
    """Special tokens that end or open a turn (those in the template's pieces) plus the EOS token: where Ollama must stop."""
    text = "" if pieces is None else "".join([*pieces.prefix.values(), *pieces.suffix.values(), pieces.generation])
    found = [token for token in _special_texts(tokenizer) if token in text]
    eos = tokenizer.eos_token
    turn_end = end_of_turn(tokenizer) if getattr(tokenizer, "chat_template", None) else ""
    return list(dict.fromkeys([*([str(eos)] if eos else []), *([turn_end] if turn_end and '"' not in turn_end else []), *found]))


def translate_template(tokenizer: Any, thinking: str = "auto") -> tuple[str | None, str | None]:
    """(Go template, None) when the translation renders :data:`SAMPLE_CHATS` exactly as the tokenizer does (with ``data.thinking``
    = ``thinking``), else (None, reason)."""
    pieces = measure_template(tokenizer, thinking)
    if pieces is None:
        return None, ("the chat template does not render each message as prefix + content + suffix with the system prompt as a "
                      "message of its own or inside the first or the last user turn")
    try:
        template = go_template(pieces)
    except ValueError as error:
        return None, str(error)
    options = template_options(tokenizer, thinking)
    for chat in SAMPLE_CHATS:
        expected = _render(tokenizer, chat, generation=True, options=options)
        if render_go_template(template, ollama_messages(chat)) != expected:
            return None, "the translated template does not reproduce the tokenizer's rendering"
    return template, None


def write_modelfile(tokenizer: Any, path: str | Path, gguf_name: str, thinking: str = "auto") -> dict[str, Any]:
    """Write ``path`` (FROM ./gguf_name, TEMPLATE, stop PARAMETERs) for a job trained with ``data.thinking`` = ``thinking``;
    returns {template_translated, reason, stop, thinking}."""
    template, reason = translate_template(tokenizer, thinking)
    stops = stop_tokens(tokenizer, measure_template(tokenizer, thinking))
    lines = [f"# Ollama: ollama create NAME -f {Path(path).name}  then  ollama run NAME", f"FROM ./{gguf_name}", ""]
    if template is not None and '"""' not in template:
        lines += [f'TEMPLATE """{template}"""', ""]
    elif template is not None:
        template, reason = None, 'the template contains """, which a Modelfile cannot quote'
    lines += [f'PARAMETER stop "{stop}"' for stop in stops if '"' not in stop]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"template_translated": template is not None, "reason": reason, "stop": stops, "thinking": thinking}


def point_modelfile(path: str | Path, gguf_name: str) -> None:
    """Make the Modelfile at ``path`` load ``gguf_name`` (its ``FROM`` line), keeping the rest."""
    path = Path(path)
    lines = [f"FROM ./{gguf_name}" if line.startswith("FROM ") else line for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
