"""llama.cpp itself, run on an exported GGUF: node-llama-cpp's prebuilt CPU binary in a Node subprocess with a time limit.

    from jobs.export.gguf_llamacpp import LlamaCppRequest, llamacpp_status, run_llamacpp
    if llamacpp_status().installed:
        [answer] = run_llamacpp([LlamaCppRequest(Path("out/planets-Q8_0.gguf"), sequences=[[1, 2, 3]], prompts=[[1, 2]])])
        answer.loaded, answer.teacher_forced, answer.greedy, answer.tokenized

The Node side is ``jobs/export/llamacpp/run.mjs`` with its own ``package.json`` and ``package-lock.json`` (node-llama-cpp
pinned exactly, the linux-x64 CPU binary only); ``make install-llamacpp`` (and ``make test``) installs it with ``npm ci``. Nothing is built: when
the prebuilt binary does not load, the answer says so. A file llama.cpp refuses comes back as ``loaded=False`` with
llama.cpp's own message, never as an exception, so the export can mark that file failed and keep it from being offered.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import AdaptaError

LLAMACPP_FOLDER = Path(__file__).resolve().parent / "llamacpp"
SCRIPT = LLAMACPP_FOLDER / "run.mjs"
PACKAGE = "node-llama-cpp"
MIN_NODE_MAJOR = 20
TIMEOUT_PER_FILE_S = 900.0
"""Each file's share of the time limit: a 7B model at Q8_0 answers a verification in minutes on a few CPU threads."""
INSTALL_HINT = "run `make install-llamacpp` (npm ci in jobs/export/llamacpp; `make test` does it too)"


@dataclass(frozen=True)
class LlamaCppStatus:
    """Whether llama.cpp can verify exports on this machine, and if not, why and what to do."""

    installed: bool
    reason: str
    node: str | None = None
    version: str | None = None


@dataclass
class LlamaCppAnswer:
    """What llama.cpp answered for one file: whether it loaded, and the tokens it chose."""

    loaded: bool
    error: str | None = None
    stage: str | None = None
    """Where a failure happened: ``binary`` (the prebuilt library), ``load`` (the file) or ``evaluate``."""
    teacher_forced: list[list[int]] = field(default_factory=list)
    greedy: list[list[int]] = field(default_factory=list)
    tokenized: list[list[int]] = field(default_factory=list)
    load_seconds: float | None = None
    seconds: float | None = None
    log: list[str] = field(default_factory=list)


def _node_major(node: str) -> int | None:
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v(\d+)\.", version.strip())
    return int(match.group(1)) if match else None


def installed_version(folder: Path | None = None) -> str | None:
    """The node-llama-cpp version installed in ``folder``'s (default :data:`LLAMACPP_FOLDER`) node_modules, or None."""
    manifest = (folder or LLAMACPP_FOLDER) / "node_modules" / PACKAGE / "package.json"
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def pinned_version(folder: Path | None = None) -> str:
    """The node-llama-cpp version ``package.json`` pins."""
    return str(json.loads(((folder or LLAMACPP_FOLDER) / "package.json").read_text(encoding="utf-8"))["dependencies"][PACKAGE])


def node_executable() -> str | None:
    """``node`` when it is on this machine and recent enough, else None."""
    node = shutil.which("node")
    if not node:
        return None
    major = _node_major(node)
    return node if major is not None and major >= MIN_NODE_MAJOR else None


def llamacpp_status() -> LlamaCppStatus:
    """Whether node and the pinned node-llama-cpp are installed; the reason and the fix when they are not."""
    node = shutil.which("node")
    if not node:
        return LlamaCppStatus(False, "Node.js is not installed, so llama.cpp cannot check the file; install Node.js 20 or newer, "
                                     f"then {INSTALL_HINT}")
    if node_executable() is None:
        return LlamaCppStatus(False, f"{node} is older than Node.js {MIN_NODE_MAJOR}; install Node.js {MIN_NODE_MAJOR} or newer", node)
    version = installed_version()
    if version is None:
        return LlamaCppStatus(False, f"llama.cpp (node-llama-cpp) is not installed; {INSTALL_HINT}", node)
    pinned = pinned_version()
    if version != pinned:
        return LlamaCppStatus(False, f"node-llama-cpp {version} is installed but {pinned} is pinned; {INSTALL_HINT}", node, version)
    return LlamaCppStatus(True, f"llama.cpp via node-llama-cpp {version}", node, version)


