"""Fixtures for the web UI tests: the app served on a free loopback port, a real worker, tiny data files, and one Chromium.

The app runs in this process (a background thread), so the per-test data home of ``tests/conftest.py``
applies to it too: each test sees only its own jobs and uploads. Uploads are limited to 1 MB here so
that the oversized-upload test stays small. The app, the worker and Chromium (Debian's /usr/bin/chromium driven by
Playwright) start once per session; each browser test gets a fresh browser context (cookies, storage, viewport) of its own.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.finished_jobs import write_planet_questions

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (/usr/bin/chromium); run `make install-dev`")
"""The skip mark of every browser test: skipped, with the reason, only when /usr/bin/chromium is missing (``make test`` installs it)."""


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
def browser() -> Iterator[object]:
    """Chromium, started once for every browser test of the session (each test opens a context of its own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A page in a fresh browser context (no cookies or storage from another test), 1280x1000."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def worker() -> Iterator[object]:
    """A real worker thread (training still runs in child processes), fast heartbeats for tests; one per test, stopped after it,
    so it never runs the jobs of a later test's data home (the worker reads the data home current when it polls)."""
    from jobs.queue.worker import WorkerConfig, start_background_worker

    running = start_background_worker(WorkerConfig(heartbeat_seconds=1, lease_seconds=10, poll_seconds=0.2, cancel_grace_seconds=2))
    yield running
    running.stop()
    for thread in threading.enumerate():
        if thread.name == "adapta-worker":
            thread.join(timeout=30)


@pytest.fixture
def qa_jsonl(tmp_path: Path) -> Path:
    """A small instruction dataset (question / answer): six planets and their colours."""
    return write_planet_questions(tmp_path / "planets.jsonl")


def tiny_spec_yaml(model: Path, data: Path, steps: int = 4) -> str:
    return (f"task: causal-lm\nbase_model: {model}\nmethod: lora\ndata:\n  train: {data}\n"
            f"training: {{max_steps: {steps}, batch_size: 2, learning_rate: 0.02, warmup_ratio: 0.0, max_length: 64}}\n"
            "lora: {target_modules: all-linear}\n")
