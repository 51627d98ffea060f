"""The Data tab's "Check data" step and ``/check_data``, run in a process of their own with a time limit, never in the web server's.

A check reads every row of a file that may hold hundreds of thousands (and "Fix" rewrites it), so it runs in
``python -m jobs.trainers.data_check_process`` at a lower priority, like the reward preview's scoring
(:func:`jobs.trainers.rewards.score_in_worker`): the web server's event loop and its other users are never held up, and a
check that runs past ``ADAPTA_DATA_CHECK_SECONDS`` (default 180) is stopped with a sentence saying what to do. The process
loads the chosen model's tokenizer (for the length check) itself, reports its progress line by line, and writes its result
to a file.

    check, fixed, no_lengths = check_in_process(CheckRequest(train=path, model="HuggingFaceTB/SmolLM2-135M-Instruct", max_length=512),
                                    on_progress=lambda done, what: ..., fix_dir=folder)
"""

from __future__ import annotations

import contextvars
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jobs.data.doctor import DataCheck, FixResult, check_data, fix_data
from jobs.errors import AdaptaError
from jobs.models import load_tokenizer, resolve_model
from jobs.spec import DataFormat, Task
from jobs.trainers.worker_process import PROJECT_ROOT, environment_without_hub_tokens, module_command

DATA_CHECK_SECONDS_ENV = "ADAPTA_DATA_CHECK_SECONDS"
DEFAULT_DATA_CHECK_SECONDS = 180.0
PROGRESS_PREFIX = "PROGRESS\t"


@dataclass
class CheckRequest:
    """What to check: the files (already checked to be the caller's), how to read them, and the model and max length of the
    length check (no model: no length check)."""

    train: str
    validation: str | None = None
    format: str = "auto"
    task: str = Task.CAUSAL_LM.value
    mapping: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    """A model reference the caller may use (a local folder, a cached Hub id): only its tokenizer is loaded."""
    max_length: int | None = None


def check_seconds() -> float:
    """The time limit of one check: ``ADAPTA_DATA_CHECK_SECONDS`` (default 180)."""
    try:
        return max(1.0, float(os.environ.get(DATA_CHECK_SECONDS_ENV, DEFAULT_DATA_CHECK_SECONDS)))
    except ValueError:
        return DEFAULT_DATA_CHECK_SECONDS