@dataclass
class LlamaCppRequest:
    """One file to check and what to ask llama.cpp about it."""

    model: Path
    sequences: list[list[int]] = field(default_factory=list)
    """Token sequences to evaluate teacher-forced: llama.cpp's top-1 next token at every position."""
    prompts: list[list[int]] = field(default_factory=list)
    """Prompts to continue greedily for ``max_new_tokens`` tokens."""
    texts: list[str] = field(default_factory=list)
    """Texts to tokenize with the file's own tokenizer."""
    max_new_tokens: int = 16


def _answer(reply: dict[str, Any]) -> LlamaCppAnswer:
    log = [str(line) for line in reply.get("log") or []]
    if not reply.get("ok"):
        reasons = [line.split("error loading model: ", 1)[-1] for line in log if "error loading model" in line]
        reasons = reasons or [line.split(": ", 1)[-1] for line in log if line.startswith("error")]
        error = str(reply.get("error") or "unknown error") + (f": {reasons[0]}" if reasons else "")
        return LlamaCppAnswer(False, error, reply.get("stage"), log=log)
    return LlamaCppAnswer(True, teacher_forced=reply["teacher_forced"], greedy=reply["greedy"], tokenized=reply["tokenized"],
                          load_seconds=reply.get("load_seconds"), seconds=reply.get("seconds"), log=log)


def default_threads() -> int:
    """llama.cpp's threads: one on a machine of two cores or fewer (its spinning threads slowed a busy 2-core machine 2.5x),
    else half the cores, at most 8."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(8, cores // 2)


class LlamaCppUnavailable(AdaptaError):
    """llama.cpp cannot run here at all (not installed, or its prebuilt library does not load): no verdict on any file."""


def run_llamacpp(requests: list[LlamaCppRequest], *, threads: int | None = None, timeout_s: float | None = None) -> list[LlamaCppAnswer]:
    """Load each requested file in llama.cpp (one Node process for all of them) and answer its questions, in order.

    A file llama.cpp refuses, or crashes on, is an answer with ``loaded=False`` and the reason. Raises
    :class:`LlamaCppUnavailable` when llama.cpp is not installed or its prebuilt library does not load, and AdaptaError when
    it does not answer within ``timeout_s`` (default :data:`TIMEOUT_PER_FILE_S` per file)."""
    threads = threads or default_threads()
    timeout_s = timeout_s or TIMEOUT_PER_FILE_S * max(1, len(requests))
    status = llamacpp_status()
    if not status.installed:
        raise LlamaCppUnavailable(status.reason)
    payload = {"threads": int(threads), "files": [
        {"model": str(Path(item.model).resolve()), "sequences": [[int(token) for token in tokens] for tokens in item.sequences],
         "prompts": [[int(token) for token in tokens] for tokens in item.prompts], "texts": list(item.texts),
         "max_new_tokens": int(item.max_new_tokens)} for item in requests]}
    try:
        finished = subprocess.run([str(status.node), str(SCRIPT)], input=json.dumps(payload), capture_output=True, text=True,
                                  timeout=timeout_s, cwd=str(LLAMACPP_FOLDER), check=False)
    except subprocess.TimeoutExpired as error:
        raise AdaptaError(f"llama.cpp did not finish checking {len(requests)} GGUF file(s) within {timeout_s:.0f} s; the machine may "
                          "be busy, try the export again") from error
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    try:
        reply: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        if len(requests) > 1:  # one file brought the process down: check them one by one to find which
            return [answer for request in requests for answer in run_llamacpp([request], threads=threads, timeout_s=timeout_s)]
        detail = (finished.stderr.strip().splitlines() or [f"exit code {finished.returncode}"])[-1]
        return [LlamaCppAnswer(False, f"llama.cpp crashed on the file ({detail})", "crash")]
    if not reply.get("ok"):
        raise LlamaCppUnavailable(f"llama.cpp's prebuilt library did not load on this machine ({reply.get('error')}); {INSTALL_HINT}")
    return [_answer(result) for result in reply["results"]]
