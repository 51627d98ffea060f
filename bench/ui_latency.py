"""UI latency while a training job runs: p50/p95 of /list_jobs and /job_status, and navigation -> interactive page.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/ui_latency.py [--calls 100]

Builds a tiny Llama (tests/tiny.py) in a temporary data home, starts the app on a free loopback port with an
embedded worker, submits a long LoRA job on it, waits until it is training, then measures with
``gradio_client`` (sequential calls) and Playwright with Debian's /usr/bin/chromium (page.goto until the Jobs
tab is clickable and the job table shows the job). Prints a markdown table. Goals: p95 <= 150 ms, page <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(percent / 100 * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--page-loads", type=int, default=5)
    args = parser.parse_args()
    for key, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("GRADIO_ANALYTICS_ENABLED", "False")):
        os.environ.setdefault(key, value)
    work = Path(tempfile.mkdtemp(prefix="adapta-bench-ui-"))
    os.environ["ADAPTA_HOME"] = str(work / "home")

    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    from jobs.metrics import metric_series
    from jobs.queue import request_cancel, submit_job
    from jobs.queue.worker import WorkerConfig, start_background_worker
    from tests.tiny import build_tiny_llama
    from webui.app import build_app, launch_app

    model = build_tiny_llama(work / "tiny-llama")
    data = work / "train.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) + "\n" for i in range(64)), encoding="utf-8")
    worker = start_background_worker(WorkerConfig(heartbeat_seconds=2, lease_seconds=20, poll_seconds=0.5))
    job_id = submit_job({"base_model": str(model), "data": {"train": str(data)}, "training": {"max_steps": 1_000_000, "batch_size": 4, "max_length": 64}})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = build_app()
    launch_app(demo, port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while not metric_series(job_id, "loss") and time.monotonic() < deadline:
        time.sleep(0.5)
    if not metric_series(job_id, "loss"):
        print("the training job did not start within 3 minutes", file=sys.stderr)
        return 1

    client = Client(url, verbose=False)
    results: dict[str, list[float]] = {"/list_jobs": [], "/job_status": []}
    for _ in range(args.calls):
        for name, call_args in (("/list_jobs", ()), ("/job_status", (job_id,))):
            start = time.perf_counter()
            client.predict(*call_args, api_name=name)
            results[name].append((time.perf_counter() - start) * 1000)

    page_times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
        for _ in range(args.page_loads):
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(url)
            page.get_by_role("tab", name="4 · Jobs").click()
            page.locator("#jobs-table").filter(has_text="running").first.wait_for(timeout=30_000)
            page_times.append((time.perf_counter() - start) * 1000)
            page.close()
        browser.close()
    steps = len(metric_series(job_id, "loss"))
    request_cancel(job_id)
    time.sleep(3)
    worker.stop()
    demo.close()

    print(f"\nUI latency with a LoRA job training on this machine ({os.cpu_count()} CPUs; job reached {steps} logged steps)\n")
    print("| measurement | n | p50 (ms) | p95 (ms) | goal |")
    print("|---|---|---|---|---|")
    for name, values in results.items():
        print(f"| `{name}` via gradio_client | {len(values)} | {statistics.median(values):.0f} | {percentile(values, 95):.0f} | p95 ≤ 150 ms |")
    print(f"| navigation → interactive Jobs table (Chromium) | {len(page_times)} | {statistics.median(page_times):.0f} | "
          f"{percentile(page_times, 95):.0f} | ≤ 2000 ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
