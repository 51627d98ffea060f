"""A renderer for the subset of Go's text/template that Ollama's Modelfile ``TEMPLATE`` is written in here, so that a translated
chat template is checked against the tokenizer's own rendering without Ollama.

    from jobs.export.go_template_render import ollama_messages, render_go_template
    render_go_template(template, ollama_messages([{"role": "user", "content": "Hi"}]))

The subset is what :func:`jobs.export.modelfile.go_template` writes: text, ``{{ value }}``, if / else if / else, ``range $i, $m :=``,
and the functions len, slice, index, eq, ne, and, or, not; no whitespace trimming. Values follow Go's semantics for it
(``$`` is the data, ``.`` the current item, ``(index .Messages 0).Role`` a field of a parenthesised value).
"""

from __future__ import annotations

import re
from typing import Any

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
