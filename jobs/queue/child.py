"""The training child process a worker starts for one claimed job (``python -m jobs.queue.child``).

It re-reads and re-validates the job's spec from the database, trains through the same
:func:`jobs.queue.run.execute_run` that ``launch.py train`` uses, and reports how it ended through its exit
code and, for errors a person can fix, one sentence in ``run_dir/error.txt``:

- 0: succeeded; 2: bad input (the sentence says what to fix); 3: out of memory; 1: an unexpected error
  (its traceback is in ``run_dir/train.log``); 4: an earlier attempt of the job still holds its run folder (the worker
  requeues the job while attempts remain);
  5: this attempt no longer holds the job's lease (it was reclaimed before the child started); 6: the database was
  unreachable (restarting, connection dropped): the worker requeues the job to resume from its last checkpoint.
  (These codes, the error file and the environment names the worker passes are in :mod:`jobs.queue.child_contract`.)

A multi-process job is started as ``python -m jobs.queue.child launch ACCELERATE_ARGS -m jobs.queue.child --job-id ...``:
this process runs ``accelerate launch`` in-process, with its ranks kept in the worker-made process group
of the job (torch's launcher would give each rank a session of its own, out of reach of the group kill).
Every process of a job dies with its parent (``PR_SET_PDEATHSIG``): the child or the launcher with the
worker, each rank with the launcher. Only one attempt of a job runs at a time: the child (or launcher)
holds an exclusive lock on ``run_dir/attempt.lock`` for as long as it lives, and checks its lease before work.
The kernel frees that lock when the last process holding the file open exits, so a dead attempt holds nothing; a
process an earlier attempt left behind that still holds it (a forked data loader, a rank outside the group) is found
through ``/proc`` and SIGKILLed by the attempt that holds the lease now (:func:`stop_stale_lock_holders`).
Only rank 0 writes metrics and outputs.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import InterfaceError, OperationalError

from jobs.errors import AdaptaError
from jobs.queue.child_contract import (
    ERROR_FILE,
    EXIT_BAD_INPUT,
    EXIT_BUSY,
    EXIT_DATABASE,
    EXIT_FENCED,
    EXIT_OK,
    EXIT_OUT_OF_MEMORY,
    EXIT_UNEXPECTED,
    LAUNCH_COMMAND,
    LOCK_HELD_ENV,
    OOM_MESSAGE,
    PARENT_PID_ENV,
    die_with_parent,
    dies_with_this_process,
    job_attempt_of,
)
from jobs.queue.leases import holds_lease
from jobs.queue.run import execute_run
from jobs.queue.submit import get_job
from jobs.spec import JobSpec, parse_spec

ATTEMPT_LOCK_FILE = "attempt.lock"
ATTEMPT_LOCK_WAIT_SECONDS = 30.0
STALE_HOLDER_CHECK_SECONDS = 2.0
"""While the lock is busy, how often the waiting attempt looks for processes of earlier attempts holding it."""


def is_main_process() -> bool:
    """True outside distributed runs and on rank 0 of a distributed one."""
    return int(os.environ.get("RANK", "0")) == 0


def lock_holders(lock_file: Path) -> dict[int, str]:
    """pid -> command line of every other process on this host that has ``lock_file`` open (those that can hold its lock)."""
    try:
        target = os.stat(lock_file)
    except OSError:
        return {}
    holders: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for descriptor in (entry / "fd").iterdir():
                opened = os.stat(descriptor)
                if (opened.st_dev, opened.st_ino) == (target.st_dev, target.st_ino):
                    holders[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    break
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return holders


def stop_stale_lock_holders(run_dir: Path, job_id: int, attempt: int) -> list[int]:
    """SIGKILL the processes of earlier attempts of this job that still hold its run-folder lock; returns their pids.

    Only the attempt that holds the job's lease calls it: every earlier attempt has lost its lease and must not run."""
    stale = [pid for pid, command in lock_holders(run_dir / ATTEMPT_LOCK_FILE).items()
             if (earlier := job_attempt_of(command, job_id)) is not None and earlier < attempt]
    for pid in stale:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if stale:
        print(f"adapta child: stopped {len(stale)} process(es) of an earlier attempt of job {job_id} that still held its run folder", flush=True)
    return stale


