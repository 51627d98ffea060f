"""The training child process a worker starts for one claimed job (``python -m jobs.child``).

It re-reads and re-validates the job's spec from the database, trains through the same
:func:`jobs.run.execute_run` that ``launch.py train`` uses, and reports how it ended through its exit
code and, for errors a person can fix, one sentence in ``run_dir/error.txt``:

- 0: succeeded; 2: bad input (the sentence says what to fix); 3: out of memory; 1: an unexpected error
  (its traceback is in ``run_dir/train.log``).

Under ``accelerate launch`` every rank runs this module; only rank 0 writes metrics and outputs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT, EXIT_OUT_OF_MEMORY = 0, 1, 2, 3
ERROR_FILE = "error.txt"
OOM_MESSAGE = (
    "training ran out of memory; lower training.batch_size or training.max_length, enable training.gradient_checkpointing, "
    "or use lora / qlora instead of full fine-tuning"
)


def is_main_process() -> bool:
    """True outside distributed runs and on rank 0 of a distributed one."""
    return int(os.environ.get("RANK", "0")) == 0


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the worker) dies, so no orphan keeps training."""
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _write_error(run_dir: Path, message: str) -> None:
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ERROR_FILE).write_text(message.strip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run one claimed job attempt; see the module docstring for the exit codes."""
    parser = argparse.ArgumentParser(prog="python -m jobs.child")
    parser.add_argument("--job-id", type=int, required=True)
    parser.add_argument("--attempt", type=int, required=True)
    parser.add_argument("--worker-id", required=True)
    args = parser.parse_args(argv)
    die_with_parent()
    # Library deprecation notices (e.g. gradient -> activation checkpointing renames) would bury the log a person reads.
    warnings.filterwarnings("ignore", category=FutureWarning)

    from jobs.errors import AdaptaError
    from jobs.queue import get_job
    from jobs.run import execute_run
    from jobs.spec import JobSpec, parse_spec

    job = get_job(args.job_id)
    run_dir = Path(job.run_dir)
    if is_main_process():
        devices = os.environ.get("CUDA_VISIBLE_DEVICES", "all")
        print(f"adapta child: job {args.job_id} attempt {args.attempt} worker {args.worker_id} CUDA_VISIBLE_DEVICES={devices}", flush=True)
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
        if "out of memory" in str(error).lower():
            _write_error(run_dir, OOM_MESSAGE)
            return EXIT_OUT_OF_MEMORY
        traceback.print_exc()
        _write_error(run_dir, f"training failed with an unexpected {type(error).__name__}: {error}")
        return EXIT_UNEXPECTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
