"""The worker: claims jobs from the queue and runs each in a supervised child process.

    python launch.py worker                 one worker (CPU or the visible GPUs)
    python launch.py worker --gpus 0,1      one worker process per GPU (CUDA_VISIBLE_DEVICES)

For each claimed job the worker starts ``[sys.executable, "-m", "jobs.queue.child", ...]`` (``jobs.queue.child launch``,
which runs ``accelerate launch`` in-process, for a multi-process job) as the leader of a new process group that
every process of the job stays in, with output to ``runs/<job>/train.log``. While it runs, the worker renews the
lease every ``heartbeat_seconds``, watches for a cancel request (SIGTERM to the whole group, SIGKILL after
``cancel_grace_seconds``) and kills the group if its lease was lost. When supervision itself fails (the database
unreachable, locked, or a call that does not come back), a watchdog thread that never touches the database
(:mod:`jobs.queue.lease_watchdog`) SIGKILLs the group just before the lease would lapse; the worker then gives the job
back (requeued while attempts remain), so no attempt outlives its lease. Every process of a job dies with its parent
(armed before the child imports anything), and before an attempt starts (or a reaped job is handed on) a group left on
this host by an earlier attempt is killed. When the
child exits, the outcome is recorded, fenced by (job, worker, attempt). A worker claims only jobs whose
``resources`` it can serve (GPUs it sees, CPU cores it has).
"""

from __future__ import annotations

import glob
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jobs.hub.tokens import child_hub_environment, forget_job_token
from jobs.queue.child_contract import (
    ERROR_FILE,
    EXIT_BUSY,
    EXIT_DATABASE,
    EXIT_FENCED,
    EXIT_OK,
    LAUNCH_COMMAND,
    LOCK_HELD_ENV,
    OOM_MESSAGE,
    PARENT_PID_ENV,
    die_with_parent,
    dies_with_this_process,
    job_attempt_of,
)
from jobs.queue.lease_watchdog import LeaseWatchdog, lease_margin
from jobs.queue.leases import (
    ClaimedJob,
    cancel_requested,
    claim_next_job,
    finish_job,
    reap_expired_leases,
    reconcile_worker,
    renew_lease,
    requeue_job,
)
from jobs.queue.submit import get_job
from jobs.queue.sweep import advance_sweeps
from jobs.spec import Strategy
from jobs.trainers.accelerators import fsdp_launch_arguments
from storage.db import DEFAULT_LEASE_SECONDS
from storage.tables import JobStatus

LOG_FILE = "train.log"
GROUP_FILE = "attempt.pgid"
LOG_TAIL_LINES = 40
PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()


def visible_gpu_count() -> int:
    """GPUs this process may use: the ids in ``CUDA_VISIBLE_DEVICES`` when set, else the NVIDIA devices the driver lists."""
    devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    if devices is not None:
        return len([device for device in devices.split(",") if device.strip() and device.strip() != "-1"])
    return len(glob.glob("/proc/driver/nvidia/gpus/*"))


@dataclass
class WorkerConfig:
    """How a worker identifies itself, what it can serve and how it paces its supervision."""

    worker_id: str = field(default_factory=lambda: f"{HOST}:{os.getpid()}")
    heartbeat_seconds: float = 10.0
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    poll_seconds: float = 0.5
    cancel_grace_seconds: float = 10.0
    shutdown_grace_seconds: float = 3.0
    """SIGTERM to SIGKILL when the worker itself is stopping (it must be gone within 10 s of its own SIGTERM)."""
    cuda_visible_devices: str | None = None
    gpus: int | None = field(default_factory=visible_gpu_count)
    """GPUs it serves (None: claim any job); a job asking for more waits for another worker."""
    cpus: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))


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
    """The argv of the training child: plain Python, or ``jobs.queue.child launch`` (accelerate, in-process) for several processes."""
    child_args = ["-m", "jobs.queue.child", "--job-id", str(claimed.id), "--attempt", str(claimed.attempt), "--worker-id", claimed.worker_id]
    resources = claimed.spec.resources
    processes = max(resources.gpus, resources.processes)
    if processes <= 1:
        return [sys.executable, *child_args]
    launch = [sys.executable, "-m", "jobs.queue.child", LAUNCH_COMMAND, "--num_processes", str(processes), "--num_machines", "1"]
    if resources.gpus == 0:  # `--cpu` would start a single process; torch's launcher starts the ranks, on the CPU (no GPU is visible)
        launch.append("--multi_gpu")
    elif resources.strategy is Strategy.FSDP:
        launch.extend(fsdp_launch_arguments())
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
    if returncode == EXIT_FENCED:
        return "this attempt lost its lease before it started; another attempt runs the job"
    return f"the training process exited with code {returncode}; see the log tail"


