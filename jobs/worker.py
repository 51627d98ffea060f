"""The worker: claims jobs from the queue and runs each in a supervised child process.

    python launch.py worker                 one worker (CPU or the visible GPUs)
    python launch.py worker --gpus 0,1      one worker process per GPU (CUDA_VISIBLE_DEVICES)

For each claimed job the worker starts ``[sys.executable, "-m", "jobs.child", ...]`` (or
``accelerate launch`` for a multi-process job) in its own process group, with output to
``runs/<job>/train.log``. While it runs, the worker renews the lease every ``heartbeat_seconds``,
watches for a cancel request (SIGTERM to the whole group, SIGKILL after ``cancel_grace_seconds``)
and stops the child if its lease was lost. When the child exits, the outcome is recorded, fenced by
(job, worker, attempt). Before each claim it reaps jobs whose lease expired (their worker died).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from jobs.child import ERROR_FILE, EXIT_OK, OOM_MESSAGE
from jobs.hub_tokens import child_hub_environment, forget_job_token
from jobs.queue import ClaimedJob, cancel_requested, claim_next_job, finish_job, reap_expired_leases, reconcile_worker, renew_lease, requeue_job
from jobs.spec import Strategy
from storage.tables import JobStatus

LOG_FILE = "train.log"
LOG_TAIL_LINES = 40
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class WorkerConfig:
    """How a worker identifies itself and paces its supervision."""

    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    heartbeat_seconds: float = 10.0
    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    cancel_grace_seconds: float = 10.0
    cuda_visible_devices: str | None = None


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file (empty when there is none)."""
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64_000))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def child_command(claimed: ClaimedJob) -> list[str]:
    """The argv of the training child: plain Python, or ``accelerate launch`` for several processes."""
    child_args = ["-m", "jobs.child", "--job-id", str(claimed.id), "--attempt", str(claimed.attempt), "--worker-id", claimed.worker_id]
    resources = claimed.spec.resources
    processes = max(resources.gpus, resources.processes)
    if processes <= 1:
        return [sys.executable, *child_args]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes), "--num_machines", "1"]
    if resources.gpus == 0:
        launch.append("--cpu")
    elif resources.strategy is Strategy.FSDP:
        launch.append("--use_fsdp")
    elif resources.strategy is Strategy.DEEPSPEED:
        launch.append("--use_deepspeed")
    else:
        launch.append("--multi_gpu")
    return [*launch, *child_args]


def explain_exit(returncode: int, run_dir: Path) -> str:
    """One sentence for how the child ended, preferring the sentence the child wrote itself."""
    error_file = run_dir / ERROR_FILE
    if error_file.is_file():
        message = error_file.read_text(encoding="utf-8").strip()
        if message:
            return message
    if returncode == -signal.SIGKILL:
        return "the training process was killed by the system, most likely for running out of memory; " + OOM_MESSAGE.split("; ", 1)[1]
    if returncode < 0:
        return f"the training process died from signal {signal.Signals(-returncode).name}; see the log tail"
    return f"the training process exited with code {returncode}; see the log tail"


