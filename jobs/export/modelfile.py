"""An Ollama ``Modelfile`` for an exported GGUF: the tokenizer's chat template translated to Go template syntax, and stop tokens.

    from jobs.export.modelfile import write_modelfile
    write_modelfile(tokenizer, "out/Modelfile", "planets-Q8_0.gguf")
    # then: ollama create planets -f out/Modelfile && ollama run planets

A Jinja chat template cannot be translated in general, so the template is *measured*: it is rendered with
marker contents to find, for each role, the text before and after a message, the default system block a
template adds when no system message is given, and the generation prompt. Those pieces become a small Go
template (:func:`go_template`) whose subset :func:`render_go_template` renders exactly, so the result is
checked against the tokenizer's own rendering before it is written. A template that is not
"prefix + content + suffix" per message gets a Modelfile without ``TEMPLATE`` (Ollama then falls back to the
template it detects from the GGUF's ``tokenizer.chat_template``) and the reason is returned.

An assistant message is measured with a user turn after it, as a conversation's history has it (Qwen3 gives the last
answer an empty think block, Phi-3 ends the last one with EOS). The stop tokens always include the template's end-of-turn
token (:func:`jobs.data.chat.end_of_turn`: ``<end_of_turn>`` for Gemma, whose EOS is another token; ``<|end|>`` for Phi-3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.data.chat import end_of_turn

MARK = {"system": "\x01SYS\x01", "user": "\x01USR\x01", "assistant": "\x01AST\x01"}
ROLES = ("system", "user", "assistant")
SAMPLE_CHATS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "What colour is the sky on Zorvath?"}, {"role": "assistant", "content": "Teal."},
     {"role": "user", "content": "And who rules it?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
     {"role": "user", "content": "Name a planet."}],
]
"""Conversations the translated template must render exactly as the tokenizer does (a two-turn chat, with and without system)."""


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


def _render(tokenizer: Any, messages: list[dict[str, str]], generation: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)


def _chat(*roles: str) -> list[dict[str, str]]:
    return [{"role": role, "content": MARK[role]} for role in roles]


def _between(text: str, start: str, end: str | None) -> str:
    left = text.index(start) + len(start)
    return text[left:] if end is None else text[left:text.index(end, left)]


def measure_template(tokenizer: Any) -> ChatPieces | None:
    """The template's pieces, or None when it does not render messages as prefix + content + suffix."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    try:
        full = _render(tokenizer, _chat("system", "user", "assistant"))
        answered = _render(tokenizer, [*_chat("system", "user", "assistant"), {"role": "user", "content": "\x01NEXT\x01"}])
        user_last = _render(tokenizer, _chat("system", "user"))
        no_system = _render(tokenizer, _chat("user", "assistant"))
        generation = _render(tokenizer, _chat("system", "user"), generation=True)
    except Exception:  # noqa: BLE001 - a template that raises for these chats cannot be measured
        return None
    try:
        before_system = full[: full.index(MARK["system"])]
        system_to_user = _between(full, MARK["system"], MARK["user"])
        user_to_assistant = _between(answered, MARK["user"], MARK["assistant"])
        suffix_user = _between(user_last, MARK["user"], None)
        suffix_assistant = _answer_suffix(_between(full, MARK["assistant"], None), _between(answered, MARK["assistant"], "\x01NEXT\x01"))
        before_user = no_system[: no_system.index(MARK["user"])]
    except ValueError:
        return None
    if not user_to_assistant.startswith(suffix_user) or not generation.startswith(user_last):
        return None
    prefix_assistant = user_to_assistant[len(suffix_user):]
    suffix_system, prefix_user = _split_junction(system_to_user, suffix_user, suffix_assistant)
    head, prefix_system = _split_head(before_system, prefix_user)
    if not before_user.startswith(head) or not before_user.endswith(prefix_user):
        return None
    default_system = before_user[len(head): len(before_user) - len(prefix_user)]
    return ChatPieces(head, default_system, {"system": prefix_system, "user": prefix_user, "assistant": prefix_assistant},
                      {"system": suffix_system, "user": suffix_user, "assistant": suffix_assistant}, generation[len(user_last):])


def _answer_suffix(last: str, followed: str) -> str:
    """What closes an assistant message: the text after it when it ends the chat, cut to what it shares with the text after
    it when a user turn follows (Phi-3 writes EOS only after the last answer)."""
    common = 0
    while common < min(len(last), len(followed)) and last[common] == followed[common]:
        common += 1
    shared = last[:common]
    return shared if shared.strip() and shared != last and last[common:].strip() else last


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