def _proc_text(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def job_processes(job_id: int, group: int | None = None) -> list[int]:
    """Live processes of a job on this host (any attempt, launcher and ranks), found by command line; only one group's if given."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _proc_text(pid, "stat")
        fields = stat.rsplit(")", 1)[-1].split()
        if not fields or fields[0] == "Z" or job_attempt_of(_proc_text(pid, "cmdline"), job_id) is None:
            continue
        if group is None or int(fields[2]) == group:
            found.append(pid)
    return found


def kill_group(group: int, job_id: int, wait_seconds: float = 5.0) -> bool:
    """SIGKILL a job's process group (only if it still holds processes of that job) and wait until they are gone."""
    if not job_processes(job_id, group):
        return False
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + wait_seconds
    while job_processes(job_id, group) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def kill_leftover_attempt(job_id: int, run_dir: Path, before_attempt: int) -> bool:
    """Kill the process group an attempt before ``before_attempt`` left on this host (recorded in ``runs/<job>/attempt.pgid``)."""
    try:
        host, group, attempt = (run_dir / GROUP_FILE).read_text(encoding="utf-8").split()[:3]
    except (OSError, ValueError):
        return False
    return host == HOST and group.isdigit() and attempt.isdigit() and int(attempt) < before_attempt and kill_group(int(group), job_id)


class SupervisionLost(RuntimeError):
    """No lease renewal succeeded until just before the lease lapsed: the watchdog stopped the attempt's processes."""


def requeue_reason(returncode: int, attempt: int, max_attempts: int) -> str | None:
    """Why a failed attempt is requeued rather than failed (killed from outside, the database lost, the run folder still
    locked by an earlier attempt), while attempts remain; None when its failure is the job's own."""
    if attempt >= max_attempts:
        return None
    if returncode < 0:
        cause = f"was killed by {signal.Signals(-returncode).name}"
    elif returncode == EXIT_DATABASE:
        cause = "lost the database"
    elif returncode == EXIT_BUSY:
        cause = "found the run folder still locked by an earlier attempt"
    else:
        return None
    return f"its training process {cause} on attempt {attempt}; requeued to resume from the last checkpoint"


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
        while not self.stopping.is_set():
            try:
                reconcile_worker(self.config.worker_id)
                break
            except Exception:  # noqa: BLE001 - the database may not be up yet
                traceback.print_exc()
                self.stopping.wait(max(self.config.poll_seconds, 1.0))
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
        for job_id, _status in reap_expired_leases():
            job = get_job(job_id)
            if job.run_dir and job.status is not JobStatus.RUNNING:  # once claimed again, the new attempt's worker does it
                kill_leftover_attempt(job_id, Path(job.run_dir), before_attempt=job.attempt + 1)
        advance_sweeps()  # an Optuna sweep's next trials, once earlier ones finished (jobs.queue.sweep)
        leased_at = time.monotonic()  # the claim's lease runs from a moment after this one
        claimed = claim_next_job(self.config.worker_id, self.config.lease_seconds, gpus=self.config.gpus, cpus=self.config.cpus)
        if claimed is None:
            return False
        self._run(claimed, leased_at)
        return True

    def _spawn(self, claimed: ClaimedJob) -> subprocess.Popen:
        claimed.run_dir.mkdir(parents=True, exist_ok=True)
        kill_leftover_attempt(claimed.id, claimed.run_dir, before_attempt=claimed.attempt)
        (claimed.run_dir / "STOP").unlink(missing_ok=True)
        env = {**child_hub_environment(os.environ, claimed.id), "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
               PARENT_PID_ENV: str(os.getpid())}
        env.pop(LOCK_HELD_ENV, None)
        if self.config.cuda_visible_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.config.cuda_visible_devices
        if claimed.spec.resources.gpus == 0 and claimed.spec.resources.processes > 1:
            env["CUDA_VISIBLE_DEVICES"] = ""  # CPU ranks (gloo), even on a machine with GPUs
        log = (claimed.run_dir / LOG_FILE).open("ab")
        log.write(f"\n=== attempt {claimed.attempt} on worker {claimed.worker_id} ===\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                child_command(claimed), cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=dies_with_this_process(),  # armed before the child's imports, which take seconds
            )
        finally:
            log.close()
        (claimed.run_dir / GROUP_FILE).write_text(f"{HOST} {process.pid} {claimed.attempt}\n", encoding="utf-8")
        return process

    def _stop_child(self, process: subprocess.Popen, grace_seconds: float) -> None:
        """SIGTERM the child's whole process group, SIGKILL it after the grace period, and reap the leader."""
        for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 10.0)):
            if grace_seconds <= 0 and sig == signal.SIGTERM:
                continue
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # stragglers left in the group (e.g. ranks) after the leader exited
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def _give_back(self, claimed: ClaimedJob, reason: str) -> None:
        """Requeue the job (failed once its attempts are used up); if the database refuses, its lease lapses and a reaper does it."""
        try:
            requeue_job(claimed.id, claimed.worker_id, claimed.attempt, reason, fail_without_attempts_left=True)
        except Exception:  # noqa: BLE001 - the job is safe either way: its processes are gone
            traceback.print_exc()

    @staticmethod
    def _kill_attempt(process: subprocess.Popen) -> None:
        """SIGKILL the attempt's whole process group at once (the watchdog's action: no grace, the lease is about to lapse)."""
        if process.returncode is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _supervise(self, claimed: ClaimedJob, process: subprocess.Popen, leased_at: float) -> tuple[JobStatus, str | None] | None:
        """Watch the child until it exits; the outcome, or None when the attempt ended otherwise (stopped, lease lost).

        Raises :class:`SupervisionLost` when the watchdog stopped the attempt because no renewal succeeded in time."""
        config = self.config
        margin = lease_margin(config.lease_seconds, config.heartbeat_seconds)
        watchdog = LeaseWatchdog(lambda: self._kill_attempt(process), config.lease_seconds, margin, renewed_at=leased_at).start()
        next_check = leased_at + config.heartbeat_seconds
        last_error: Exception | None = None
        try:
            while process.poll() is None:
                time.sleep(min(0.2, config.poll_seconds))
                if self.stopping.is_set():
                    self._stop_child(process, min(config.cancel_grace_seconds, config.shutdown_grace_seconds))
                    self._give_back(claimed, "its worker was stopped; requeued to resume from the last checkpoint")
                    return None
                if time.monotonic() < next_check:
                    continue
                try:
                    call_started = time.monotonic()
                    if not renew_lease(claimed.id, claimed.worker_id, claimed.attempt, config.lease_seconds):
                        self._stop_child(process, 0)  # the job was reclaimed: this attempt must not write anything more
                        return None
                    watchdog.renewed(call_started)
                    last_error = None
                    if cancel_requested(claimed.id):
                        self._stop_child(process, config.cancel_grace_seconds)
                        return (JobStatus.CANCELLED, "cancelled while running")
                    next_check = time.monotonic() + config.heartbeat_seconds
                except Exception as error:  # noqa: BLE001 - retried; the watchdog stops the attempt before the lease lapses
                    last_error = error
                    traceback.print_exc()
                    next_check = time.monotonic() + min(1.0, margin)
        finally:
            watchdog.close()
        if watchdog.fired:
            cause = f"{type(last_error).__name__}: {str(last_error).splitlines()[0]}" if last_error else "the database did not answer"
            raise SupervisionLost(f"no lease renewal succeeded for {watchdog.fired_at - watchdog.renewed_at:.1f} s ({cause}); its processes were "
                                  f"stopped {margin:.1f} s before the {config.lease_seconds:g} s lease would lapse")
        if process.returncode == EXIT_FENCED:
            return None
        return (JobStatus.SUCCEEDED, None) if process.returncode == EXIT_OK else (JobStatus.FAILED, explain_exit(process.returncode, claimed.run_dir))

    def _record(self, action: Callable[[], object]) -> None:
        """Write the outcome, retrying a database that is briefly away (a restart) for up to one lease."""
        deadline = time.monotonic() + self.config.lease_seconds
        while True:
            try:
                action()
                return
            except Exception:  # noqa: BLE001 - retried; after the deadline the lease lapses and a reaper decides
                if time.monotonic() >= deadline or self.stopping.is_set():
                    raise
                traceback.print_exc()
                time.sleep(1.0)

    def _run(self, claimed: ClaimedJob, leased_at: float) -> None:
        process = self._spawn(claimed)
        self.current = process
        try:
            outcome = self._supervise(claimed, process, leased_at)
        except BaseException as error:
            self._stop_child(process, 0)  # never move on while any process of the job lives
            self._give_back(claimed, f"its worker lost contact with the queue ({error}); requeued to resume from the last checkpoint")
            raise
        finally:
            self.current = None
        try:  # the leader has exited: no process of its group (a rank it left behind) outlives the attempt
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if outcome is None:
            forget_job_token(claimed.id)
            return
        status, error = outcome
        reason = requeue_reason(process.returncode, claimed.attempt, claimed.max_attempts) if status is JobStatus.FAILED else None
        if reason is not None:
            # Killed from outside (the OOM killer, an operator, a host shutting down), cut off from the database, or kept out of
            # the run folder by an earlier attempt: resume it, and fail it only once its attempts run out.
            self._record(lambda: requeue_job(claimed.id, claimed.worker_id, claimed.attempt, reason))
            return
        tail = log_tail(claimed.run_dir / LOG_FILE)
        self._record(lambda: finish_job(claimed.id, claimed.worker_id, claimed.attempt, status, error=error, log_tail=tail))
        forget_job_token(claimed.id)


