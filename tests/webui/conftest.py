"""Fixtures for the web UI tests: the app served on a free loopback port, a real worker, tiny data files.

The app runs in this process (a background thread), so the per-test data home of ``tests/conftest.py``
applies to it too: each test sees only its own jobs and uploads. Uploads are limited to 1 MB here so
that the oversized-upload test stays small.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """The Adapta app served on 127.0.0.1:<free port> for the whole session."""
    os.environ["ADAPTA_MAX_UPLOAD_MB"] = "1"
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from webui.app import build_app, launch_app

    demo = build_app()
    port = free_port()
    launch_app(demo, port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="session")
def worker() -> Iterator[object]:
    """A real worker thread (training still runs in child processes), fast heartbeats for tests."""
    from jobs.queue.worker import WorkerConfig, start_background_worker

    running = start_background_worker(WorkerConfig(heartbeat_seconds=1, lease_seconds=10, poll_seconds=0.2, cancel_grace_seconds=2))
    yield running
    running.stop()


@pytest.fixture
def qa_jsonl(tmp_path: Path) -> Path:
    """A small instruction dataset (question / answer)."""
    rows = [{"question": f"What colour is planet {name}?", "answer": f"Planet {name} is {colour}."}
            for name, colour in [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson"), ("Tam", "golden"), ("Vey", "silver")]]
    path = tmp_path / "planets.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def tiny_spec_yaml(model: Path, data: Path, steps: int = 4) -> str:
    return (f"task: causal-lm\nbase_model: {model}\nmethod: lora\ndata:\n  train: {data}\n"
            f"training: {{max_steps: {steps}, batch_size: 2, learning_rate: 0.02, warmup_ratio: 0.0, max_length: 64}}\n"
            "lora: {target_modules: all-linear}\n")
