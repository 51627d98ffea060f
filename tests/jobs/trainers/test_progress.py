"""The progress callback's metric writer: records leave the training loop at once, arrive in order, and none is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from jobs.metrics import MetricsSink, read_metrics_jsonl
from jobs.trainers.metric_writer import MetricWriter
from jobs.trainers.progress import ProgressCallback

ROOT = Path(__file__).resolve().parents[3]


class SlowSink(MetricsSink):
    """A JSONL-only sink whose every write takes ``delay`` seconds (a slow database commit)."""

    def __init__(self, path: Path, delay: float, fail_at: int | None = None):
        super().__init__(path)
        self.delay, self.fail_at = delay, fail_at
        self.threads: set[str] = set()

    def record(self, step: int, values: dict[str, float], total_steps: int | None = None) -> None:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if step == self.fail_at:
            raise RuntimeError("database is locked")
        super().record(step, values, total_steps)


def test_the_training_loop_does_not_wait_for_writes_and_every_record_arrives_in_order(tmp_path: Path) -> None:
    sink = SlowSink(tmp_path / "metrics.jsonl", delay=0.05)
    callback = ProgressCallback(sink)
    args, state, control = TrainingArguments(output_dir=str(tmp_path), report_to="none"), TrainerState(), TrainerControl()
    state.max_steps = 10
    callback.on_train_begin(args, state, control)
    writer_thread = callback.writer.thread
    for step in range(1, 11):
        state.global_step = step
        callback.on_step_end(args, state, control)
        callback.on_log(args, state, control, logs={"loss": 1.0 / step})
    written_when_the_loop_ended = len(read_metrics_jsonl(sink.jsonl_path)) if sink.jsonl_path.exists() else 0
    callback.on_train_end(args, state, control)
    assert written_when_the_loop_ended < 10  # ten writes of 50 ms each were still going on: the loop did not wait for them
    assert [row["step"] for row in read_metrics_jsonl(sink.jsonl_path)] == list(range(1, 11))
    assert sink.threads == {"adapta-metrics"}
    assert not writer_thread.is_alive()  # on_train_end wrote everything and stopped this run's writer


def test_a_failed_write_stops_the_run_at_the_next_step(tmp_path: Path) -> None:
    writer = MetricWriter(SlowSink(tmp_path / "metrics.jsonl", delay=0.0, fail_at=2))
    writer.submit(1, {"loss": 1.0}, 5)
    writer.submit(2, {"loss": 0.9}, 5)
    deadline = time.monotonic() + 10
    while writer.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(RuntimeError, match="database is locked"):
        writer.check()
    writer.submit(3, {"loss": 0.8}, 5)  # dropped: the run is failing
    writer.close()
    assert [row["step"] for row in read_metrics_jsonl(tmp_path / "metrics.jsonl")] == [1]


def test_records_submitted_before_a_crash_are_still_written(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from jobs.metrics import MetricsSink
        from jobs.trainers.metric_writer import MetricWriter

        class Slow(MetricsSink):
            def record(self, step, values, total_steps=None):
                time.sleep(0.1)
                super().record(step, values, total_steps)

        writer = MetricWriter(Slow(Path({str(tmp_path / "metrics.jsonl")!r})))
        for step in range(1, 6):
            writer.submit(step, {{"loss": 1.0}}, 5)
        raise SystemExit("training crashed")
    """)
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 1 and "training crashed" in completed.stderr
    assert [row["step"] for row in read_metrics_jsonl(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5]