STOP_DEADLINE_SECONDS = 7.0
"""After SIGTERM a worker exits within this long even if the database hangs (the busy timeout is 30 s): it kills its job's group."""


def run_worker(config: WorkerConfig | None = None, stop_deadline_seconds: float = STOP_DEADLINE_SECONDS) -> None:
    """Run one worker in this process until SIGTERM or Ctrl-C (or, under ``worker --gpus``, until its parent dies).

    The worker loop runs in a thread so that the main thread always handles the signal at once, even while the loop
    waits on a locked or unreachable database; if the loop has not wound down ``stop_deadline_seconds`` later, the job's
    process group is killed and the process exits (the job's lease lapses and a reaper requeues it)."""
    worker = Worker(config)
    stop_requested = threading.Event()

    def request_stop(*_args: object) -> None:
        worker.stop()
        stop_requested.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    if os.environ.get(PARENT_PID_ENV):  # started by run_gpu_workers: stop (gracefully) when it dies
        die_with_parent(signal.SIGTERM)
    loop = threading.Thread(target=worker.run_forever, name="adapta-worker", daemon=True)
    loop.start()
    while loop.is_alive() and not stop_requested.wait(0.2):
        pass
    loop.join(timeout=stop_deadline_seconds)
    if loop.is_alive():
        process = worker.current
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        print(f"worker {worker.config.worker_id}: still busy {stop_deadline_seconds:.0f} s after the stop request (the database "
              "did not answer); exiting now, a reaper requeues its job when the lease lapses", file=sys.stderr, flush=True)
        os._exit(0)