class Worker:
    """Claims and runs jobs one at a time until stopped."""

    def __init__(self, config: WorkerConfig | None = None):
        self.config = config or WorkerConfig()
        self.stopping = threading.Event()
        self.current: subprocess.Popen | None = None

    def stop(self) -> None:
        """Ask the worker to stop after (or by interrupting) the current job."""
        self.stopping.set()

    def run_forever(self) -> None:
        """Reconcile jobs left running under this worker id, then claim and run until stopped."""
        reconcile_worker(self.config.worker_id)
        while not self.stopping.is_set():
            try:
                ran = self.run_once()
            except Exception:  # noqa: BLE001 - a transient database or disk error must not end the worker
                traceback.print_exc()
                ran = False
            if not ran:
                self.stopping.wait(self.config.poll_seconds)

    def run_once(self) -> bool:
        """Reap expired leases, claim one job and run it; False when the queue was empty."""
        reap_expired_leases()
        claimed = claim_next_job(self.config.worker_id, self.config.lease_seconds)
        if claimed is None:
            return False
        self._run(claimed)
        return True

    def _spawn(self, claimed: ClaimedJob) -> subprocess.Popen:
        claimed.run_dir.mkdir(parents=True, exist_ok=True)
        (claimed.run_dir / "STOP").unlink(missing_ok=True)
        env = {**child_hub_environment(os.environ, claimed.id), "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
        if self.config.cuda_visible_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.config.cuda_visible_devices
        log = (claimed.run_dir / LOG_FILE).open("ab")
        log.write(f"\n=== attempt {claimed.attempt} on worker {claimed.worker_id} ===\n".encode())
        log.flush()
        try:
            return subprocess.Popen(
                child_command(claimed), cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        finally:
            log.close()

    def _stop_child(self, process: subprocess.Popen) -> None:
        """SIGTERM the child's whole process group, then SIGKILL it after the grace period."""
        for sig, wait in ((signal.SIGTERM, self.config.cancel_grace_seconds), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # stragglers left in the group (e.g. accelerate's ranks) after the leader exited
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _run(self, claimed: ClaimedJob) -> None:
        process = self._spawn(claimed)
        self.current = process
        next_heartbeat = time.monotonic() + self.config.heartbeat_seconds
        outcome: tuple[JobStatus, str | None] | None = None
        while process.poll() is None:
            time.sleep(min(0.2, self.config.poll_seconds))
            if self.stopping.is_set():
                self._stop_child(process)
                requeue_job(claimed.id, claimed.worker_id, claimed.attempt, "its worker was stopped; requeued to resume from the last checkpoint")
                return
            if time.monotonic() >= next_heartbeat:
                next_heartbeat = time.monotonic() + self.config.heartbeat_seconds
                if not renew_lease(claimed.id, claimed.worker_id, claimed.attempt, self.config.lease_seconds):
                    self._stop_child(process)  # the job was reclaimed: this attempt must not write anything more
                    return
                if cancel_requested(claimed.id):
                    self._stop_child(process)
                    outcome = (JobStatus.CANCELLED, "cancelled while running")
                    break
        self.current = None
        tail = log_tail(claimed.run_dir / LOG_FILE)
        if outcome is None:
            returncode = process.returncode
            outcome = (JobStatus.SUCCEEDED, None) if returncode == EXIT_OK else (JobStatus.FAILED, explain_exit(returncode, claimed.run_dir))
        finish_job(claimed.id, claimed.worker_id, claimed.attempt, outcome[0], error=outcome[1], log_tail=tail)
        forget_job_token(claimed.id)


def run_worker(config: WorkerConfig | None = None) -> None:
    """Run one worker in this process until SIGTERM or Ctrl-C."""
    worker = Worker(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    worker.run_forever()


def run_gpu_workers(gpus: list[str], base: WorkerConfig) -> int:
    """One worker process per GPU id, each seeing only its GPU; waits for all and forwards SIGTERM."""
    processes = []
    for gpu in gpus:
        argv = [sys.executable, str(PROJECT_ROOT / "launch.py"), "worker", "--worker-id", f"{base.worker_id}:gpu{gpu}",
                "--heartbeat", str(base.heartbeat_seconds), "--lease", str(base.lease_seconds)]
        processes.append(subprocess.Popen(argv, env={**os.environ, "CUDA_VISIBLE_DEVICES": gpu}))

    def forward(signum: int, _frame: object) -> None:
        for process in processes:
            process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [process.wait() for process in processes]
    stopped = (0, -signal.SIGTERM, -signal.SIGINT)  # a worker stopped by the signal we forwarded (even before its handler was set)
    return 0 if all(code in stopped for code in codes) else max((code for code in codes if code not in stopped), key=abs)


def start_background_worker(config: WorkerConfig | None = None) -> Worker:
    """The embedded worker of ``python launch.py``: a supervising thread (training still runs in a child process)."""
    worker = Worker(config)
    thread = threading.Thread(target=worker.run_forever, name="adapta-worker", daemon=True)
    thread.start()
    return worker
