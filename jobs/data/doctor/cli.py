"""``launch.py data-check``: check a data file from the command line, print the findings, optionally write the fix.

    python launch.py data-check train.jsonl [--validation valid.jsonl] [--model M] [--max-length N] [--json] [--fix]

Human output: one block per finding with its count, three examples by row number and what ``--fix`` does; ``--json``
prints :meth:`DataCheck.to_dict`. A progress bar goes to stderr. Exit status: 0 nothing found, 1 findings, 2 training
is blocked (secrets) or the input is unusable. ``launch.py`` loads the model's tokenizer (``--model``) and passes it in.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from jobs.data.doctor.check import check_data
from jobs.data.doctor.findings import KIND_NAMES, DataCheck, Finding
from jobs.data.doctor.fix import fix_data
from jobs.spec import DataFormat, Task

SEVERITY_WORDS = {"block": "BLOCKS TRAINING", "fix": "fixable", "warn": "warning", "info": "note"}


def _rows_text(finding: Finding) -> str:
    shown = ", ".join(str(row) for row in finding.rows[:20])
    more = f" … and {finding.count - 20:,} more" if finding.count > 20 else ""
    unit = "item" if finding.examples and finding.examples[0].startswith("item ") else "row"
    return f"{unit}{'s' if finding.count != 1 else ''} {shown}{more}"


def human_report(check: DataCheck, source: str) -> str:
    """The findings as people read them: a headline, then per finding its count, rows, examples and what the fix does."""
    lines = [f"{source}: {check.summary()} ({check.format or 'data'}, checked in {check.seconds:.1f} s)"]
    for finding in check.findings:
        single, plural = KIND_NAMES.get(finding.kind, (finding.kind, finding.kind))
        where = " in the validation file" if finding.file == "validation" else ""
        lines.append(f"\n[{SEVERITY_WORDS[finding.severity]}] {finding.count:,} {single if finding.count == 1 else plural}{where}: "
                     f"{_rows_text(finding)}")
        if finding.detail:
            lines.append(f"  {finding.detail}")
        lines += [f"  {example}" for example in finding.examples]
        lines.append(f"  --fix: {finding.action}")
    if check.lengths is not None:
        lengths = check.lengths
        lines.append(f"\ntoken lengths: longest {lengths.longest}, max length {lengths.max_length} cuts "
                     f"{len(lengths.cut_in_prompt)} row(s) in the prompt and {len(lengths.cut_in_answer)} in the answer; "
                     f"a max length of {lengths.keeps_95_percent} keeps 95 % whole")
    if check.labels:
        lines.append("labels: " + ", ".join(f"{label} {count:,}" for label, count in check.labels.items()))
    if check.languages:
        lines.append("languages: " + ", ".join(f"{language} {count:,}" for language, count in list(check.languages.items())[:8]))
    if check.blocks_training():
        lines.append("\ntraining is refused until the secrets are removed: run again with --fix, or edit the file")
    return "\n".join(lines)


def exit_status(check: DataCheck) -> int:
    """0 nothing found, 1 findings, 2 training is blocked."""
    return 2 if check.blocks_training() else 1 if check.findings else 0


def run_data_check(train: Path, validation: Path | None = None, *, tokenizer: Any = None, max_length: int | None = None,
                   as_json: bool = False, fix: bool = False, out_dir: Path | None = None, fmt: DataFormat | None = None,
                   task: Task = Task.CAUSAL_LM, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Check ``train`` (and ``validation``), print the findings, write the fix with ``fix``; returns the exit status."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if max_length is not None and tokenizer is None:
        print("note: --max-length is checked only with --model (the lengths are counted in that model's tokens)", file=stderr)
    with tqdm(total=100, desc="checking", unit="%", file=stderr, leave=False,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}") as bar:
        def progress(fraction: float, stage: str) -> None:
            bar.set_description_str(stage, refresh=False)
            bar.update(max(round(fraction * 100) - bar.n, 0))

        check = check_data(Path(train), validation, fmt=fmt, task=task, tokenizer=tokenizer, max_length=max_length,
                           progress=progress)
    payload = check.to_dict()
    if fix:
        result = fix_data(check, Path(train), validation, out_dir or Path(train).parent)
        payload["fix"] = {"train": str(result.train), "validation": str(result.validation) if result.validation else None,
                          "removed": result.removed, "masked": result.masked, "summary": result.summary}
    if as_json:
        print(json.dumps(payload, indent=2, ensure_ascii=False), file=stdout)
    else:
        print(human_report(check, Path(train).name), file=stdout)
        if fix:
            print(f"\nfix: {payload['fix']['summary']}", file=stdout)
    return exit_status(check)
