"""Shared harness of the training benchmarks: run a training in a child process and measure it.

Used by ``bench/train_overhead.py`` and the other ``*_overhead.py`` / demo benchmarks: an offline, quiet environment
with its own data home (:func:`configure_environment`), the packaged SmolLM2 as a safetensors folder
(:func:`prepare_model`), a child process's wall time, kernel peak RSS and CPU time (:func:`run_child`), steps per
second and per CPU-second between two logged steps (:func:`measured_rates`), ``launch.py train`` on a spec
(:func:`launch_adapta`) and the JSON results file (:func:`write_results`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PLANETS = ROOT / "examples" / "data" / "planets.jsonl"
MIB = 1024 * 1024


# --------------------------------------------------------------------------- setup


def configure_environment(home: Path, threads: int) -> dict[str, str]:
    """Offline, quiet, single data home; returns the environment for child processes (and sets it here)."""
    settings = {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "ADAPTA_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    if threads > 0:
        settings.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    os.environ.update(settings)
    os.environ.pop("ADAPTA_DB_URL", None)  # the bench's job rows go to the bench home's own database
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return dict(os.environ)


def prepare_model() -> str:
    """The packaged SmolLM2-135M-Instruct as a safetensors folder (converted from GGUF once, then reused)."""
    from jobs.models import packaged_model, resolve_model

    ref = packaged_model("smollm2")
    if ref is None:
        raise SystemExit("the packaged SmolLM2 model is not installed; run `make install` first")
    return str(resolve_model(ref).path)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- measuring a child process


def run_child(command: list[str], env: dict[str, str], log_path: Path) -> dict[str, Any]:
    """Run ``command`` to completion; wall time, exit code, kernel peak RSS and polled peak RSS of its tree, and
    ``cpu_samples``: (wall clock, CPU seconds of the whole tree) every 0.1 s, so that :func:`cpu_step_rate` can tell how much
    CPU the measured steps took (a figure a busy machine does not distort the way it distorts wall time)."""
    import psutil

    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        watched = psutil.Process(process.pid)
        polled_peak = 0
        cpu_samples: list[tuple[float, float]] = []
        finished_children = 0.0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            try:
                tree = [watched, *watched.children(recursive=True)]
                polled_peak = max(polled_peak, sum(member.memory_info().rss for member in tree))
                times = watched.cpu_times()
                finished_children = max(finished_children, times.children_user + times.children_system)
                used = times.user + times.system + finished_children + sum(
                    sum(member.cpu_times()[:2]) for member in tree[1:])
                cpu_samples.append((time.time(), used))
            except psutil.Error:
                pass
            time.sleep(0.1)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
    max_rss = int(usage.ru_maxrss) if sys.platform == "darwin" else int(usage.ru_maxrss) * 1024
    return {
        "returncode": process.returncode,
        "wall_seconds": time.perf_counter() - started,
        "max_rss_bytes": max_rss,
        "polled_peak_rss_bytes": polled_peak,
        "cpu_samples": cpu_samples,
        "log": str(log_path),
    }


def step_rate(log_times: list[tuple[int, float]], warmup: int, steps: int) -> tuple[float, float]:
    """(steps/s, seconds) between the logs of step ``warmup`` and step ``warmup + steps``."""
    first_seen: dict[int, float] = {}
    for step, moment in log_times:
        first_seen.setdefault(int(step), float(moment))
    start, end = warmup, warmup + steps
    if start not in first_seen or end not in first_seen:
        raise RuntimeError(f"steps {start} and {end} were not both logged (logged: {sorted(first_seen)})")
    seconds = first_seen[end] - first_seen[start]
    return steps / seconds, seconds


def cpu_step_rate(log_times: list[tuple[int, float]], cpu_samples: list[tuple[float, float]], warmup: int, steps: int) -> float:
    """Steps per CPU-second between the logs of step ``warmup`` and step ``warmup + steps``: the child's CPU time at those two
    wall-clock moments, interpolated from ``cpu_samples`` (see :func:`run_child`). With one torch thread this is the speed the
    run would have on an idle core, whatever else the machine was doing."""
    first_seen: dict[int, float] = {}
    for step, moment in log_times:
        first_seen.setdefault(int(step), float(moment))

    def cpu_at(moment: float) -> float:
        before = [sample for sample in cpu_samples if sample[0] <= moment]
        after = [sample for sample in cpu_samples if sample[0] >= moment]
        if not before or not after:
            raise RuntimeError("the CPU time was not sampled around the measured steps")
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (moment - t0) / (t1 - t0)

    used = cpu_at(first_seen[warmup + steps]) - cpu_at(first_seen[warmup])
    return steps / used if used > 0 else float("nan")


def measured_rates(log_times: list[tuple[int, float]], child: dict[str, Any], config: dict[str, Any]) -> dict[str, float]:
    """Wall-clock steps/s, the measured seconds and steps per CPU-second of one run (``config``: its warmup and steps)."""
    rate, seconds = step_rate(log_times, config["warmup"], config["steps"])
    return {"steps_per_second": rate, "measured_seconds": seconds,
            "steps_per_cpu_second": cpu_step_rate(log_times, child.pop("cpu_samples", []), config["warmup"], config["steps"])}


def launch_adapta(spec: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """``launch.py train`` on ``spec`` (a mapping) in its own process: (run folder, the child's measurements, the metric rows
    that carry a loss). Raises with the log's tail when the run fails."""
    import yaml

    run_dir = work / f"adapta-{tag}"
    spec_path = work / f"adapta-{tag}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    child = run_child([sys.executable, "launch.py", "train", str(spec_path), "--output", str(run_dir)], env, work / f"adapta-{tag}.log")
    if child["returncode"] != 0:
        raise RuntimeError(f"Adapta run failed (exit {child['returncode']}):\n{_tail(child['log'])}")
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return run_dir, child, [line for line in lines if "loss" in line]


def write_results(path: Path, report: dict[str, Any]) -> None:
    """Add the load average to ``report`` and write it as JSON to ``path`` (folders created), then say where."""
    report["load_average"] = list(os.getloadavg())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"results in {path}")


def _tail(path: str, lines: int = 25) -> str:
    return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