def hold_attempt_lock(run_dir: Path, wait_seconds: float = ATTEMPT_LOCK_WAIT_SECONDS,
                      free_stale: Callable[[], object] | None = None) -> int | None:
    """Take the job's exclusive run-folder lock (kept until this process ends, however it ends); None if still held after the wait.

    While it waits, ``free_stale`` (if given) is called every :data:`STALE_HOLDER_CHECK_SECONDS` to stop holders that must not run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(run_dir / ATTEMPT_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_seconds
    next_check = time.monotonic()
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descriptor
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(descriptor)
                return None
            if free_stale is not None and time.monotonic() >= next_check:
                free_stale()
                next_check = time.monotonic() + STALE_HOLDER_CHECK_SECONDS
            time.sleep(0.2)


def _keep_ranks_in_this_process_group() -> None:
    """Make torch's elastic launcher start ranks without a session of their own, so the job's group kill reaches them."""
    from torch.distributed.elastic.multiprocessing.subprocess_handler import subprocess_handler

    def _popen(self, args: tuple, env: dict[str, str]) -> subprocess.Popen:  # noqa: ANN001 - torch's SubprocessHandler
        return subprocess.Popen(args=args, env=env, stdout=self._stdout, stderr=self._stderr,
                                preexec_fn=dies_with_this_process())  # each rank dies with this launcher, even while it imports

    def close(self, death_sig: signal.Signals | None = None) -> None:  # noqa: ANN001 - torch's killpg(rank) would hit the job's group
        if self.proc.poll() is None:
            self.proc.send_signal(death_sig or signal.SIGTERM)
        for stream in (self._stdout, self._stderr):
            if stream:
                stream.close()

    subprocess_handler.SubprocessHandler._popen = _popen
    subprocess_handler.SubprocessHandler.close = close


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs.queue.child")
    parser.add_argument("--job-id", type=int, required=True)
    parser.add_argument("--attempt", type=int, required=True)
    parser.add_argument("--worker-id", required=True)
    return parser


def _start_attempt(args: argparse.Namespace, run_dir: Path) -> int | None:
    """Lock the run folder and confirm the lease: None to go on, else the exit code (the lock stays held until exit)."""
    if os.environ.get(LOCK_HELD_ENV) != "1":
        def free_stale() -> None:  # only an attempt that holds the lease may stop an earlier one
            if holds_lease(args.job_id, args.worker_id, args.attempt):
                stop_stale_lock_holders(run_dir, args.job_id, args.attempt)

        if hold_attempt_lock(run_dir, free_stale=free_stale) is None:
            _write_error(run_dir, f"an earlier attempt of job {args.job_id} was still running after {ATTEMPT_LOCK_WAIT_SECONDS:.0f} s; "
                                  "retry the job once it has stopped")
            return EXIT_BUSY
        os.environ[LOCK_HELD_ENV] = "1"
    if not holds_lease(args.job_id, args.worker_id, args.attempt):
        print(f"adapta child: attempt {args.attempt} of job {args.job_id} no longer holds its lease; not starting", flush=True)
        return EXIT_FENCED
    return None


def launch_ranks(accelerate_args: list[str]) -> int:
    """``python -m jobs.queue.child launch ...``: hold the job's lock, then run ``accelerate launch`` here, ranks in this process group."""
    args = _parser().parse_args(accelerate_args[accelerate_args.index("jobs.queue.child") + 1:])
    code = _start_attempt(args, Path(get_job(args.job_id).run_dir))
    if code is not None:
        return code
    os.environ[PARENT_PID_ENV] = str(os.getpid())  # each rank dies with this launcher
    _keep_ranks_in_this_process_group()
    from accelerate.commands.launch import launch_command, launch_command_parser

    try:
        launch_command(launch_command_parser().parse_args(accelerate_args))
    except subprocess.CalledProcessError as error:
        return error.returncode if error.returncode > 0 else EXIT_UNEXPECTED
    except Exception as error:  # noqa: BLE001 - a rank failed: rank 0 wrote the sentence to error.txt, the traceback goes to the log
        traceback.print_exc()
        codes = [failure.exitcode or 0 for failure in getattr(error, "failures", {}).values()]
        if EXIT_DATABASE in codes:
            return EXIT_DATABASE
        killed = [-code for code in codes if code < 0]
        if killed:  # a rank was killed by a signal: end the same way, so the worker sees a killed job rather than a failed one
            if killed[0] not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(killed[0], signal.SIG_DFL)
            os.kill(os.getpid(), killed[0])
        return EXIT_UNEXPECTED
    return EXIT_OK


def _write_error(run_dir: Path, message: str) -> None:
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ERROR_FILE).write_text(message.strip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run one claimed job attempt (or, after ``launch``, its ranks); see the module docstring for the exit codes."""
    argv = sys.argv[1:] if argv is None else argv
    die_with_parent()
    try:
        if argv[:1] == [LAUNCH_COMMAND]:
            return launch_ranks(argv[1:])
        return run_attempt(_parser().parse_args(argv))
    except (OperationalError, InterfaceError):  # the database restarting or unreachable: not the job's fault
        traceback.print_exc()
        return EXIT_DATABASE


def run_attempt(args: argparse.Namespace) -> int:
    """Train the job's spec in this process (one rank of it under ``accelerate``); returns the exit code."""
    # Library deprecation notices (e.g. gradient -> activation checkpointing renames) would bury the log a person reads.
    warnings.filterwarnings("ignore", category=FutureWarning)
    job = get_job(args.job_id)
    run_dir = Path(job.run_dir)
    if is_main_process():
        devices = os.environ.get("CUDA_VISIBLE_DEVICES", "all")
        print(f"adapta child: job {args.job_id} attempt {args.attempt} worker {args.worker_id} CUDA_VISIBLE_DEVICES={devices}", flush=True)
    code = _start_attempt(args, run_dir)
    if code is not None:
        return code
    if is_main_process():
        (run_dir / ERROR_FILE).unlink(missing_ok=True)
    try:
        spec = parse_spec(JobSpec.model_validate_json(job.spec_json).model_dump(mode="json"))
        execute_run(spec, run_dir, job_id=args.job_id, attempt=args.attempt, worker_id=args.worker_id, show_progress=False)
    except AdaptaError as error:
        _write_error(run_dir, str(error))
        return EXIT_BAD_INPUT
    except MemoryError:
        _write_error(run_dir, OOM_MESSAGE)
        return EXIT_OUT_OF_MEMORY
    except Exception as error:  # noqa: BLE001 - the child's last line of defence: classify, log, exit
        if isinstance(error, (OperationalError, InterfaceError)):
            raise
        if "out of memory" in str(error).lower():
            _write_error(run_dir, OOM_MESSAGE)
            return EXIT_OUT_OF_MEMORY
        traceback.print_exc()
        _write_error(run_dir, f"training failed with an unexpected {type(error).__name__}: {error}")
        return EXIT_UNEXPECTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