def run_gpu_workers(gpus: list[str], base: WorkerConfig, stop_seconds: float = STOP_DEADLINE_SECONDS + 1.5) -> int:
    """One worker process per GPU id, each seeing only its GPU; forwards SIGTERM and has them all gone within ``stop_seconds``."""
    processes: list[subprocess.Popen] = []
    stopping = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    def start(gpu: str) -> subprocess.Popen:
        argv = [sys.executable, str(PROJECT_ROOT / "launch.py"), "worker", "--worker-id", f"{base.worker_id}:gpu{gpu}",
                "--heartbeat", str(base.heartbeat_seconds), "--lease", str(base.lease_seconds)]
        return subprocess.Popen(argv, env={**os.environ, "CUDA_VISIBLE_DEVICES": gpu, PARENT_PID_ENV: str(os.getpid())},
                                preexec_fn=dies_with_this_process(signal.SIGTERM))  # a sub-worker stops gracefully when this one dies

    signal.signal(signal.SIGTERM, forward)  # before the first worker starts: a SIGTERM from now on reaches every worker
    signal.signal(signal.SIGINT, forward)
    for gpu in gpus:
        if not stopping.is_set():
            processes.append(start(gpu))
    while not stopping.wait(0.5):
        for index, process in enumerate(processes):
            if process.poll() is not None and process.returncode < 0:  # killed (not a clean exit): its GPU gets a worker again
                print(f"worker for GPU {gpus[index]} died from signal {-process.returncode}; starting it again", file=sys.stderr)
                processes[index] = start(gpus[index])
        if all(process.poll() is not None for process in processes):
            break
    deadline = time.monotonic() + stop_seconds
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()  # its training child dies with it; the job's lease lapses and it is requeued
            process.wait()
    codes = [process.returncode for process in processes]
    stopped = {0, -signal.SIGTERM, -signal.SIGINT} | ({-signal.SIGKILL} if stopping.is_set() else set())
    failed = [code for code in codes if code not in stopped]
    return 0 if not failed else max(failed, key=abs)


def start_background_worker(config: WorkerConfig | None = None) -> Worker:
    """The embedded worker of ``python launch.py``: a supervising thread (training still runs in a child process)."""
    worker = Worker(config)
    thread = threading.Thread(target=worker.run_forever, name="adapta-worker", daemon=True)
    thread.start()
    return worker
