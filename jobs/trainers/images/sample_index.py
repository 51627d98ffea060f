"""The index of a run's sample images (``runs/<job>/samples/index.jsonl``), readable without torch (UI, Hub push).

    read_sample_index(run_dir)   # [{"step": 2, "prompt": "...", "seed": 7, "file": "step-000002-00.png", "path": "..."}]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES = "samples"


def read_sample_index(run_dir: Path) -> list[dict[str, Any]]:
    """The samples of a run, oldest first: {step, prompt, seed, file, path}; a torn last line is skipped (for the UI gallery)."""
    index = run_dir / SAMPLES / "index.jsonl"
    rows: list[dict[str, Any]] = []
    if not index.is_file():
        return rows
    for line in index.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (run_dir / SAMPLES / row.get("file", "")).is_file():
            rows.append({**row, "path": str(run_dir / SAMPLES / row["file"])})
    return rows