def go_template(pieces: ChatPieces) -> str:
    """The Go template (Ollama's ``TEMPLATE``) for ``pieces``; no whitespace trimming, so every literal is kept as written."""
    lines = [_literal(pieces.head)]
    if pieces.default_system:
        lines.append(f'{{{{ if .Messages }}}}{{{{ if ne (index .Messages 0).Role "system" }}}}{_literal(pieces.default_system)}'
                     "{{ end }}{{ end }}")
    lines.append("{{ range $i, $m := .Messages }}")
    for position, role in enumerate(ROLES):
        keyword = "if" if position == 0 else "else if"
        lines.append(f'{{{{ {keyword} eq $m.Role "{role}" }}}}{_literal(pieces.prefix[role])}{{{{ $m.Content }}}}'
                     f"{_literal(pieces.suffix[role])}")
    lines.append("{{ end }}")
    lines.append(f'{{{{ if and (eq (len (slice $.Messages $i)) 1) (ne $m.Role "assistant") }}}}{_literal(pieces.generation)}{{{{ end }}}}')
    lines.append("{{ end }}")
    return "".join(lines)


# ---- a renderer for the Go template subset go_template emits -------------------------------------------------

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def _parse_expression(text: str) -> Any:
    """A Go template pipeline as nested lists: ``eq (len .Messages) 1`` → ["eq", ["len", ".Messages"], ("lit", 1)];
    a field of a parenthesised value, ``(index .Messages 0).Role``, becomes ("field", [...], "Role")."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|\(|\)(?:\.\w+)?|[^\s()]+', text)
    position = 0

    def parse_sequence() -> list[Any]:
        nonlocal position
        items: list[Any] = []
        while position < len(tokens) and not tokens[position].startswith(")"):
            token = tokens[position]
            position += 1
            if token == "(":
                group = parse_sequence()
                closing = tokens[position]
                position += 1
                items.append(("field", group, closing[2:]) if closing.startswith(").") else group)
            elif token.startswith('"'):
                items.append(("lit", token[1:-1]))
            elif token.isdigit():
                items.append(("lit", int(token)))
            else:
                items.append(token)
        return items

    return parse_sequence()


FUNCTIONS: dict[str, Any] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "len": len, "not": lambda a: not a,
    "and": lambda *values: all(values), "or": lambda *values: any(values),
    "index": lambda sequence, position: sequence[position], "slice": lambda sequence, start: sequence[start:],
}


def _evaluate(expression: Any, scope: dict[str, Any]) -> Any:
    if isinstance(expression, tuple):
        return expression[1] if expression[0] == "lit" else _evaluate(expression[1], scope)[expression[2]]
    if isinstance(expression, str):
        return _lookup(expression, scope)
    head, *arguments = expression
    if not arguments and not (isinstance(head, str) and head in FUNCTIONS):
        return _evaluate(head, scope)
    if not isinstance(head, str) or head not in FUNCTIONS:
        raise ValueError(f"unsupported Go template function {head!r}")
    return FUNCTIONS[head](*(_evaluate(argument, scope) for argument in arguments))


def _lookup(name: str, scope: dict[str, Any]) -> Any:
    if name.startswith("$."):
        value, path = scope["$"], name[2:].split(".")
    elif name.startswith("$"):
        root, *path = name.split(".")
        value = scope[root]
    elif name.startswith("."):
        value, path = scope["."], name[1:].split(".")
    else:
        raise ValueError(f"unsupported Go template value {name!r}")
    for part in path:
        if part:
            value = value[part]
    return value


def render_go_template(template: str, data: dict[str, Any]) -> str:
    """Render the subset of Go's text/template that :func:`go_template` writes (if / else if / range / len / slice / index /
    eq / ne / and / or / not, no whitespace trimming) with ``data`` (``{"Messages": [{"Role", "Content"}]}``)."""
    parts: list[tuple[str, str]] = []
    last = 0
    for match in _ACTION.finditer(template):
        parts.append(("text", template[last:match.start()]))
        parts.append(("action", match.group(1).strip()))
        last = match.end()
    parts.append(("text", template[last:]))
    tree, _ = _parse_block(parts, 0)
    out: list[str] = []
    _run(tree, {"$": data, ".": data}, out)
    return "".join(out)


def _parse_block(parts: list[tuple[str, str]], position: int) -> tuple[list[Any], int]:
    """Nodes until an ``end``/``else`` at this level: ("text", s) | ("value", expr) | ("if", [(cond, body)...], else) | ("range", ...)."""
    nodes: list[Any] = []
    while position < len(parts):
        kind, body = parts[position]
        if kind == "text":
            nodes.append(("text", body))
            position += 1
        elif body == "end" or body.startswith("else"):
            return nodes, position
        elif body.startswith("if "):
            branches, otherwise = [], []
            condition = body[3:]
            while True:
                block, position = _parse_block(parts, position + 1)
                branches.append((_parse_expression(condition), block))
                closing = parts[position][1]
                if closing.startswith("else if "):
                    condition = closing[len("else if "):]
                    continue
                if closing == "else":
                    otherwise, position = _parse_block(parts, position + 1)
                break
            nodes.append(("if", branches, otherwise))
            position += 1
        elif body.startswith("range "):
            match = re.fullmatch(r"range \$(\w+), \$(\w+) := (.+)", body)
            if match is None:
                raise ValueError(f"unsupported range {body!r}")
            block, position = _parse_block(parts, position + 1)
            nodes.append(("range", match.group(1), match.group(2), _parse_expression(match.group(3)), block))
            position += 1
        else:
            nodes.append(("value", _parse_expression(body)))
            position += 1
    return nodes, position


def _run(nodes: list[Any], scope: dict[str, Any], out: list[str]) -> None:
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "value":
            out.append(str(_evaluate(node[1], scope)))
        elif node[0] == "if":
            for condition, block in node[1]:
                if _evaluate(condition, scope):
                    _run(block, scope, out)
                    break
            else:
                _run(node[2], scope, out)
        else:
            _, index_name, item_name, sequence, block = node
            for position, item in enumerate(_evaluate(sequence, scope)):
                _run(block, {**scope, f"${index_name}": position, f"${item_name}": item, ".": item}, out)


def ollama_messages(messages: list[dict[str, str]]) -> dict[str, Any]:
    """Messages as Ollama hands them to a template (``.Messages`` with ``.Role`` and ``.Content``)."""
    return {"Messages": [{"Role": message["role"], "Content": message["content"]} for message in messages]}


def stop_tokens(tokenizer: Any, pieces: ChatPieces | None) -> list[str]:
    """Special tokens that end or open a turn (those in the template's pieces) plus the EOS token: where Ollama must stop."""
    special = [str(token) for token in getattr(tokenizer, "all_special_tokens", [])]
    special += [str(token) for token in tokenizer.added_tokens_decoder.values() if token.special]
    text = "" if pieces is None else "".join([*pieces.prefix.values(), *pieces.suffix.values(), pieces.generation])
    found = [token for token in dict.fromkeys(special) if token and token in text]
    eos = tokenizer.eos_token
    turn_end = end_of_turn(tokenizer) if getattr(tokenizer, "chat_template", None) else ""
    return list(dict.fromkeys([*([str(eos)] if eos else []), *([turn_end] if turn_end and '"' not in turn_end else []), *found]))


def translate_template(tokenizer: Any) -> tuple[str | None, str | None]:
    """(Go template, None) when the translation renders :data:`SAMPLE_CHATS` exactly as the tokenizer does, else (None, reason)."""
    pieces = measure_template(tokenizer)
    if pieces is None:
        return None, "the chat template does not render each message as prefix + content + suffix"
    try:
        template = go_template(pieces)
    except ValueError as error:
        return None, str(error)
    for chat in SAMPLE_CHATS:
        expected = _render(tokenizer, chat, generation=True)
        if render_go_template(template, ollama_messages(chat)) != expected:
            return None, "the translated template does not reproduce the tokenizer's rendering"
    return template, None


def write_modelfile(tokenizer: Any, path: str | Path, gguf_name: str) -> dict[str, Any]:
    """Write ``path`` (FROM ./gguf_name, TEMPLATE, stop PARAMETERs); returns {template_translated, reason, stop}."""
    template, reason = translate_template(tokenizer)
    stops = stop_tokens(tokenizer, measure_template(tokenizer))
    lines = [f"# Ollama: ollama create NAME -f {Path(path).name}  then  ollama run NAME", f"FROM ./{gguf_name}", ""]
    if template is not None and '"""' not in template:
        lines += [f'TEMPLATE """{template}"""', ""]
    elif template is not None:
        template, reason = None, 'the template contains """, which a Modelfile cannot quote'
    lines += [f'PARAMETER stop "{stop}"' for stop in stops if '"' not in stop]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"template_translated": template is not None, "reason": reason, "stop": stops}


def point_modelfile(path: str | Path, gguf_name: str) -> None:
    """Make the Modelfile at ``path`` load ``gguf_name`` (its ``FROM`` line), keeping the rest."""
    path = Path(path)
    lines = [f"FROM ./{gguf_name}" if line.startswith("FROM ") else line for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