def check_in_process(request: CheckRequest, *, on_progress: Callable[[float, str], None] | None = None, fix_dir: Path | None = None,
                     earlier: DataCheck | None = None, limit_s: float | None = None) -> tuple[DataCheck, FixResult | None, str]:
    """:func:`jobs.data.doctor.check_data` (and with ``fix_dir``, :func:`~jobs.data.doctor.fix_data` writing the cleaned copy
    there; with ``earlier``, the check of the same file made a moment ago, only the fix runs) in a process of its own, stopped
    after ``limit_s`` seconds (default :func:`check_seconds`). AdaptaError in one
    sentence when the data cannot be read or the time runs out. The third value says why there is no length check (no model or
    max length, or a model without a usable tokenizer), "" when there is one."""
    limit = limit_s or check_seconds()
    with tempfile.TemporaryDirectory(prefix="adapta-check-") as scratch:
        result_file = Path(scratch) / "result.json"
        order = {"request": asdict(request), "fix_dir": str(fix_dir) if fix_dir else None, "result": str(result_file),
                 "earlier": earlier.to_dict() if earlier is not None and fix_dir is not None else None}
        process = subprocess.Popen(module_command("jobs.trainers.data_check_process"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=environment_without_hub_tokens())
        messages: list[str] = []
        # the reader runs in a copy of this context, so a progress callback that reads context variables (a web request's) works
        reader = threading.Thread(target=contextvars.copy_context().run, args=(_read_progress, process, on_progress, messages), daemon=True)
        reader.start()
        assert process.stdin is not None
        process.stdin.write(json.dumps(order))
        process.stdin.close()
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AdaptaError(f"checking {Path(request.train).name} took more than {limit:.0f} seconds and was stopped; check a smaller "
                              f"sample here, or the whole file with `launch.py data-check FILE` (the operator may raise "
                              f"{DATA_CHECK_SECONDS_ENV})") from None
        reader.join(timeout=5)
        outcome = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
    if outcome is None:
        last = (messages or ["no message"])[-1][:300]
        raise AdaptaError(f"checking {Path(request.train).name} failed ({last})")
    if outcome.get("error"):
        raise AdaptaError(outcome["error"])
    fixed = outcome.get("fix")
    fix = FixResult(train=Path(fixed["train"]), validation=Path(fixed["validation"]) if fixed["validation"] else None,
                    removed=int(fixed["removed"]), masked=int(fixed["masked"]), summary=str(fixed["summary"])) if fixed else None
    return DataCheck.from_dict(outcome["check"]), fix, str(outcome.get("no_lengths") or "")


def _read_progress(process: subprocess.Popen, on_progress: Callable[[float, str], None] | None, messages: list[str]) -> None:
    """Hand each progress line of the check's process to ``on_progress``; keep its other lines (the last one explains a crash)."""
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith(PROGRESS_PREFIX):
            done, _, what = line[len(PROGRESS_PREFIX):].rstrip("\n").partition("\t")
            if on_progress is not None:
                try:
                    on_progress(float(done), what)
                except (ValueError, RuntimeError):
                    pass
        elif line.strip():
            messages.append(line.strip())



def run_check(request: CheckRequest, fix_dir: Path | None = None, on_progress: Callable[[float, str], None] | None = None,
              earlier: DataCheck | None = None) -> tuple[DataCheck, FixResult | None, str]:
    """The check itself (in the check's process): the tokenizer of ``request.model`` when one is named, then check and fix
    (``earlier`` given: only the fix, from that check). The third value says why there is no length check ("" when there is one)."""
    if earlier is not None and fix_dir is not None:
        return earlier, fix_data(earlier, Path(request.train), Path(request.validation) if request.validation else None, fix_dir), ""
    tokenizer, no_lengths = None, ""
    if not request.model:
        no_lengths = "no model is chosen, so token lengths were not checked"
    elif not request.max_length:
        no_lengths = "no max length is set, so token lengths were not checked"
    else:
        try:
            tokenizer = load_tokenizer(resolve_model(request.model))
        except AdaptaError as error:
            no_lengths = f"token lengths were not checked: {error}"
    fmt = None if request.format in ("", DataFormat.AUTO.value) else DataFormat(request.format)
    check = check_data(Path(request.train), Path(request.validation) if request.validation else None, fmt=fmt, task=Task(request.task),
                       mapping=request.mapping or None, tokenizer=tokenizer, max_length=request.max_length if tokenizer else None,
                       progress=on_progress)
    fixed = None
    if fix_dir is not None:
        fix_dir.mkdir(parents=True, exist_ok=True)
        fixed = fix_data(check, Path(request.train), Path(request.validation) if request.validation else None, fix_dir)
    return check, fixed, no_lengths


def _serve_one_order() -> None:
    """``python -m jobs.trainers.data_check_process``: read the order on stdin, write the result file it names."""
    order = json.loads(sys.stdin.read())
    result = Path(order["result"])

    def progress(done: float, what: str) -> None:
        print(f"{PROGRESS_PREFIX}{done:.4f}\t{' '.join(str(what).split())}", file=sys.stderr, flush=True)

    try:
        earlier = DataCheck.from_dict(order["earlier"]) if order.get("earlier") else None
        check, fixed, no_lengths = run_check(CheckRequest(**order["request"]), Path(order["fix_dir"]) if order.get("fix_dir") else None,
                                             progress, earlier)
    except AdaptaError as error:
        result.write_text(json.dumps({"error": str(error)}), encoding="utf-8")
        return
    fix = None
    if fixed is not None:
        fix = {"train": str(fixed.train), "validation": str(fixed.validation) if fixed.validation else None, "removed": fixed.removed,
               "masked": fixed.masked, "summary": fixed.summary}
    result.write_text(json.dumps({"check": check.to_dict(), "fix": fix, "no_lengths": no_lengths}, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    _serve_one_order()
    sys.stderr.flush()
    os._exit(0)  # the result is written: skip the interpreter's teardown of torch and transformers (seconds on a busy machine)

